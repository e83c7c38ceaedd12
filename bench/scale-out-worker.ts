import { connect, disconnect } from '../db/client';
import { createBoss } from '../lib/platform/execution/boss';
import { startPlatformWorker } from '../lib/platform/execution/worker';
import { buildRegistry } from '../lib/platform/registry';
import { noopIntegrations } from './noop-integrations';

/**
 * One worker process of the scale-out benchmark: `tsx bench/scale-out-worker.ts <url> <integrations> <concurrency> <id>`.
 * Prints "ready" once it works the queue; SIGTERM stops it gracefully.
 */
async function main() {
  const [url, integrationCount, concurrency, id] = process.argv.slice(2);
  const db = connect(url, { max: Number(concurrency) + 4, name: `bench-worker-${id}` });
  const boss = createBoss(url, { max: 4 });
  boss.removeAllListeners('error');
  boss.on('error', () => {});
  await boss.start();
  const worker = await startPlatformWorker({
    db,
    boss,
    registry: buildRegistry(noopIntegrations(Number(integrationCount))),
    workerId: `bench-${id}`,
    concurrency: Number(concurrency),
    options: { pollingIntervalSeconds: 0.5, scheduleSyncMs: 0, syncRegistry: false },
  });
  process.stdout.write('ready\n');
  process.on('SIGTERM', async () => {
    await worker.stop({ timeoutMs: 5_000 });
    await boss.stop({ graceful: false }).catch(() => {});
    await disconnect(db);
    process.exit(0);
  });
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
