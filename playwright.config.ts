import { defineConfig, devices } from '@playwright/test';

const PORT = Number(process.env.E2E_PORT ?? 3100);
export const baseURL = `http://localhost:${PORT}`;
export const METRICS_TOKEN = 'e2e-metrics-token-0123456789';
export const WORKER_METRICS_URL = `http://localhost:${PORT + 1003}/metrics`;
/** The dedicated intake listener (worker/intake.ts) the e2e server also runs: /hooks/ without Next.js. */
export const INTAKE_URL = `http://localhost:${PORT + 1004}`;

/**
 * End-to-end tests: real Chromium (Debian's, nothing downloaded) against the real production
 * build, a real worker, the sandbox identity provider and a fresh database (the machine's
 * PostgreSQL via TEST_DATABASE_URL, or an embedded one), all started by the product's own start script.
 */
export default defineConfig({
  testDir: './e2e',
  outputDir: './test-results/e2e',
  fullyParallel: false,
  workers: 1,
  retries: process.env.CI ? 1 : 0,
  timeout: 60_000,
  expect: { timeout: 15_000 },
  reporter: process.env.CI ? [['list'], ['html', { open: 'never', outputFolder: 'playwright-report' }]] : 'list',
  use: {
    baseURL,
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: [
        '--disable-gpu',
        '--disable-dev-shm-usage',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    },
  },
  projects: [{ name: 'chromium', use: { ...devices['Desktop Chrome'], viewport: { width: 1280, height: 800 } } }],
  webServer: {
    command: 'node --import tsx scripts/start.ts --prod --e2e',
    url: `${baseURL}/api/health`,
    timeout: 240_000,
    reuseExistingServer: false,
    stdout: 'pipe',
    stderr: 'pipe',
    gracefulShutdown: { signal: 'SIGTERM', timeout: 20_000 },
    env: {
      PORT: String(PORT),
      IDP_PORT: String(PORT + 1001),
      SANDBOX_PORT: String(PORT + 1000),
      SANDBOX_SMTP_PORT: String(PORT + 1002),
      // Metrics on (web: /api/metrics; worker: its own port), scraped by e2e/api/observability.spec.ts.
      METRICS_TOKEN: METRICS_TOKEN,
      METRICS_PORT: String(PORT + 1003),
      INTAKE_PORT: String(PORT + 1004),
      IDP_URL: `http://localhost:${PORT + 1001}`,
      SANDBOX_URL: `http://localhost:${PORT + 1000}`,
      NEXT_TELEMETRY_DISABLED: '1',
      // Fast clocks for the e2e run: short retry delays so retried runs finish within a test.
      JUNCTION_E2E: '1',
    },
  },
});
