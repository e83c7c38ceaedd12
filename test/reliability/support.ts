import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { eq, sql } from 'drizzle-orm';
import type { PgBoss } from 'pg-boss';
import postgres from 'postgres';
import type { Database } from '../../db/client';
import { generateHostData } from '../../db/host-data';
import { integrations as integrationsTable } from '../../db/schema';
import { integrations } from '../../lib/integrations';
import { createChannel } from '../../lib/platform/alerts';
import { ensurePlatformQueues, type QueueOptions } from '../../lib/platform/execution/queue';
import { keyringFrom, type Keyring } from '../../lib/platform/governance/crypto';
import { writeSecrets } from '../../lib/platform/governance/secrets';
import { buildRegistry, syncRegistry } from '../../lib/platform/registry';
import { DEMO_CREDENTIALS } from '../../sandbox/demo-credentials';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../../scripts/embedded-postgres';
import { freeListenerPort } from '../../scripts/ports';

/**
 * Shared set-up of the reliability suites: the shipped accounting export pointed at the sandbox
 * stand-ins, real worker processes (worker/index.ts), invoices arriving between runs, and the
 * figures each suite prints.
 */

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const INTEGRATION = 'accounting-export';

export function newSecretsKey(): { key: string; keyring: Keyring } {
  const key = randomBytes(32).toString('base64');
  return { key, keyring: keyringFrom({ key, keyId: 'k1' }) };
}

/**
 * Registers the shipped integrations and configures the accounting export for a suite: the
 * stand-ins' URLs, small batches, no schedule, short retry delays and breaker cooldown, and the
 * stand-ins' demo client credentials sealed with the suite's key. No integration keeps a schedule:
 * the suites request every run themselves (the CRM sync's default every-15-minutes schedule once
 * added a 201st run to a 200-run suite that counted every integration's runs).
 */
export async function configureAccountingExport(
  db: Database,
  params: {
    sandboxUrl: string;
    keyring: Keyring;
    batchSize: number;
    retryDelays: string[];
    breakerCooldown?: string;
    breakerFailures?: number;
  },
): Promise<void> {
  await syncRegistry(db, { registry: buildRegistry(integrations) });
  await db.update(integrationsTable).set({ schedule: null });
  await db
    .update(integrationsTable)
    .set({
      schedule: null,
      retryDelays: params.retryDelays,
      breakerCooldown: params.breakerCooldown ?? '1m',
      breakerFailures: params.breakerFailures ?? 3,
      settings: {
        baseUrl: `${params.sandboxUrl}/accounting`,
        tokenUrl: `${params.sandboxUrl}/oauth/token`,
        scope: 'journal:write',
        batchSize: params.batchSize,
      },
    })
    .where(eq(integrationsTable.name, INTEGRATION));
  await writeSecrets(db, {
    integration: INTEGRATION,
    values: DEMO_CREDENTIALS[INTEGRATION],
    actor: 'reliability-suite',
    keyring: params.keyring,
  });
}

/** A webhook alert channel pointing at the stand-ins' catcher (every alert is routed to it). */
export async function addCatcherChannel(db: Database, params: { sandboxUrl: string; keyring: Keyring; name: string }): Promise<void> {
  const created = await createChannel(db, {
    input: { type: 'webhook', name: params.name, url: `${params.sandboxUrl}/catcher/webhook/${params.name}`, enabled: true },
    actor: 'reliability-suite',
    keyring: params.keyring,
  });
  if (!created.ok) throw new Error(`could not create the alert channel: ${created.message}`);
}

/**
 * Creates the run queue before any worker does, with the suite's expiry and heartbeat (pg-boss only
 * applies them when it creates the queue, so the real worker's defaults do not replace them).
 */
export async function createRunQueues(boss: PgBoss, options: QueueOptions): Promise<void> {
  await ensurePlatformQueues(boss, options);
}

let invoiceOffset = 0;

/**
 * Posted invoices written now (updated_at = now), as the host platform would while runs go on: in
 * one transaction, so no run sees an invoice before its lines (it would reject it as line-less).
 */
export async function addInvoices(db: Database, count: number): Promise<void> {
  const offset = invoiceOffset;
  invoiceOffset += count;
  await db.transaction((tx) =>
    generateHostData(tx, { customers: 1, invoices: count, numberOffset: offset, seed: offset + 1, until: new Date(), spreadDays: 0 }),
  );
}

/** Records the runs reported as rejected (mapping or API), by reference. */
export async function rejectedReferences(db: Database): Promise<string[]> {
  const rows = await db.execute<{ reference: string }>(
    sql`select distinct r->>'reference' as reference from runs, jsonb_array_elements(coalesce(result->'rejected', '[]'::jsonb)) r order by 1`,
  );
  return rows.map((r) => r.reference);
}

export async function invoiceNumbers(db: Database): Promise<string[]> {
  const rows = await db.execute<{ number: string }>(sql`select number from invoices where status = 'posted' order by number`);
  return rows.map((r) => r.number);
}

/** Runs of the suite's integration by status. */
export async function runStatusCounts(db: Database): Promise<Record<string, number>> {
  const rows = await db.execute<{ status: string; n: number }>(
    sql`select status, count(*)::int as n from runs where integration = ${INTEGRATION} group by status`,
  );
  return Object.fromEntries(rows.map((r) => [r.status, r.n]));
}

export interface WorkerProcess {
  pid: number;
  process: ChildProcess;
  output(): string;
  /** SIGKILL and wait until it is gone. */
  kill(): Promise<void>;
  /** SIGTERM (graceful) and wait; SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

/** Starts the real worker entry (worker/index.ts) as a child process and waits until it works the queues. */
export function startWorkerProcess(env: Record<string, string>, startTimeoutMs = 90_000): Promise<WorkerProcess> {
  return startProductProcess('worker/index.ts', /\[worker\] \S+ working/, { WORKER_CONCURRENCY: '2', ...env }, startTimeoutMs);
}

/**
 * Starts the real intake listener (worker/intake.ts) on INTAKE_PORT (a free port when not given)
 * and waits until it listens; `url` is its origin.
 */
export async function startIntakeProcess(
  env: Record<string, string>,
  startTimeoutMs = 90_000,
): Promise<WorkerProcess & { url: string; port: number }> {
  const port = env.INTAKE_PORT ? Number(env.INTAKE_PORT) : await freeListenerPort();
  const child = await startProductProcess(
    'worker/intake.ts',
    /\[intake\] listening on /,
    { INTAKE_HOST: '127.0.0.1', ...env, INTAKE_PORT: String(port) },
    startTimeoutMs,
  );
  return Object.assign(child, { url: `http://127.0.0.1:${port}`, port });
}

/** A product entry point (worker/*.ts) as a child process, ready once its output matches `ready`. */
async function startProductProcess(
  script: string,
  ready: RegExp,
  env: Record<string, string>,
  startTimeoutMs: number,
): Promise<WorkerProcess> {
  const name = path.basename(script, '.ts') === 'index' ? 'worker' : path.basename(script, '.ts');
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, script)], {
    cwd: ROOT,
    env: { ...process.env, NODE_ENV: 'test', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const append = (d: Buffer) => {
    output += d.toString();
    if (output.length > 200_000) output = output.slice(-100_000);
  };
  child.stdout!.on('data', append);
  child.stderr!.on('data', append);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${name} process did not start within ${startTimeoutMs / 1000} s:\n${output}`)),
      startTimeoutMs,
    );
    const onData = () => {
      if (ready.test(output)) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`${name} process exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${output}`));
    });
  });
  const gone = () => child.exitCode !== null || child.signalCode !== null;
  return {
    pid: child.pid!,
    process: child,
    output: () => output,
    async kill() {
      if (gone()) return;
      child.kill('SIGKILL');
      await exited;
    },
    async stop(graceMs = 15_000) {
      if (gone()) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

export { sleep } from '../fixtures/wait';

/** Prints a suite's figures on one line, so `npm test` output carries them. */
export function report(suite: string, figures: Record<string, unknown>): void {
  const text = Object.entries(figures)
    .map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
    .join(', ');
  console.log(`[reliability] ${suite}: ${text}`);
}

/**
 * A PostgreSQL server of the suite's own (embedded, in a temporary folder, on a port of its own)
 * that the suite stops and starts again at the same address, with one empty database `name` on it:
 * the database restart and outage suites cut it under running work.
 */
export interface RestartableServer {
  /** The URL of database `name`: the same across restarts. */
  url: string;
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
  start(): Promise<void>;
  /** Stops the server if it runs and removes its folder. */
  remove(): Promise<void>;
}

export async function startRestartableServer(name: string): Promise<RestartableServer> {
  const dir = mkdtempSync(path.join(os.tmpdir(), `${name}-`));
  const options = { dir: path.join(dir, 'pg'), quiet: true, ephemeral: true };
  // The first start picks a free port; every restart comes back on it.
  let pg: EmbeddedDatabase | undefined = await startEmbeddedPostgres(options);
  const { port } = pg;
  const start = () => startEmbeddedPostgres({ ...options, port });
  const admin = postgres(pg.adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  await admin.end();
  return {
    url: pg.urlFor(name),
    async stop(mode) {
      await pg?.stop(mode);
      pg = undefined;
    },
    async start() {
      pg ??= await start();
    },
    async remove() {
      await pg?.stop().catch(() => {});
      pg = undefined;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
