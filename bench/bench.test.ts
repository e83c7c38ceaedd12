import { isDeepStrictEqual } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateHostData } from '../db/host-data';
import { applyMapping } from '../lib/platform/mapping';
import { freshDatabase, type TestDatabase } from '../test/db';
import { platformExport, snowflakeRound, startExportRig, type ExportRig } from './export';
import { mapInvoicesByHand } from './hand-mapping';
import { invoiceCorpus } from './invoice-corpus';
import { compileJournalMapping } from './mapping';

/**
 * Correctness of the benchmarks' baselines, never their speed: a baseline that does different work
 * than the platform would make every ratio meaningless.
 */

describe('the hand-written journal mapping (benchmark 3 baseline)', () => {
  it('gives exactly the engine result, with and without the fast path, on the benchmark corpus', async () => {
    const corpus = invoiceCorpus(3_000, 3);
    const byHand = mapInvoicesByHand(corpus);
    expect(byHand.mapped).toHaveLength(3_000);
    expect(isDeepStrictEqual(await applyMapping(compileJournalMapping(true), corpus), byHand)).toBe(true);
    expect(
      isDeepStrictEqual(await applyMapping(compileJournalMapping(false), corpus.slice(0, 300)), mapInvoicesByHand(corpus.slice(0, 300))),
    ).toBe(true);
  });

  it('rejects an invoice without lines on the account field, as the engine does', async () => {
    const [invoice] = invoiceCorpus(1);
    const record = { ...invoice, lines: [] };
    const engine = await applyMapping(compileJournalMapping(true), [record]);
    const byHand = mapInvoicesByHand([record]);
    expect(byHand.rejected.map((r) => [r.key, r.field])).toEqual(engine.rejected.map((r) => [r.key, r.field]));
    expect(byHand.rejected).toEqual([expect.objectContaining({ key: invoice.number, field: 'account' })]);
  });
});

describe('the snowflake export (benchmark 2 baseline)', () => {
  let t: TestDatabase;
  let rig: ExportRig;
  beforeAll(async () => {
    t = await freshDatabase();
    await generateHostData(t.db, { customers: 20, invoices: 230, seed: 5 });
    rig = await startExportRig(t.db, t.url, { batchSize: 50 });
  });
  afterAll(async () => {
    await rig?.stop();
    await t?.drop();
  });

  it('books the same journal entries as the platform export, each invoice once', async () => {
    const run = await platformExport(t.db, rig);
    expect(run.result).toMatchObject({ processed: 230, batches: 5 });
    const platformEntries = rig.standIns.state.ledger.bookings.map((b) => b.entry);
    expect(rig.standIns.state.ledger.summary().duplicates).toEqual([]);

    rig.standIns.state.reset();
    const snowflake = await snowflakeRound(t.db, rig.standIns, 50);
    expect(snowflake).toEqual({ booked: 230, rejected: 0, batches: 5 });
    const snowflakeEntries = rig.standIns.state.ledger.bookings.map((b) => b.entry);

    expect(snowflakeEntries).toHaveLength(230);
    expect(snowflakeEntries).toEqual(platformEntries);
    // Both send the same per-entry identity, so the stand-in deduplicates the same way for both.
    expect(rig.standIns.state.ledger.summary()).toMatchObject({ withoutExternalId: 0, distinctExternalIds: 230 });
    expect(platformEntries.every((e) => /^[0-9a-f-]{36}@\d+$/.test(e.externalId ?? ''))).toBe(true);
  });
});
