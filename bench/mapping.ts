import { isDeepStrictEqual } from 'node:util';
import { defaultJournalMapping } from '../lib/integrations/accounting-export/mapping';
import { applyMapping, compileMapping, isCompiledMapping, type CompiledMapping, type MapResult } from '../lib/platform/mapping';
import { mapInvoicesByHand } from './hand-mapping';
import { invoiceCorpus } from './invoice-corpus';
import { alternate, median, ratioText, table, type BenchContext } from './lib';
import type { BenchResult } from './run';

/**
 * Benchmark 3, mapping engine: records per second of the accounting export's 12-field mapping
 * through the engine (fast path for simple expressions, JSONata for the rest) against the same
 * mapping written by hand, in batches of 100 as the export calls it. Also JSONata alone, for scale.
 */

export const MAPPING_SIZES = {
  tiny: { records: 2_000, rounds: 3, jsonataRecords: 500 },
  full: { records: 100_000, rounds: 7, jsonataRecords: 10_000 },
} as const;

const BATCH = 100;

export function compileJournalMapping(fastPath: boolean): CompiledMapping {
  const compiled = compileMapping(defaultJournalMapping, { fastPath });
  if (!isCompiledMapping(compiled)) throw new Error(`the default journal mapping does not compile: ${JSON.stringify(compiled.errors)}`);
  return compiled;
}

async function timeBatches(
  records: unknown[],
  map: (batch: unknown[]) => MapResult | Promise<MapResult>,
): Promise<{ perSecond: number; mapped: number }> {
  let mapped = 0;
  const started = performance.now();
  for (let i = 0; i < records.length; i += BATCH) mapped += (await map(records.slice(i, i + BATCH))).mapped.length;
  return { perSecond: records.length / ((performance.now() - started) / 1000), mapped };
}

export async function runMapping(ctx: BenchContext): Promise<BenchResult> {
  const size = MAPPING_SIZES[ctx.size];
  const corpus = invoiceCorpus(size.records);
  const engine = compileJournalMapping(true);
  const jsonataOnly = compileJournalMapping(false);

  // Same output first: a benchmark of different work would prove nothing.
  const sample = corpus.slice(0, 2_000);
  const byEngine = await applyMapping(engine, sample);
  const byHand = mapInvoicesByHand(sample);
  if (!isDeepStrictEqual(byEngine, byHand))
    throw new Error('the engine and the hand-written mapping disagree on the corpus: fix before measuring');

  const hand = (batch: unknown[]) => mapInvoicesByHand(batch as typeof corpus);
  // Warm-up (JIT) of both.
  await timeBatches(corpus.slice(0, 5_000), (b) => applyMapping(engine, b));
  await timeBatches(corpus.slice(0, 5_000), hand);

  const rounds = await alternate(
    size.rounds,
    async () => (await timeBatches(corpus, (b) => applyMapping(engine, b))).perSecond,
    async () => (await timeBatches(corpus, hand)).perSecond,
  );
  const jsonataRounds: number[] = [];
  for (let r = 0; r < Math.min(3, size.rounds); r++) {
    jsonataRounds.push((await timeBatches(corpus.slice(0, size.jsonataRecords), (b) => applyMapping(jsonataOnly, b))).perSecond);
  }

  const p = median(rounds.platform);
  const b = median(rounds.baseline);
  const j = median(jsonataRounds);
  const text = [
    `${size.records.toLocaleString('en-US')} invoices, 12 fields (${engine.fastExpressions} of ${engine.fields.length + 1} expressions on the fast path), batches of ${BATCH}, ${size.rounds} alternating rounds; outputs identical on ${sample.length} records`,
    table(
      ['mapper', 'records/s (median)', 'each round', 'vs hand-written'],
      [
        ['engine (fast path + JSONata)', p, rounds.platform.map((v) => Math.round(v)).join(' '), ratioText(p / b, 0.5)],
        ['hand-written TypeScript', b, rounds.baseline.map((v) => Math.round(v)).join(' '), '1.00'],
        [
          `JSONata only (${size.jsonataRecords.toLocaleString('en-US')} records)`,
          j,
          jsonataRounds.map((v) => Math.round(v)).join(' '),
          (j / b).toFixed(3),
        ],
      ],
    ),
  ].join('\n');
  return { name: 'mapping', text, summary: [['3 mapping: records/s', p, b, ratioText(p / b, 0.5)]] };
}
