import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { connect, disconnect } from '../db/client';
import { applyMigrations, migrationStatus } from '../db/migrate';
import { ConfigError, loadEnv } from '../lib/env';
import { integrations } from '../lib/integrations';
import { sealPlainSlackUrls, startAlerting } from '../lib/platform/alerts';
import { createBoss } from '../lib/platform/execution/boss';
import { startHeartbeat } from '../lib/platform/execution/heartbeat';
import { startPruner } from '../lib/platform/execution/retention';
import { startPlatformWorker, WORKER_IDLE_CONNECTION_SECONDS } from '../lib/platform/execution/worker';
import { anchorDirectory, auditKey } from '../lib/platform/governance/audit-anchors';
import { startAuditGuard } from '../lib/platform/governance/audit-guard';
import { createSecretsProvider, loadKeyring } from '../lib/platform/governance/secrets';
import { verifySecretsKeys } from '../lib/platform/governance/secrets-key-check';
import { compileStoredMapping } from '../lib/platform/mapping';
import { startMetricsServer } from '../lib/platform/observability/metrics-server';
import { startTelemetry } from '../lib/platform/observability/telemetry';
import { buildRegistry } from '../lib/platform/registry';
import { onStopSignals, runMain } from './process';

/**
 * The worker process: applies migrations, registers every integration, works the run, schedule
 * and alert queues, and beats a heartbeat the health check reads. Any number of workers on any
 * number of machines share one PostgreSQL. SIGTERM/SIGINT: stop fetching, let running attempts
 * finish (after a grace period they are released back to the queue without using an attempt).
 */
async function main() {
  const env = loadEnv();
  if (!env.DATABASE_URL) throw new ConfigError('Invalid configuration: DATABASE_URL is required by the worker (missing)');
  if (!env.JUNCTION_SECRETS_KEY) {
    throw new ConfigError('Invalid configuration: JUNCTION_SECRETS_KEY is required by the worker to read integration secrets (missing)');
  }
  // Spans always (traceparent reaches external systems); exported only with OTEL_EXPORTER_OTLP_ENDPOINT.
  const telemetry = startTelemetry({ serviceName: 'junction-worker', endpoint: env.OTEL_EXPORTER_OTLP_ENDPOINT });
  // Fails start-up with a clear message on a duplicate integration name.
  const registry = buildRegistry(integrations);
  const keyring = loadKeyring(env);
  const workerId = `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const db = connect(env.DATABASE_URL, {
    max: env.WORKER_CONCURRENCY + 6,
    name: 'junction-worker',
    idleTimeoutSeconds: WORKER_IDLE_CONNECTION_SECONDS,
  });
  if (env.JUNCTION_MIGRATE_ON_START) {
    await applyMigrations(db);
  } else {
    const status = await migrationStatus(db);
    if (!status.current) {
      throw new ConfigError(
        `Database not migrated: ${status.applied} of ${status.shipped} migrations applied and JUNCTION_MIGRATE_ON_START=false; run \`npm run db:migrate\` as the owner role first`,
      );
    }
  }
  // A wrong JUNCTION_SECRETS_KEY stops here, before anything is written.
  await verifySecretsKeys(db, keyring);
  // Slack URLs saved before they were treated as secrets move into sealed storage here: sealing
  // needs the secrets key, which migrations do not have.
  const sealedSlack = await sealPlainSlackUrls(db, { keyring });
  if (sealedSlack.length > 0) console.log(`[worker] sealed the webhook URL of ${sealedSlack.length} Slack alert channel(s)`);

  // With start-up migrations off, pg-boss only checks its schema (installed by `npm run db:migrate`).
  const boss = createBoss(env.DATABASE_URL, { migrate: env.JUNCTION_MIGRATE_ON_START });
  await boss.start();
  const platform = await startPlatformWorker({
    db,
    boss,
    registry,
    workerId,
    concurrency: env.WORKER_CONCURRENCY,
    secrets: createSecretsProvider(db, keyring),
    mapper: compileStoredMapping,
    options: { maxInterruptions: env.RUN_MAX_INTERRUPTIONS, runBatchSize: env.WORKER_RUN_BATCH, log: { maxLines: env.RUN_LOG_MAX_LINES } },
  });
  const alerting = await startAlerting({ db, boss, keyring, appUrl: env.APP_URL, recoveryHoldSeconds: env.ALERT_RECOVERY_HOLD_SECONDS });
  const heartbeat = await startHeartbeat(db, { workerId });
  const pruner = startPruner(db, { retentionDays: env.RUN_RETENTION_DAYS, log: (message) => console.log(`[worker] ${message}`) });
  const auditGuard = env.JUNCTION_AUDIT_KEY
    ? startAuditGuard({
        db,
        events: boss,
        dir: anchorDirectory(env),
        key: auditKey(env.JUNCTION_AUDIT_KEY),
        webhookUrl: env.JUNCTION_AUDIT_ANCHOR_WEBHOOK_URL,
        anchorIntervalMs: env.JUNCTION_AUDIT_ANCHOR_INTERVAL_SECONDS * 1000,
        burstRows: env.JUNCTION_AUDIT_ANCHOR_BURST_ROWS,
        verifyIntervalMs: env.JUNCTION_AUDIT_VERIFY_INTERVAL_SECONDS * 1000,
      })
    : null;
  if (!auditGuard) console.log('[worker] JUNCTION_AUDIT_KEY not set: no audit anchors are written (required in production)');
  const metrics = env.METRICS_TOKEN ? await startMetricsServer({ port: env.METRICS_PORT, token: env.METRICS_TOKEN }) : null;
  if (metrics) console.log(`[worker] Prometheus metrics at ${metrics.url} (Authorization: Bearer <METRICS_TOKEN>)`);
  console.log(`[worker] ${workerId} working ${registry.size} integrations: ${[...registry.keys()].join(', ') || 'none registered'}`);

  onStopSignals(async (signal) => {
    console.log(`[worker] ${signal}: finishing running work, then exiting`);
    pruner.stop();
    await auditGuard?.stop();
    await platform.stop({ timeoutMs: 20_000 });
    await alerting.stop();
    await heartbeat.stop();
    await boss.stop({ graceful: true, timeout: 5_000 }).catch(() => {});
    await metrics?.stop();
    await telemetry.shutdown().catch(() => {});
    await disconnect(db);
  });
}

runMain(main);
