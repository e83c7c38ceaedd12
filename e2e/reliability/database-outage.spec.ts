import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import { db, e2eState } from '../db';
import { expect, signIn, test } from '../fixtures';

/**
 * The console while its database is away, on the production build: a second `next start` of the
 * same build, signed in with the same session cookie, reaches the e2e database through a TCP proxy
 * this test cuts (existing connections dropped, new ones refused: what a stopped or unreachable
 * PostgreSQL looks like to the web server). The e2e server, its worker and every other test keep
 * their direct connection. Unit tests of the answers missed what this caught: in the production
 * bundle Drizzle's error class name is minified, so a session check the database refused was a 500
 * "something went wrong", and a page was Next.js's bare "This page couldn't load".
 */

const ROOT = path.join(import.meta.dirname, '..', '..');

/** A TCP proxy to the database that can be cut (connections dropped, port closed) and restored on the same port. */
async function cuttableProxy(target: { host: string; port: number }) {
  const sockets = new Set<net.Socket>();
  let server: net.Server | undefined;
  const listen = (port: number) =>
    new Promise<number>((resolve, reject) => {
      const s = net.createServer((client) => {
        const upstream = net.connect(target.port, target.host);
        sockets.add(client);
        sockets.add(upstream);
        const drop = () => {
          client.destroy();
          upstream.destroy();
          sockets.delete(client);
          sockets.delete(upstream);
        };
        client.on('error', drop).on('close', drop);
        upstream.on('error', drop).on('close', drop);
        client.pipe(upstream);
        upstream.pipe(client);
      });
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => resolve((s.address() as net.AddressInfo).port));
      server = s;
    });
  const port = await listen(0);
  return {
    port,
    async cut() {
      const closed = new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
      for (const socket of sockets) socket.destroy();
      sockets.clear();
      await closed;
    },
    async restore() {
      if (!server?.listening) await listen(port);
    },
  };
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as net.AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

test.describe.configure({ mode: 'serial' });

let web: ChildProcess | undefined;
let proxy: Awaited<ReturnType<typeof cuttableProxy>> | undefined;
let webUrl = '';
let webLog = '';

test.beforeAll(async () => {
  test.setTimeout(120_000);
  const state = e2eState();
  const database = new URL(state.databaseUrl);
  proxy = await cuttableProxy({ host: database.hostname, port: Number(database.port || 5432) });
  const proxied = new URL(state.databaseUrl);
  proxied.hostname = '127.0.0.1';
  proxied.port = String(proxy.port);
  const port = await freePort();
  webUrl = `http://localhost:${port}`;
  web = spawn(path.join(ROOT, 'node_modules', '.bin', 'next'), ['start', '-p', String(port)], {
    cwd: ROOT,
    env: {
      ...process.env,
      NODE_ENV: 'production',
      NEXT_TELEMETRY_DISABLED: '1',
      DATABASE_URL: proxied.toString(),
      JUNCTION_MIGRATE_ON_START: 'false',
      PORT: String(port),
      APP_URL: webUrl,
      IDP_URL: process.env.IDP_URL ?? `http://localhost:${Number(process.env.E2E_PORT ?? 3100) + 1001}`,
      SANDBOX_URL: state.sandboxUrl,
      AUTH_SECRET: state.authSecret,
      AUTH_TRUST_HOST: 'true',
      JUNCTION_SECRETS_KEY: state.secretsKey,
      JUNCTION_AUDIT_KEY: state.auditKey,
      JUNCTION_AUDIT_ANCHOR_DIR: state.auditAnchorDir,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  web.stdout?.on('data', (chunk: Buffer) => (webLog += chunk.toString()));
  web.stderr?.on('data', (chunk: Buffer) => (webLog += chunk.toString()));
  await expect
    .poll(
      async () => {
        try {
          return (await fetch(`${webUrl}/api/health`)).status;
        } catch {
          return 0;
        }
      },
      { timeout: 90_000, message: `the second web server did not start:\n${webLog.slice(-2000)}` },
    )
    .toBe(200);
});

test.afterAll(async () => {
  await proxy?.restore().catch(() => {});
  if (web && web.exitCode === null) {
    const exited = new Promise((resolve) => web!.once('exit', resolve));
    web.kill('SIGTERM');
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
    if (web.exitCode === null) web.kill('SIGKILL');
  }
});

test('with the database cut, pages say so and come back by themselves, the API and actions answer 503, and nobody is signed out', async ({
  page,
}) => {
  test.setTimeout(120_000);
  // Signed in on the e2e server; the cookie (host localhost, any port) signs the second one in too.
  await signIn(page, 'oscar');
  await page.goto(`${webUrl}/integrations/crm-sync`);
  await expect(page.getByTestId('current-user')).toContainText('operator');
  await expect(page.getByRole('button', { name: 'Pause' })).toBeVisible();
  const pausesBefore = (await db()<{ paused: boolean }[]>`select paused from integrations where name = 'crm-sync'`)[0].paused;

  await proxy!.cut();

  // An action from a page loaded before the outage: refused as an outage, nothing changed.
  await page.getByRole('button', { name: 'Pause' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Pause' }).click();
  await expect(page.locator('[data-sonner-toast]')).toContainText(
    /Junction's database is not answering \(ref [0-9a-f-]+\)\. Try again in a minute/,
  );

  // The JSON API: 503 with Retry-After and a reference, not "something went wrong".
  const api = await page.request.get(`${webUrl}/api/runs`);
  expect(api.status()).toBe(503);
  expect(api.headers()['retry-after']).toBe('30');
  expect((await api.json()) as { error: string }).toMatchObject({ error: expect.stringMatching(/database is not answering \(ref /) });

  // A page: what failed and what happens next, still signed in (no redirect to sign-in).
  const response = await page.goto(`${webUrl}/runs`);
  expect(response?.status()).toBeGreaterThanOrEqual(500);
  await expect(page).toHaveURL(`${webUrl}/runs`);
  const alert = page.getByTestId('page-error');
  await expect(alert.getByRole('heading', { name: "Junction's database is not answering" })).toBeVisible();
  await expect(alert).toContainText('You are still signed in');
  await expect(alert).toContainText(/tries again by itself in \d+ s/);
  await expect(alert.getByTestId('error-reference')).toHaveText(/^[0-9a-f]{8}$/);
  const reference = await alert.getByTestId('error-reference').innerText();
  await expect.poll(() => webLog, { message: 'the reference shown is in the server log' }).toContain(reference);

  // The sign-in page does not pretend the visitor is signed out.
  await page.goto(`${webUrl}/signin`);
  await expect(page.getByRole('heading', { name: "Junction's database is not answering" })).toBeVisible();

  // Back on the runs page, the database returns: the page recovers on its own, without a reload.
  await page.goto(`${webUrl}/runs`);
  await expect(page.getByTestId('page-error')).toBeVisible();
  await page.evaluate(() => ((window as unknown as { __sameDocument: boolean }).__sameDocument = true));
  await proxy!.restore();
  await expect(page.getByRole('heading', { name: 'Runs', exact: true })).toBeVisible({ timeout: 45_000 });
  await expect(page.getByTestId('page-error')).toHaveCount(0);
  expect(await page.evaluate(() => (window as unknown as { __sameDocument?: boolean }).__sameDocument)).toBe(true);
  await expect(page.getByTestId('current-user')).toContainText('operator');

  // The refused pause changed nothing.
  expect((await db()<{ paused: boolean }[]>`select paused from integrations where name = 'crm-sync'`)[0].paused).toBe(pausesBefore);
});

test('a live view says its updates are paused while the database is away, and goes live again', async ({ page }) => {
  test.setTimeout(120_000);
  // An active run that holds nobody up: requested tomorrow, so no run of today waits for its turn
  // behind it, and without a job, so no worker takes it.
  const [{ id }] = await db()<{ id: string }[]>`
    insert into runs (integration, trigger, triggered_by, correlation_id, max_attempts, created_at)
    values ('accounting-export', 'manual', 'e2e', ${randomUUID()}, 4, now() + interval '1 day') returning id`;
  try {
    await signIn(page, 'oscar');
    await page.goto(`${webUrl}/runs/${id}`);
    const live = page.getByText('live', { exact: true });
    await expect(live).toBeVisible();

    await proxy!.cut();
    await expect(page.getByTestId('live-paused')).toContainText(
      /^Live updates paused: Junction's database is not answering \(ref [0-9a-f-]+\)\..* Showing the last known state; trying again\.$/,
      { timeout: 30_000 },
    );
    await expect(live).toHaveCount(0);

    await proxy!.restore();
    await expect(page.getByTestId('live-paused')).toHaveCount(0, { timeout: 30_000 });
    await expect(live).toBeVisible();
  } finally {
    await proxy!.restore();
    await db()`delete from runs where id = ${id}`;
  }
});
