import { connect, disconnect } from '../db/client';
import { migrationStatus } from '../db/migrate';
import { ConfigError, loadEnv } from '../lib/env';
import { integrations } from '../lib/integrations';
import { createBoss } from '../lib/platform/execution/boss';
import { ensurePlatformQueues } from '../lib/platform/execution/queue';
import { loadKeyring } from '../lib/platform/governance/secrets';
import { verifySecretsKeys } from '../lib/platform/governance/secrets-key-check';
import { startIntakeListener } from '../lib/platform/intake/listener';
import { collectProcessMetrics } from '../lib/platform/observability/metrics';
import { startTelemetry } from '../lib/platform/observability/telemetry';
import { buildRegistry } from '../lib/platform/registry';
import { onStopSignals, runMain } from './process';

/**
 * The dedicated intake listener process (`npm run start:intake`): `POST /hooks/<integration>` on
 * INTAKE_PORT with the Next.js route's contract, without Next.js (lib/platform/intake/listener.ts).
 * It only receives: the workers apply the events. Any number of listeners may run behind a load
 * balancer. It does not migrate: the worker or `npm run db:migrate` does, and a listener on an
 * older schema stops with a message. SIGTERM/SIGINT: stop accepting, answer what is in flight, exit.
 */
async function main() {
  const env = loadEnv();
  if (!env.DATABASE_URL) throw new ConfigError('Invalid configuration: DATABASE_URL is required by the intake listener (missing)');
  if (!env.JUNCTION_SECRETS_KEY) {
    throw new ConfigError(
      'Invalid configuration: JUNCTION_SECRETS_KEY is required by the intake listener to read webhook secrets (missing)',
    );
  }
  if (env.INTAKE_PORT === undefined) {
    throw new ConfigError('Invalid configuration: INTAKE_PORT is required by the intake listener, e.g. INTAKE_PORT=3100 (missing)');
  }
  const telemetry = startTelemetry({ serviceName: 'junction-intake', endpoint: env.OTEL_EXPORTER_OTLP_ENDPOINT });
  const registry = buildRegistry(integrations);
  const keyring = loadKeyring(env);
  const db = connect(env.DATABASE_URL, { max: 10, name: 'junction-intake' });
  const status = await migrationStatus(db);
  if (!status.current) {
    throw new ConfigError(
      `Database not migrated: ${status.applied} of ${status.shipped} migrations applied; start the worker (or run \`npm run db:migrate\`) first`,
    );
  }
  // A wrong JUNCTION_SECRETS_KEY stops here rather than answering every delivery 401.
  await verifySecretsKeys(db, keyring);
  // Like the web app's: it only sends jobs (a new event run); supervision and cron are the workers'.
  const boss = createBoss(env.DATABASE_URL, {
    supervise: false,
    schedule: false,
    migrate: env.JUNCTION_MIGRATE_ON_START,
    max: 4,
    application_name: 'junction-intake-boss',
  });
  await boss.start();
  await ensurePlatformQueues(boss);
  if (env.METRICS_TOKEN) collectProcessMetrics();
  const listener = await startIntakeListener({
    deps: { db, boss, registry, keyring },
    port: env.INTAKE_PORT,
    host: env.INTAKE_HOST,
    metricsToken: env.METRICS_TOKEN,
    trustProxy: env.TRUST_PROXY,
  });
  const receiving = [...registry.values()].filter((d) => d.events).map((d) => d.name);
  console.log(
    `[intake] listening on ${env.INTAKE_HOST}:${listener.port}: POST /hooks/<integration> for ${receiving.join(', ') || 'no integration'}; GET /health${env.METRICS_TOKEN ? '; GET /metrics' : ''}`,
  );

  onStopSignals(async (signal) => {
    console.log(`[intake] ${signal}: answering deliveries in flight, then exiting`);
    await Promise.race([listener.close(), new Promise((resolve) => setTimeout(resolve, 10_000))]);
    await boss.stop({ graceful: true, timeout: 5_000 }).catch(() => {});
    await telemetry.shutdown().catch(() => {});
    await disconnect(db);
  });
}

runMain(main);
