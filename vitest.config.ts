import path from 'node:path';
import { defineConfig } from 'vitest/config';

/**
 * Three tiers (Vitest projects), run by `npm test` one after the other:
 * - unit (`npm run test:unit`): pure tests, no database: no TEST_DATABASE_URL needed and no
 *   embedded PostgreSQL started (this project has no global setup). A test file that needs the
 *   database fails here with a message saying to take it off this list.
 * - db (`npm run test:db`): every other test file, each on its own fresh database.
 * - reliability (`npm run test:reliability`): the long suites (worker kills, database restart,
 *   chaos, outages) whose figures the README reports.
 * Any test file can still be run alone: `npx vitest run path/to/file.test.ts`.
 */

const UNIT = [
  'components/alerts/incident-summary.test.ts',
  'components/config/config-draft.test.ts',
  'components/lib/fetch-json.test.ts',
  'lib/auth/callback-path.test.ts',
  'proxy.test.ts',
  'lib/auth/roles.test.ts',
  'lib/env.test.ts',
  'lib/platform/alerts/event-schema.test.ts',
  'lib/platform/alerts/messages.test.ts',
  'lib/platform/alerts/transports.test.ts',
  'lib/platform/alerts/webhook-url.test.ts',
  'lib/platform/governance/audit-words.test.ts',
  'lib/platform/intake/http.test.ts',
  'lib/platform/intake/signature.test.ts',
  'lib/platform/triggers/cron.test.ts',
  'lib/platform/triggers/cron-dst.test.ts',
  'lib/platform/governance/crypto.test.ts',
  'lib/platform/duration.test.ts',
  'lib/platform/params.test.ts',
  'lib/platform/read-models/retry-caution.test.ts',
  'lib/platform/errors.test.ts',
  'lib/platform/execution/boss.test.ts',
  'lib/platform/redaction.test.ts',
  'lib/platform/resilience/http.test.ts',
  'lib/platform/resilience/internal-address.test.ts',
  'lib/platform/mapping/compile.test.ts',
  'lib/platform/mapping/diff.test.ts',
  'lib/platform/mapping/mapping.test.ts',
  'lib/platform/mapping/hostile.test.ts',
  'lib/platform/mapping/targets.test.ts',
  'lib/platform/resilience/oauth2.test.ts',
  'lib/platform/resilience/breaker-text.test.ts',
  'lib/server/answers.test.ts',
  'lib/server/params.test.ts',
  'lib/server/read-body.test.ts',
  'lib/server/route.test.ts',
  'lib/platform/run-status.test.ts',
  'lib/platform/read-models/run-text.test.ts',
  'lib/platform/triggers/trigger-text.test.ts',
  'lib/platform/words.test.ts',
  'sandbox/**/*.test.ts',
  'scripts/build-freshness.test.ts',
  'scripts/child-restart.test.ts',
  'scripts/embedded-postgres.test.ts',
  'test/architecture.test.ts',
  'test/fixtures/wait.test.ts',
];

const RELIABILITY = [
  'test/reliability/**/*.test.ts',
  'lib/integrations/accounting-export/worker-restart.test.ts',
  'lib/integrations/accounting-export/outage.test.ts',
  'lib/integrations/accounting-export/edit-after-kill.test.ts',
  'lib/integrations/accounting-export/edit-during-outage.test.ts',
  'test/reliability/webhook-storm.test.ts',
];

const NEVER = ['node_modules/**', 'e2e/**', '.next/**', '.data/**'];
const DATABASE = { globalSetup: ['test/global-setup.ts'] };

export default defineConfig({
  resolve: { alias: { '@': path.resolve(import.meta.dirname) } },
  test: {
    testTimeout: 60_000,
    // next-auth imports 'next/server' without an extension, which Node's ESM loader refuses: let Vite resolve it.
    server: { deps: { inline: ['next-auth'] } },
    hookTimeout: 120_000,
    pool: 'forks',
    fileParallelism: true,
    maxWorkers: 2,
    projects: [
      // Threads start faster than forks and these tests touch no process-wide state.
      { extends: true, test: { name: 'unit', include: UNIT, exclude: NEVER, pool: 'threads' } },
      { extends: true, test: { name: 'db', include: ['**/*.test.ts'], exclude: [...NEVER, ...UNIT, ...RELIABILITY], ...DATABASE } },
      { extends: true, test: { name: 'reliability', include: RELIABILITY, exclude: NEVER, ...DATABASE } },
    ],
  },
});
