import { createInterface } from 'node:readline';
import { sql } from 'drizzle-orm';
import { connect, disconnect } from '../db/client';
import { createBoss } from '../lib/platform/execution/boss';
import { startPlatformWorker, WORKER_IDLE_CONNECTION_SECONDS, type PlatformWorker } from '../lib/platform/execution/worker';
import { buildRegistry } from '../lib/platform/registry';
import { noopIntegrations } from './noop-integrations';

/**
 * One worker process of the scale-out benchmark:
 * `tsx bench/scale-out-worker.ts <url> <integrations> <concurrency> <run batch> <id>`.
 * Connects and prints "ready"; then, line by line on stdin, "go" starts the platform worker
 * (answered "working") and "pause" stops it (answered "paused") while the process, its connections
 * and its compiled code stay warm, as benchmark 1's worker does between rounds. SIGTERM ends it.
 * BENCH_POOL sets its connection pool's size (default: its concurrency + 4); idle connections are
 * kept as long as the product's worker keeps them.
 */
async function main() {
  const [url, integrationCount, concurrency, runBatch, id] = process.argv.slice(2);
  const db = connect(url, {
    max: Number(process.env.BENCH_POOL ?? Number(concurrency) + 4),
    name: `bench-worker-${id}`,
    idleTimeoutSeconds: WORKER_IDLE_CONNECTION_SECONDS,
  });
  const boss = createBoss(url, { max: 4 });
  boss.removeAllListeners('error');
  boss.on('error', () => {});
  await boss.start();
  const registry = buildRegistry(noopIntegrations(Number(integrationCount)));
  await db.execute(sql`select 1`);
  let worker: PlatformWorker | undefined;
  let pending = Promise.resolve();
  const commands: Record<string, () => Promise<void>> = {
    go: async () => {
      worker ??= await startPlatformWorker({
        db,
        boss,
        registry,
        workerId: `bench-${id}`,
        concurrency: Number(concurrency),
        options: { pollingIntervalSeconds: 0.5, scheduleSyncMs: 0, syncRegistry: false, runBatchSize: Number(runBatch) },
      });
      process.stdout.write('working\n');
    },
    pause: async () => {
      await worker?.stop({ timeoutMs: 5_000 });
      worker = undefined;
      process.stdout.write('paused\n');
    },
  };
  // One command at a time, in the order they came.
  createInterface({ input: process.stdin }).on('line', (line) => {
    const command = commands[line.trim()];
    if (command) pending = pending.then(command);
  });
  process.on('SIGTERM', async () => {
    await pending;
    await worker?.stop({ timeoutMs: 5_000 });
    await boss.stop({ graceful: false }).catch(() => {});
    await disconnect(db);
    process.exit(0);
  });
  process.stdout.write('ready\n');
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
