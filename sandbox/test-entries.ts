import { afterAll, beforeAll, beforeEach } from 'vitest';
import type { BookingResult, BookingSummary, JournalEntry } from './accounting-api';
import { startStandIns, type StandIns } from './stand-ins';

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

/** A journal entry as the stand-in lists it (`/_admin/accounting/entries`). */
export interface ListedEntry {
  id: string;
  externalId: string | null;
  reversedBy: string | null;
  replaced: string[];
}

/**
 * The accounting stand-in for a test file, over real HTTP as the export speaks to it: started once,
 * reset with a fresh bearer token before each test, closed after. `post` sends a batch (with an
 * Idempotency-Key when given); `summary` and `entries` read the ledger as its admin endpoints say it.
 */
export function accountingStandIn() {
  let sandbox: StandIns;
  let token: string;
  beforeAll(async () => {
    sandbox = await startStandIns({ port: 0, smtpPort: 0, seed: 1, faults: {} });
  });
  beforeEach(async () => {
    sandbox.state.reset();
    const res = await fetch(`${sandbox.url}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials&client_id=accounting-export&client_secret=dev-accounting-secret',
    });
    token = ((await res.json()) as { access_token: string }).access_token;
  });
  afterAll(async () => {
    await sandbox?.close();
  });
  return {
    /** The running stand-ins (after beforeAll). */
    get sandbox(): StandIns {
      return sandbox;
    },
    async post(entries: unknown[], key?: string): Promise<{ status: number; body: BookingResult }> {
      const headers: Record<string, string> = { 'content-type': 'application/json', authorization: `Bearer ${token}` };
      if (key) headers['idempotency-key'] = key;
      const res = await fetch(`${sandbox.url}/accounting/v1/journal-entries`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ entries }),
      });
      return { status: res.status, body: (await res.json()) as BookingResult };
    },
    async summary(): Promise<BookingSummary> {
      return (await (await fetch(`${sandbox.url}/_admin/accounting/bookings`)).json()) as BookingSummary;
    },
    async entries(): Promise<ListedEntry[]> {
      return ((await (await fetch(`${sandbox.url}/_admin/accounting/entries`)).json()) as { data: ListedEntry[] }).data;
    },
  };
}
