import { randomBytes } from 'node:crypto';
import { eq, sql } from 'drizzle-orm';
import type { PgBoss } from 'pg-boss';
import type { Database } from '../db/client';
import { generateHostData } from '../db/host-data';
import { cursors, integrations, runs } from '../db/schema';
import { accountingExport } from '../lib/integrations/accounting-export';
import type { IntegrationDefinition } from '../lib/platform/contract';
import { createBoss } from '../lib/platform/execution/boss';
import { startPlatformWorker, type PlatformWorker } from '../lib/platform/execution/worker';
import { keyringFrom } from '../lib/platform/governance/crypto';
import { createSecretsProvider, writeSecrets } from '../lib/platform/governance/secrets';
import { compileStoredMapping } from '../lib/platform/mapping';
import { buildRegistry, syncRegistry } from '../lib/platform/registry';
import { runNow } from '../lib/platform/triggers/triggers';
import { DEFAULT_CLIENT, startStandIns, type StandIns } from '../sandbox/stand-ins';
import { alternate, createBenchDatabase, median, ratioText, table, until, type BenchContext } from './lib';
import type { BenchResult } from './run';
import { snowflakeExport } from './snowflake-export';

/**
 * Benchmark 2, export throughput: the accounting-export integration on the platform (run record,
 * OAuth2 through the platform client, breaker, per-batch idempotency keys, mapping engine, logs,
 * progress, watermark) against the snowflake script, both exporting every posted invoice to the
 * accounting stand-in at the same batch size.
 */

export const EXPORT_SIZES = {
  tiny: { invoices: 500, customers: 50, rounds: 2, batchSize: 100 },
  // Five alternating rounds: the sides' rounds overlap by a few percent, so three said little about a 5 % goal.
  full: { invoices: 100_000, customers: 2_000, rounds: 5, batchSize: 100 },
} as const;

export interface ExportRig {
  worker: PlatformWorker;
  boss: PgBoss;
  standIns: StandIns;
  stop(): Promise<void>;
}

/** The platform side: stand-ins, pg-boss, the accounting-export integration configured for them, a worker. */
export async function startExportRig(db: Database, url: string, params: { batchSize: number }): Promise<ExportRig> {
  const standIns = await startStandIns({ port: 0, smtpPort: 0 });
  const boss = createBoss(url, { max: 4 });
  await boss.start();
  const registry = buildRegistry([accountingExport as IntegrationDefinition]);
  await syncRegistry(db, { registry });
  await db
    .update(integrations)
    .set({
      settings: {
        baseUrl: `${standIns.url}/accounting`,
        tokenUrl: `${standIns.url}/oauth/token`,
        scope: 'journal:write',
        batchSize: params.batchSize,
      },
    })
    .where(eq(integrations.name, accountingExport.name));
  const keyring = keyringFrom({ key: randomBytes(32).toString('base64'), keyId: 'bench' });
  await writeSecrets(db, {
    integration: accountingExport.name,
    values: { clientId: DEFAULT_CLIENT.clientId, clientSecret: DEFAULT_CLIENT.clientSecret },
    actor: 'bench',
    keyring,
  });
  const worker = await startPlatformWorker({
    db,
    boss,
    registry,
    workerId: 'bench-export',
    secrets: createSecretsProvider(db, keyring),
    mapper: compileStoredMapping,
    options: { pollingIntervalSeconds: 0.5, scheduleSyncMs: 0 },
  });
  return {
    worker,
    boss,
    standIns,
    async stop() {
      await worker.stop({ timeoutMs: 5_000 });
      await boss.stop({ graceful: false }).catch(() => {});
      await standIns.close();
    },
  };
}

/** One full export on the platform (watermark cleared first): the finished run. */
export async function platformExport(db: Database, rig: ExportRig): Promise<typeof runs.$inferSelect> {
  await db.delete(cursors).where(eq(cursors.integration, accountingExport.name));
  const { runId } = await runNow(db, rig.boss, { integration: accountingExport.name, triggeredBy: 'bench', trigger: 'api' });
  // Polled every 25 ms from the process that runs the worker: the poll reads the status alone
  // (a prepared statement), so the benchmark's own CPU weighs as little as it can on the platform side.
  await until(
    'the export run to finish',
    async () => {
      const [run] = await db.$client.unsafe<{ status: string; error_message: string | null }[]>(
        'select status, error_message from runs where id = $1',
        [runId],
        { prepare: true },
      );
      if (run.status === 'failed' || run.status === 'cancelled') throw new Error(`the platform export failed: ${run.error_message}`);
      return run.status === 'succeeded' ? true : undefined;
    },
    60 * 60_000,
    25,
  );
  const [run] = await db.select().from(runs).where(eq(runs.id, runId));
  return run;
}

export async function snowflakeRound(db: Database, standIns: StandIns, batchSize: number) {
  return snowflakeExport({
    sql: db.$client,
    baseUrl: `${standIns.url}/accounting`,
    tokenUrl: `${standIns.url}/oauth/token`,
    clientId: DEFAULT_CLIENT.clientId,
    clientSecret: DEFAULT_CLIENT.clientSecret,
    batchSize,
  });
}

export async function runExport(ctx: BenchContext): Promise<BenchResult> {
  const size = EXPORT_SIZES[ctx.size];
  const bench = await createBenchDatabase(ctx.adminUrl, 'export', 10);
  try {
    const generatedAt = performance.now();
    await generateHostData(bench.db, { customers: size.customers, invoices: size.invoices, seed: 11 });
    await bench.db.execute(sql`analyze`);
    const generation = (performance.now() - generatedAt) / 1000;
    const rig = await startExportRig(bench.db, bench.url, { batchSize: size.batchSize });
    try {
      const booked = { platform: [] as number[], baseline: [] as number[] };
      // Node CPU per export (the whole process: worker, stand-in and benchmark on both sides, so the
      // difference is what the platform adds): a load-independent figure beside the timed one.
      const cpu = { platform: [] as number[], baseline: [] as number[] };
      const cpuMs = (since: NodeJS.CpuUsage) => {
        const used = process.cpuUsage(since);
        return (used.user + used.system) / 1000;
      };
      const rounds = await alternate(
        size.rounds,
        async () => {
          rig.standIns.state.reset();
          const cpuBefore = process.cpuUsage();
          const started = performance.now();
          const run = await platformExport(bench.db, rig);
          const seconds = (performance.now() - started) / 1000;
          cpu.platform.push(cpuMs(cpuBefore));
          booked.platform.push(rig.standIns.state.ledger.summary().total);
          if ((run.result as { processed?: number }).processed !== size.invoices)
            throw new Error(`the platform booked ${JSON.stringify(run.result)}`);
          return size.invoices / seconds;
        },
        async () => {
          rig.standIns.state.reset();
          const cpuBefore = process.cpuUsage();
          const started = performance.now();
          const result = await snowflakeRound(bench.db, rig.standIns, size.batchSize);
          const seconds = (performance.now() - started) / 1000;
          cpu.baseline.push(cpuMs(cpuBefore));
          booked.baseline.push(rig.standIns.state.ledger.summary().total);
          if (result.booked !== size.invoices) throw new Error(`the snowflake booked ${result.booked} of ${size.invoices}`);
          return size.invoices / seconds;
        },
      );
      const p = median(rounds.platform);
      const b = median(rounds.baseline);
      // Each round's platform export over the snowflake export beside it (same round), and pooled:
      // every invoice of every round over every second of every round, per side.
      const pairs = rounds.platform.map((v, i) => v / rounds.baseline[i]);
      const pooled = (rates: number[]) => (rates.length * size.invoices) / rates.reduce((t, r) => t + size.invoices / r, 0);
      const pooledRatio = pooled(rounds.platform) / pooled(rounds.baseline);
      const cpuRatio = median(cpu.platform) / median(cpu.baseline);
      const text = [
        `${size.invoices.toLocaleString('en-US')} posted invoices (generated in ${generation.toFixed(1)} s), batches of ${size.batchSize}, ${size.rounds} alternating rounds; every round booked all of them once (ledger totals: platform ${booked.platform.join(', ')}; snowflake ${booked.baseline.join(', ')})`,
        table(
          ['', 'platform (runNow → run succeeded)', 'snowflake script', 'platform / snowflake'],
          [
            ['invoices/s (median)', p, b, ratioText(p / b, 0.95)],
            ['seconds per export (median)', size.invoices / p, size.invoices / b, ''],
            [
              'invoices/s, each round',
              rounds.platform.map((v) => Math.round(v)).join(' '),
              rounds.baseline.map((v) => Math.round(v)).join(' '),
              `each round ${pairs.map((r) => r.toFixed(2)).join(' ')} (${Math.min(...pairs).toFixed(2)}–${Math.max(...pairs).toFixed(2)})`,
            ],
            ['invoices/s, all rounds pooled', pooled(rounds.platform), pooled(rounds.baseline), ratioText(pooledRatio, 0.95)],
            [
              'Node CPU ms per export (median; each round)',
              `${Math.round(median(cpu.platform))} (${cpu.platform.map((v) => Math.round(v)).join(' ')})`,
              `${Math.round(median(cpu.baseline))} (${cpu.baseline.map((v) => Math.round(v)).join(' ')})`,
              `×${cpuRatio.toFixed(2)} CPU`,
            ],
          ],
        ),
      ].join('\n');
      return {
        name: 'export',
        text,
        summary: [
          ['2 export: invoices/s, all rounds pooled', pooled(rounds.platform), pooled(rounds.baseline), ratioText(pooledRatio, 0.95)],
        ],
      };
    } finally {
      await rig.stop();
    }
  } finally {
    await bench.drop();
  }
}
