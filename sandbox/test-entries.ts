import type { JournalEntry } from './accounting-api';

/** A valid journal entry for the accounting stand-in's tests, with `overrides` (also invalid ones, or fields it does not know). */
export function journalEntry(
  reference: string,
  overrides: Partial<Record<keyof JournalEntry | 'extra', unknown>> = {},
): Record<string, unknown> {
  return {
    reference,
    date: '2026-11-02',
    dueDate: '2026-12-02',
    currency: 'EUR',
    customerId: 'c0a8012e-0000-4000-8000-000000000001',
    customerName: 'Globex GmbH',
    netAmount: '1200.00',
    taxAmount: '228.00',
    grossAmount: '1428.00',
    account: '8400',
    description: `Invoice ${reference} for Globex GmbH`,
    lineCount: 2,
    ...overrides,
  };
}
