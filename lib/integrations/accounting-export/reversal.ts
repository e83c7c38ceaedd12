import { invoiceExternalId, type DeletedInvoice, type ExportWatermark, type InvoiceRecord, type InvoiceVersion } from './source';

/** What the export sends for a voided or deleted invoice: the accounting API's reversal entry (sandbox ZReversalEntry). */
export interface JournalReversal {
  /** The invoice id: the record part of its bookings' externalIds, whose bookings the API undoes. */
  reverses: string;
  /** This version of the invoice (the void, or the deletion): the API applies it at most once. */
  externalId: string;
  /** The accounting date of the reversal: the day the invoice was voided (its updated_at, UTC) or deleted. */
  date: string;
  description: string;
}

/**
 * The reversal of a voided invoice, in a fixed shape, not through the configurable field mapping:
 * a reversal undoes what the ledger booked, and the ledger knows what that was (every version of
 * the invoice it booked, under whatever mapping was in force then). Mapping the void version
 * instead would send today's amounts and accounts, which need not match the bookings it undoes,
 * and a mapping that refuses the voided invoice (its lines deleted, say) would leave it booked for
 * ever. So the reversal names the invoice, the day and its own identity: nothing to map. A
 * deleted invoice (nothing left of it but its id and number) is reversed the same way.
 */
export function journalReversal(
  record: InvoiceRecord | DeletedInvoice,
  position: ExportWatermark,
  version: InvoiceVersion,
): JournalReversal {
  return {
    reverses: record.id,
    externalId: invoiceExternalId(record.id, version),
    date: position.updatedAt.slice(0, 10),
    description:
      record.status === 'deleted'
        ? `Deletion of invoice ${record.number}`
        : record.status === 'void'
          ? `Void of invoice ${record.number}`
          : `Invoice ${record.number} taken back to ${record.status}`,
  };
}
