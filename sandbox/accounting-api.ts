import { createHash } from 'node:crypto';
import { z } from 'zod';
import { fail, fieldErrors, json, methodNotAllowed, notFound, readJson, type FieldError, type Reply, type SandboxRequest } from './http';
import type { TokenStore } from './oauth-server';

/**
 * The accounting system's stand-in: books journal entries in batches behind a bearer token.
 * Each entry is validated on its own: valid ones are booked, invalid ones come back with the field
 * and the reason (422 only when none is valid).
 *
 * Two levels of idempotency, as real accounting APIs have:
 * - per entry, by `externalId` (the client's reference for one version of one record): an entry
 *   whose externalId is already booked is answered as booked with the SAME journal id and
 *   `replay: true`, and not booked again, whatever batch it arrives in;
 * - per request, by `Idempotency-Key`: a replay returns the stored response with
 *   `Idempotent-Replay: true` (a key reused for other content is refused with 409).
 * An entry without an externalId sent twice under two keys IS booked twice, as a real ledger
 * would, so tests can detect double booking. Deliveries (entries received) and bookings are
 * counted per externalId.
 *
 * An entry may also be a reversal (ZReversalEntry, for a voided invoice): it undoes every booking
 * of one record not undone yet, at most once per its own externalId; the summary counts them.
 * A journal entry naming `replaces` (a new version of a record booked before, an edited invoice)
 * undoes that record's open bookings in the same step it is booked: a ledger holds one open booking
 * per record, the latest version sent. Refused, it changes nothing; replayed, it undoes nothing again.
 */

export const MAX_ENTRIES_PER_REQUEST = 500;

const DECIMAL = /^-?\d+\.\d{2}$/;
const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;

function isCalendarDate(value: string): boolean {
  if (!ISO_DATE.test(value)) return false;
  const d = new Date(`${value}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === value;
}

/** A required text field whose type error says whether it was missing or of the wrong type. */
const text = (field: string, what = 'text') =>
  z.string({ error: (issue) => (issue.input === undefined ? `${field} is required` : `${field} must be ${what}`) });

const isoDate = (field: string) =>
  text(field, 'a date as text, YYYY-MM-DD').refine(isCalendarDate, {
    message: `${field} must be a real calendar date in the form YYYY-MM-DD, e.g. 2026-11-30`,
  });

const amount = (field: string) =>
  text(field, 'a decimal amount as text with 2 decimals, e.g. "1200.50"').regex(
    DECIMAL,
    `${field} must have exactly 2 decimals, e.g. "1200.50" (no thousands separators)`,
  );

function cents(value: string): bigint {
  const negative = value.startsWith('-');
  const [whole, fraction] = value.replace('-', '').split('.');
  const c = BigInt(whole) * 100n + BigInt(fraction);
  return negative ? -c : c;
}

function formatCents(value: bigint): string {
  const negative = value < 0n;
  const abs = negative ? -value : value;
  return `${negative ? '-' : ''}${abs / 100n}.${String(abs % 100n).padStart(2, '0')}`;
}

/** One journal entry as the accounting API accepts it. Unknown fields are refused. */
export const ZJournalEntry = z
  .strictObject({
    reference: text('reference').min(1, 'reference must not be empty').max(64, 'reference must be at most 64 characters'),
    date: isoDate('date'),
    dueDate: isoDate('dueDate'),
    currency: text('currency').regex(/^[A-Z]{3}$/, 'currency must be a 3-letter ISO 4217 code in capitals, e.g. EUR'),
    customerId: text('customerId').min(1, 'customerId must not be empty').max(100, 'customerId must be at most 100 characters'),
    customerName: text('customerName').min(1, 'customerName must not be empty').max(200, 'customerName must be at most 200 characters'),
    netAmount: amount('netAmount'),
    taxAmount: amount('taxAmount'),
    grossAmount: amount('grossAmount'),
    account: text('account').regex(/^\d{4}$/, 'account must be a 4-digit ledger account, e.g. "8400"'),
    description: text('description').max(500, 'description must be at most 500 characters'),
    lineCount: z
      .number({ error: (issue) => (issue.input === undefined ? 'lineCount is required' : 'lineCount must be a number') })
      .int('lineCount must be a whole number')
      .min(1, 'lineCount must be at least 1'),
    /** The client's identity of this entry (e.g. `<record id>@<version>`): booked at most once. */
    externalId: text('externalId')
      .regex(/^[\x21-\x7e]{1,128}$/, 'externalId must be 1 to 128 visible ASCII characters without spaces, e.g. "<invoice id>@<version>"')
      .optional(),
    /**
     * The record this entry is the new version of (the record part of its externalId): its open
     * bookings are undone when this one is booked, in the same step. Needs an externalId.
     */
    replaces: text('replaces').optional(),
  })
  .superRefine((entry, ctx) => {
    if (entry.replaces !== undefined) {
      if (entry.externalId === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['replaces'],
          message: 'replaces needs an externalId "<record>@<version>": the ledger books each version once and undoes the earlier ones',
        });
      } else if (typeof entry.externalId === 'string' && recordOf(entry.externalId) !== entry.replaces) {
        ctx.addIssue({
          code: 'custom',
          path: ['replaces'],
          message: `replaces must be the record part of externalId ("${recordOf(entry.externalId)}"): an entry replaces only earlier versions of its own record`,
        });
      }
    }
    // zod runs this even when an amount failed its own format check: compare only well-formed amounts.
    if (![entry.netAmount, entry.taxAmount, entry.grossAmount].every((a) => typeof a === 'string' && DECIMAL.test(a))) return;
    const expected = cents(entry.netAmount) + cents(entry.taxAmount);
    if (cents(entry.grossAmount) !== expected) {
      ctx.addIssue({
        code: 'custom',
        path: ['grossAmount'],
        message: `grossAmount ${entry.grossAmount} must equal netAmount + taxAmount (${formatCents(expected)})`,
      });
    }
  });

export type JournalEntry = z.infer<typeof ZJournalEntry>;

/**
 * A reversal: undoes every booking of one source record that is not reversed yet (a voided
 * invoice). `reverses` is the record's part of those bookings' externalIds (`<record>@<version>`);
 * the ledger finds them itself, so the client need not know which versions it booked. The
 * reversal's own externalId (e.g. `<record>@<version of the void>`) is applied at most once: sent
 * again, in any batch, it is answered with the same reversal and `replay: true`. A record with no
 * booking is recorded as nothing to reverse (and books nothing). An entry holding `reverses` is
 * read as a reversal; unknown fields are refused.
 */
export const ZReversalEntry = z.strictObject({
  reverses: text('reverses').regex(
    /^[\x21-\x3f\x41-\x7e]{1,100}$/,
    'reverses must be the record part of the bookings\' externalIds (1 to 100 visible ASCII characters, no "@"), e.g. "<invoice id>"',
  ),
  externalId: text('externalId').regex(
    /^[\x21-\x7e]{1,128}$/,
    'externalId must be 1 to 128 visible ASCII characters without spaces, e.g. "<invoice id>@<version>"',
  ),
  date: isoDate('date'),
  description: text('description').max(500, 'description must be at most 500 characters').optional(),
});

export type ReversalEntry = z.infer<typeof ZReversalEntry>;

/** The record part of an externalId `<record>@<version>` (the whole id when it has no "@"). */
function recordOf(externalId: string): string {
  const at = externalId.lastIndexOf('@');
  return at < 0 ? externalId : externalId.slice(0, at);
}

export interface Booking {
  id: string;
  reference: string;
  externalId: string | null;
  entry: JournalEntry;
  idempotencyKey: string | null;
  clientId: string;
  bookedAt: string;
  /** What undid this booking, if any: a reversal (`RV-…`) or the booking of a newer version that replaced it (`JE-…`). */
  reversedBy: string | null;
  /** The bookings of earlier versions this one undid (`replaces`); empty when it replaced none. */
  replaced: string[];
}

export interface Reversal {
  id: string;
  externalId: string;
  reverses: string;
  /** The first reversed booking's reference (null when nothing was reversed). */
  reference: string | null;
  entry: ReversalEntry;
  /** The bookings it undid (empty: the record had nothing booked and not reversed). */
  reversedBookings: string[];
  idempotencyKey: string | null;
  clientId: string;
  reversedAt: string;
}

export interface BookingResult {
  /**
   * `replay: true`: the entry's externalId was already booked; `id` is that booking's. `replaced`:
   * the bookings of earlier versions this one undid (`replaces`; absent when none, and in a replay).
   */
  booked: { reference: string; id: string; externalId?: string; replay?: true; replaced?: string[] }[];
  /** Reversals applied; `reference`: the first reversed booking's (null when nothing was reversed). */
  reversed: { reference: string | null; id: string; externalId: string; reverses: string; reversedBookings: string[]; replay?: true }[];
  rejected: { index: number; reference: string | null; errors: FieldError[] }[];
}

const ZEnvelope = z.strictObject({
  entries: z
    .array(z.unknown(), { error: 'entries must be an array of journal entries' })
    .min(1, 'entries must hold at least one journal entry')
    .max(MAX_ENTRIES_PER_REQUEST, `entries must hold at most ${MAX_ENTRIES_PER_REQUEST} journal entries per request: split the batch`),
});

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

export interface BookingSummary {
  /** Bookings made (journal entries created). */
  total: number;
  distinctReferences: number;
  /** Requests answered from the Idempotency-Key store. */
  replays: number;
  /** Entries answered as already booked by their externalId (in requests that were processed). */
  entryReplays: number;
  /** Bookings per reference (a record booked in two versions counts 2). */
  byReference: Record<string, number>;
  /** Entries received per externalId, replays included (requests answered from the key store excluded). */
  deliveriesByExternalId: Record<string, number>;
  distinctExternalIds: number;
  /** Bookings that carried no externalId (nothing deduplicates those). */
  withoutExternalId: number;
  /**
   * The same identity booked more than once: the externalId when the entry has one, else the
   * reference. Always empty for clients that send externalIds (the stand-in refuses to double-book them).
   */
  duplicates: { reference: string; externalId: string | null; count: number }[];
  reversals: {
    /** Reversals applied (each externalId once). */
    total: number;
    /** Bookings undone by them (a booking is undone at most once). */
    bookingsReversed: number;
    /** Reversals of a record that had nothing booked and not reversed. */
    nothingToReverse: number;
    /** Reversal entries answered as already applied by their externalId. */
    replays: number;
    /** Reversals applied per record (`reverses`). */
    byRecord: Record<string, number>;
    /** The bookings each reversal undid, by the reversal's externalId. */
    byExternalId: Record<string, string[]>;
  };
  replacements: {
    /** Bookings that undid at least one booking of an earlier version of their record (`replaces`). */
    total: number;
    /** Bookings undone by them. */
    bookingsReplaced: number;
  };
  /**
   * Records (the part of externalIds before the "@") with more than one booking open, neither
   * reversed nor replaced: the ledger counts them more than once. Empty for a client that sends
   * `replaces` with every new version and reversals for what it removes.
   */
  openTwice: { record: string; bookings: string[] }[];
}

export class AccountingLedger {
  readonly bookings: Booking[] = [];
  readonly #countByReference = new Map<string, number>();
  readonly #byExternalId = new Map<string, Booking>();
  readonly #deliveriesByExternalId = new Map<string, number>();
  /** Bookings without externalId per reference (double booking is possible only for those). */
  readonly #plainByReference = new Map<string, number>();
  readonly #idempotency = new Map<string, { fingerprint: string; reply: Reply }>();
  readonly reversals: Reversal[] = [];
  readonly #reversalByExternalId = new Map<string, Reversal>();
  /** Bookings with an externalId not reversed yet, per record (the part before the "@"). */
  readonly #openByRecord = new Map<string, Booking[]>();
  #sequence = 0;
  #reversalSequence = 0;
  /** Reversal entries answered as already applied by their externalId. */
  reversalReplays = 0;
  /** Requests answered from the idempotency store instead of booking. */
  replays = 0;
  /** Entries answered as already booked by their externalId. */
  entryReplays = 0;

  /** Validates each entry, books the valid ones, stores the reply under the key (if any). */
  submit(params: { entries: unknown[]; idempotencyKey: string | null; clientId: string; now?: Date }): Reply {
    const fingerprint = createHash('sha256').update(JSON.stringify(params.entries)).digest('hex');
    if (params.idempotencyKey !== null) {
      const stored = this.#idempotency.get(params.idempotencyKey);
      if (stored) {
        if (stored.fingerprint !== fingerprint) {
          fail(
            409,
            'idempotency_key_reused',
            `Idempotency-Key '${params.idempotencyKey}' was already used for a different batch; use a new key for new content`,
          );
        }
        this.replays++;
        return { ...stored.reply, headers: { ...stored.reply.headers, 'idempotent-replay': 'true' } };
      }
    }
    const result: BookingResult = { booked: [], reversed: [], rejected: [] };
    const valid: ({ index: number; entry: JournalEntry; reversal?: never } | { index: number; reversal: ReversalEntry; entry?: never })[] =
      [];
    params.entries.forEach((raw, index) => {
      const isReversal = raw !== null && typeof raw === 'object' && 'reverses' in raw;
      const parsed = isReversal ? ZReversalEntry.safeParse(raw) : ZJournalEntry.safeParse(raw);
      if (parsed.success) {
        valid.push(isReversal ? { index, reversal: parsed.data as ReversalEntry } : { index, entry: parsed.data as JournalEntry });
      } else {
        const reference =
          raw && typeof raw === 'object' && typeof (raw as { reference?: unknown }).reference === 'string'
            ? (raw as { reference: string }).reference
            : null;
        result.rejected.push({ index, reference, errors: fieldErrors(parsed.error, '', '(entry)') });
      }
    });
    const bookedAt = (params.now ?? new Date()).toISOString();
    for (const { entry, reversal } of valid) {
      if (reversal) {
        result.reversed.push(this.#reverse(reversal, { idempotencyKey: params.idempotencyKey, clientId: params.clientId, at: bookedAt }));
        continue;
      }
      const externalId = entry.externalId ?? null;
      if (externalId !== null) {
        this.#deliveriesByExternalId.set(externalId, (this.#deliveriesByExternalId.get(externalId) ?? 0) + 1);
        const existing = this.#byExternalId.get(externalId);
        if (existing) {
          this.entryReplays++;
          result.booked.push({ reference: entry.reference, id: existing.id, externalId, replay: true });
          continue;
        }
      }
      const id = `JE-${String(++this.#sequence).padStart(7, '0')}`;
      const booking: Booking = {
        id,
        reference: entry.reference,
        externalId,
        entry,
        idempotencyKey: params.idempotencyKey,
        clientId: params.clientId,
        bookedAt,
        reversedBy: null,
        replaced: [],
      };
      this.bookings.push(booking);
      this.#countByReference.set(entry.reference, (this.#countByReference.get(entry.reference) ?? 0) + 1);
      if (externalId !== null) {
        this.#byExternalId.set(externalId, booking);
        const record = recordOf(externalId);
        // The schema holds `replaces` to the record of the externalId: the earlier versions' bookings are undone.
        const earlier = entry.replaces !== undefined ? (this.#openByRecord.get(record) ?? []) : [];
        for (const b of earlier) b.reversedBy = id;
        booking.replaced = earlier.map((b) => b.id);
        this.#openByRecord.set(record, [...(entry.replaces !== undefined ? [] : (this.#openByRecord.get(record) ?? [])), booking]);
        result.booked.push({
          reference: entry.reference,
          id,
          externalId,
          ...(booking.replaced.length ? { replaced: booking.replaced } : {}),
        });
      } else {
        this.#plainByReference.set(entry.reference, (this.#plainByReference.get(entry.reference) ?? 0) + 1);
        result.booked.push({ reference: entry.reference, id });
      }
    }
    const reply: Reply =
      valid.length > 0
        ? json(201, result)
        : json(422, {
            error: 'validation_failed',
            message: `None of the ${params.entries.length} journal entries is valid; nothing was booked (see rejected[].errors)`,
            ...result,
          });
    if (params.idempotencyKey !== null) this.#idempotency.set(params.idempotencyKey, { fingerprint, reply });
    return reply;
  }

  /** Applies a reversal once per externalId: undoes the record's bookings not reversed yet. */
  #reverse(
    entry: ReversalEntry,
    params: { idempotencyKey: string | null; clientId: string; at: string },
  ): BookingResult['reversed'][number] {
    this.#deliveriesByExternalId.set(entry.externalId, (this.#deliveriesByExternalId.get(entry.externalId) ?? 0) + 1);
    const answer = (r: Reversal) => ({
      reference: r.reference,
      id: r.id,
      externalId: r.externalId,
      reverses: r.reverses,
      reversedBookings: r.reversedBookings,
    });
    const existing = this.#reversalByExternalId.get(entry.externalId);
    if (existing) {
      this.reversalReplays++;
      return { ...answer(existing), replay: true };
    }
    const open = this.#openByRecord.get(entry.reverses) ?? [];
    this.#openByRecord.delete(entry.reverses);
    const reversal: Reversal = {
      id: `RV-${String(++this.#reversalSequence).padStart(7, '0')}`,
      externalId: entry.externalId,
      reverses: entry.reverses,
      reference: open[0]?.reference ?? null,
      entry,
      reversedBookings: open.map((b) => b.id),
      idempotencyKey: params.idempotencyKey,
      clientId: params.clientId,
      reversedAt: params.at,
    };
    for (const b of open) b.reversedBy = reversal.id;
    this.reversals.push(reversal);
    this.#reversalByExternalId.set(entry.externalId, reversal);
    return answer(reversal);
  }

  /** How many times `reference` was booked (more than 1 means double booking). */
  countFor(reference: string): number {
    return this.#countByReference.get(reference) ?? 0;
  }

  /** The booking of an externalId, if any. */
  bookingFor(externalId: string): Booking | undefined {
    return this.#byExternalId.get(externalId);
  }

  list(params: { reference?: string; externalId?: string; limit?: number } = {}): Booking[] {
    if (params.externalId !== undefined) return this.bookings.filter((b) => b.externalId === params.externalId);
    if (params.reference !== undefined) return this.bookings.filter((b) => b.reference === params.reference);
    return this.bookings.slice(-(params.limit ?? 100)).reverse();
  }

  summary(): BookingSummary {
    const reversalsByRecord: Record<string, number> = {};
    for (const r of this.reversals) reversalsByRecord[r.reverses] = (reversalsByRecord[r.reverses] ?? 0) + 1;
    const duplicates: BookingSummary['duplicates'] = [];
    for (const [reference, count] of this.#plainByReference) if (count > 1) duplicates.push({ reference, externalId: null, count });
    const replacing = this.bookings.filter((b) => b.replaced.length > 0);
    const openTwice = [...this.#openByRecord]
      .filter(([, open]) => open.length > 1)
      .map(([record, open]) => ({ record, bookings: open.map((b) => b.id) }));
    return {
      total: this.bookings.length,
      distinctReferences: this.#countByReference.size,
      replays: this.replays,
      entryReplays: this.entryReplays,
      byReference: Object.fromEntries(this.#countByReference),
      deliveriesByExternalId: Object.fromEntries(this.#deliveriesByExternalId),
      distinctExternalIds: this.#byExternalId.size,
      withoutExternalId: this.bookings.length - this.#byExternalId.size,
      duplicates,
      reversals: {
        total: this.reversals.length,
        bookingsReversed: this.reversals.reduce((n, r) => n + r.reversedBookings.length, 0),
        nothingToReverse: this.reversals.filter((r) => r.reversedBookings.length === 0).length,
        replays: this.reversalReplays,
        byRecord: reversalsByRecord,
        byExternalId: Object.fromEntries(this.reversals.map((r) => [r.externalId, r.reversedBookings])),
      },
      replacements: { total: replacing.length, bookingsReplaced: replacing.reduce((n, b) => n + b.replaced.length, 0) },
      openTwice,
    };
  }

  reset(): void {
    this.bookings.length = 0;
    this.#countByReference.clear();
    this.#byExternalId.clear();
    this.#deliveriesByExternalId.clear();
    this.#plainByReference.clear();
    this.entryReplays = 0;
    this.reversals.length = 0;
    this.#reversalByExternalId.clear();
    this.#openByRecord.clear();
    this.#reversalSequence = 0;
    this.reversalReplays = 0;
    this.#idempotency.clear();
    this.#sequence = 0;
    this.replays = 0;
  }
}

/** `/accounting/v1/...`: every route needs a bearer token from the token server. */
export function handleAccounting(req: SandboxRequest, deps: { ledger: AccountingLedger; tokens: TokenStore }): Reply {
  const [, version, resource, ...rest] = req.segments;
  if (version !== 'v1' || resource !== 'journal-entries' || rest.length > 0) notFound(req);
  const token = deps.tokens.require(req);
  if (req.method === 'POST') {
    const rawKey = req.headers['idempotency-key'];
    const idempotencyKey = typeof rawKey === 'string' ? rawKey : null;
    if (idempotencyKey !== null && !IDEMPOTENCY_KEY.test(idempotencyKey)) {
      fail(400, 'invalid_request', 'Idempotency-Key must be 1 to 255 visible ASCII characters without spaces');
    }
    const envelope = ZEnvelope.safeParse(readJson(req));
    if (!envelope.success) {
      const errors = fieldErrors(envelope.error);
      fail(400, 'invalid_request', `Invalid batch: ${errors[0].field}: ${errors[0].message}; send { "entries": [ ... ] }`, { errors });
    }
    return deps.ledger.submit({ entries: envelope.data.entries, idempotencyKey, clientId: token.clientId });
  }
  if (req.method === 'GET') {
    const reference = req.query.get('reference') ?? undefined;
    const externalId = req.query.get('externalId') ?? undefined;
    const limitText = req.query.get('limit');
    const limit = limitText === null ? 100 : Number(limitText);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
      fail(400, 'invalid_request', `limit must be a whole number from 1 to 1000 (got '${limitText}')`);
    const data = deps.ledger.list({ reference, externalId, limit });
    return json(200, { data, count: data.length, total: deps.ledger.bookings.length });
  }
  return methodNotAllowed(req, ['GET', 'POST']);
}
