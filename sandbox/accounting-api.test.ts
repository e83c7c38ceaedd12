import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MAX_ENTRIES_PER_REQUEST, ZJournalEntry, type BookingResult, type JournalEntry } from './accounting-api';
import { startStandIns, type StandIns } from './stand-ins';
import { journalEntry } from './test-entries';

let sandbox: StandIns;
let token: string;

const entry = journalEntry;

async function newToken(): Promise<string> {
  const res = await fetch(`${sandbox.url}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials&client_id=accounting-export&client_secret=dev-accounting-secret',
  });
  return ((await res.json()) as { access_token: string }).access_token;
}

function post(entries: unknown[], options: { key?: string; auth?: string | null } = {}) {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (options.auth !== null) headers.authorization = options.auth ?? `Bearer ${token}`;
  if (options.key) headers['idempotency-key'] = options.key;
  return fetch(`${sandbox.url}/accounting/v1/journal-entries`, { method: 'POST', headers, body: JSON.stringify({ entries }) });
}

beforeAll(async () => {
  sandbox = await startStandIns({ port: 0, smtpPort: 0, seed: 1, faults: {} });
});

beforeEach(async () => {
  sandbox.state.reset();
  token = await newToken();
});

afterAll(async () => {
  await sandbox.close();
});

describe('accounting API', () => {
  it('refuses a batch without a bearer token, or with an unknown one, with 401 invalid_token and books nothing', async () => {
    const none = await post([entry('INV-1')], { auth: null });
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer /);
    expect(((await none.json()) as { error: string }).error).toBe('invalid_token');
    const forged = await post([entry('INV-1')], { auth: 'Bearer sbx_forged' });
    expect(forged.status).toBe(401);
    expect(((await forged.json()) as { error_description: string }).error_description).toMatch(/unknown/);
    const list = await fetch(`${sandbox.url}/accounting/v1/journal-entries`);
    expect(list.status).toBe(401);
    expect(sandbox.state.ledger.bookings).toHaveLength(0);
  });

  it('books a batch once per Idempotency-Key: the replay returns the stored response marked Idempotent-Replay', async () => {
    const batch = [entry('INV-1'), entry('INV-2')];
    const first = await post(batch, { key: 'batch-1' });
    expect(first.status).toBe(201);
    expect(first.headers.get('idempotent-replay')).toBeNull();
    const firstBody = (await first.json()) as BookingResult;
    expect(firstBody.booked.map((b) => b.reference)).toEqual(['INV-1', 'INV-2']);

    const replay = await post(batch, { key: 'batch-1' });
    expect(replay.status).toBe(201);
    expect(replay.headers.get('idempotent-replay')).toBe('true');
    expect(await replay.json()).toEqual(firstBody);

    expect(sandbox.state.ledger.countFor('INV-1')).toBe(1);
    expect(sandbox.state.ledger.countFor('INV-2')).toBe(1);
    expect(sandbox.state.ledger.replays).toBe(1);
  });

  it('books the same reference twice under two keys, and reports it as a duplicate', async () => {
    await post([entry('INV-7')], { key: 'a' });
    await post([entry('INV-7')], { key: 'b' });
    expect(sandbox.state.ledger.countFor('INV-7')).toBe(2);
    const summary = (await (await fetch(`${sandbox.url}/_admin/accounting/bookings`)).json()) as {
      total: number;
      duplicates: unknown[];
      byReference: Record<string, number>;
    };
    expect(summary).toMatchObject({ total: 2, duplicates: [{ reference: 'INV-7', count: 2 }], byReference: { 'INV-7': 2 } });
    const listed = (await (
      await fetch(`${sandbox.url}/accounting/v1/journal-entries?reference=INV-7`, { headers: { authorization: `Bearer ${token}` } })
    ).json()) as { data: { reference: string; idempotencyKey: string }[] };
    expect(listed.data.map((b) => b.idempotencyKey)).toEqual(['a', 'b']);
  });

  it('refuses a reused Idempotency-Key with a different batch (409) and books nothing for it', async () => {
    await post([entry('INV-1')], { key: 'k' });
    const reused = await post([entry('INV-2')], { key: 'k' });
    expect(reused.status).toBe(409);
    expect(((await reused.json()) as { error: string }).error).toBe('idempotency_key_reused');
    expect(sandbox.state.ledger.countFor('INV-2')).toBe(0);
  });

  it('books the valid entries of a batch and lists an invalid one with its field and message', async () => {
    const res = await post([entry('INV-1'), entry('INV-2', { grossAmount: '1428.01' }), entry('INV-3')], { key: 'partial' });
    expect(res.status).toBe(201);
    const body = (await res.json()) as BookingResult;
    expect(body.booked.map((b) => b.reference)).toEqual(['INV-1', 'INV-3']);
    expect(body.rejected).toEqual([
      {
        index: 1,
        reference: 'INV-2',
        errors: [{ field: 'grossAmount', message: 'grossAmount 1428.01 must equal netAmount + taxAmount (1428.00)' }],
      },
    ]);
    expect(sandbox.state.ledger.countFor('INV-2')).toBe(0);
  });

  it('answers 422 when no entry of the batch is valid, naming every bad field', async () => {
    const res = await post([
      entry('INV-1', { currency: 'eur', account: '84', extra: true }),
      'not an entry',
      entry('INV-3', { reference: undefined, date: '2026-02-30', lineCount: 0 }),
    ]);
    expect(res.status).toBe(422);
    const body = (await res.json()) as BookingResult & { error: string; message: string };
    expect(body.error).toBe('validation_failed');
    expect(body.booked).toEqual([]);
    const fields = body.rejected.map((r) => [r.index, r.reference, r.errors.map((e) => e.field).sort()]);
    expect(fields).toEqual([
      [0, 'INV-1', ['account', 'currency', 'extra']],
      [1, null, ['(entry)']],
      [2, null, ['date', 'lineCount', 'reference']],
    ]);
    expect(body.rejected[2].errors.find((e) => e.field === 'reference')?.message).toBe('reference is required');
    expect(sandbox.state.ledger.bookings).toHaveLength(0);
  });

  it(`refuses a malformed batch with 400: not JSON, no entries, more than ${MAX_ENTRIES_PER_REQUEST} entries`, async () => {
    const notJson = await fetch(`${sandbox.url}/accounting/v1/journal-entries`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      body: '{entries:',
    });
    expect(notJson.status).toBe(400);
    expect(((await notJson.json()) as { message: string }).message).toMatch(/not valid JSON/);
    const empty = await post([]);
    expect(empty.status).toBe(400);
    expect(((await empty.json()) as { message: string }).message).toMatch(/entries/);
    const tooMany = await post(Array.from({ length: MAX_ENTRIES_PER_REQUEST + 1 }, (_, i) => entry(`INV-${i}`)));
    expect(tooMany.status).toBe(400);
    expect(((await tooMany.json()) as { message: string }).message).toMatch(/at most 500/);
    expect(sandbox.state.ledger.bookings).toHaveLength(0);
  });

  it('lists bookings by reference, newest first without one', async () => {
    await post([entry('INV-1'), entry('INV-2')]);
    const res = await fetch(`${sandbox.url}/accounting/v1/journal-entries?reference=INV-2`, {
      headers: { authorization: `Bearer ${token}` },
    });
    const body = (await res.json()) as { data: { id: string; reference: string; entry: JournalEntry }[]; total: number };
    expect(body.data).toHaveLength(1);
    expect(body.data[0]).toMatchObject({ reference: 'INV-2', entry: { grossAmount: '1428.00' } });
    const all = (await (
      await fetch(`${sandbox.url}/accounting/v1/journal-entries`, { headers: { authorization: `Bearer ${token}` } })
    ).json()) as { data: { reference: string }[] };
    expect(all.data.map((b) => b.reference)).toEqual(['INV-2', 'INV-1']);
  });
});

describe('ZJournalEntry', () => {
  it('accepts negative amounts (credit notes) when gross equals net plus tax', () => {
    expect(ZJournalEntry.safeParse(entry('CN-1', { netAmount: '-100.00', taxAmount: '-19.00', grossAmount: '-119.00' })).success).toBe(
      true,
    );
  });

  it('refuses amounts without exactly two decimals and descriptions over 500 characters', () => {
    const parsed = ZJournalEntry.safeParse(entry('X', { netAmount: '1200', description: 'x'.repeat(501) }));
    expect(parsed.success).toBe(false);
    expect(parsed.error!.issues.map((i) => i.path.join('.')).sort()).toEqual(['description', 'netAmount']);
    const numeric = ZJournalEntry.safeParse(entry('Y', { taxAmount: 228 }));
    expect(numeric.error!.issues.map((i) => [i.path.join('.'), i.message])).toEqual([
      ['taxAmount', 'taxAmount must be a decimal amount as text with 2 decimals, e.g. "1200.50"'],
    ]);
  });
});
