import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { connect, disconnect } from '../db/client';
import { applyMigrations } from '../db/migrate';
import { ConfigError, loadEnv } from '../lib/env';
import { startHeartbeat } from '../lib/platform/heartbeat';

/**
 * The worker process: applies migrations, then works the platform's queues and beats a
 * heartbeat the health check reads. Any number of workers on any number of machines share one
 * PostgreSQL. SIGTERM/SIGINT stop fetching, let running attempts finish (or release them), exit.
 */
async function main() {
  const env = loadEnv();
  if (!env.DATABASE_URL) throw new ConfigError('Invalid configuration: DATABASE_URL is required by the worker (missing)');
  const workerId = `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const db = connect(env.DATABASE_URL, { max: env.WORKER_CONCURRENCY + 4, name: 'junction-worker' });
  await applyMigrations(db);
  const heartbeat = await startHeartbeat(db, { workerId });
  console.log(`[worker] ${workerId} started`);

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`[worker] ${signal}: finishing running work, then exiting`);
    await heartbeat.stop();
    await disconnect(db);
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((error) => {
  console.error(error instanceof ConfigError ? error.message : error);
  process.exit(1);
});
