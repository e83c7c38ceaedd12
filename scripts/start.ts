import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { connect, disconnect } from '../db/client';
import { applyMigrations } from '../db/migrate';
import { ConfigError, parseEnv } from '../lib/env';
import { loadKeyring } from '../lib/platform/governance/secrets';
import { verifySecretsKeys } from '../lib/platform/governance/secrets-key-check';
import { DEMO_PASSWORD, DEMO_USERS } from '../sandbox/idp';
import { productionBuildStaleness } from './build-freshness';
import { restartDecision, type ChildHistory } from './child-restart';
import { EmbeddedPostgresStartError, startEmbeddedPostgres, type EmbeddedDatabase } from './embedded-postgres';
import { seedDemoOnStart } from './seed-on-start';

/**
 * One command runs the whole product: database (embedded unless DATABASE_URL is set), migrations,
 * demo seed (once), then the sandbox (identity provider and external stand-ins), the worker and
 * the Next.js console as child processes, and the dedicated webhook intake listener when INTAKE_PORT
 * is set (a crash of it does not stop the rest: it is started again). Ctrl-C stops every child and
 * the embedded database.
 *
 *   npm run dev             development server (next dev)
 *   npm start               production build (built first when missing or older than a source) with next start
 *   --e2e                   a fresh throw-away database for end-to-end tests
 */

const args = new Set(process.argv.slice(2));
const prod = args.has('--prod');
const e2e = args.has('--e2e');
const root = path.resolve(import.meta.dirname, '..');
const dataDir = path.resolve(process.env.DATA_DIR ?? path.join(root, '.data'));

const children: { name: string; child: ChildProcess }[] = [];
let embedded: EmbeddedDatabase | undefined;
let tempDir: string | undefined;
let shuttingDown = false;

function log(message: string) {
  process.stdout.write(`[junction] ${message}\n`);
}

/** A value kept under .data/ so restarts keep sessions valid and secrets readable. */
function persistent(file: string, make: () => string): string {
  const full = path.join(dataDir, file);
  if (existsSync(full)) return readFileSync(full, 'utf8').trim();
  mkdirSync(dataDir, { recursive: true });
  const value = make();
  writeFileSync(full, `${value}\n`, { mode: 0o600 });
  return value;
}

/** In --e2e mode every child's output is also kept in a file, so tests can check what was logged. */
const logFile = e2e ? path.join(root, 'test-results', 'e2e-server.log') : undefined;

function prefixLines(name: string, stream: NodeJS.ReadableStream, out: NodeJS.WritableStream) {
  let buffer = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buffer += chunk;
    const lines = buffer.split('\n');
    buffer = lines.pop() ?? '';
    for (const line of lines) {
      out.write(`[${name}] ${line}\n`);
      if (logFile) appendFileSync(logFile, `[${name}] ${line}\n`);
    }
  });
}

/** A child process, started again or not when it exits on its own as restartDecision says. */
function startChild(
  name: string,
  command: string,
  argv: string[],
  env: NodeJS.ProcessEnv,
  options: { optional?: boolean; restartAfterRunningMs?: number } = {},
  history: ChildHistory = { restarted: false, quickExits: 0 },
) {
  // Own process group, so shutdown reaches grandchildren (next dev forks) too.
  const child = spawn(command, argv, { cwd: root, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const startedAt = Date.now();
  prefixLines(name, child.stdout!, process.stdout);
  prefixLines(name, child.stderr!, process.stderr);
  const entry = { name, child };
  child.on('exit', (code, signal) => {
    if (shuttingDown) return;
    const decision = restartDecision(options, history, Date.now() - startedAt);
    if (decision.restart) {
      const { next } = decision;
      log(
        `${name} exited (${signal ?? `code ${code}`}) ${decision.why}; starting it again in ${RESTART_DELAY_MS / 1000} s (the console keeps running)`,
      );
      setTimeout(() => {
        if (shuttingDown) return;
        children.splice(children.indexOf(entry), 1);
        startChild(name, command, argv, env, options, next);
      }, RESTART_DELAY_MS).unref();
      return;
    }
    log(`${name} exited (${signal ?? `code ${code}`})${decision.why}; stopping everything`);
    void shutdown(1);
  });
  children.push(entry);
}

/** A worker or sandbox that ran this long before it exited is started again (startChild). */
const RESTART_AFTER_RUNNING_MS = 30_000;
const RESTART_DELAY_MS = 2_000;

/**
 * TypeScript processes run as `node --import tsx <file>`, not through the `tsx` command: that one
 * is a parent process relaying signals to its child, and when the child has not acknowledged a
 * signal within 30 ms, twice, it SIGKILLs it. Under load a Ctrl-C then killed this script before
 * its shutdown (CI: the web server and the sandbox were left running) and a SIGTERM could kill a
 * worker before it released its runs. With the loader in the process itself, the signal is ours.
 */
const TS_LOADER = ['--import', 'tsx'];

function signalGroup(child: ChildProcess, signal: NodeJS.Signals) {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

async function shutdown(code: number) {
  if (shuttingDown) return;
  shuttingDown = true;
  log('stopping…');
  const alive = children.filter(({ child }) => child.exitCode === null && child.signalCode === null);
  for (const { child } of alive) signalGroup(child, 'SIGTERM');
  await Promise.race([
    Promise.all(alive.map(({ child }) => new Promise((resolve) => child.once('exit', resolve)))),
    new Promise((resolve) => setTimeout(resolve, 15_000)),
  ]);
  for (const { child } of alive) signalGroup(child, 'SIGKILL');
  if (embedded) {
    await embedded.stop().catch((error) => log(`embedded PostgreSQL did not stop cleanly: ${(error as Error).message}`));
  }
  if (tempDir) rmSync(tempDir, { recursive: true, force: true });
  log('stopped');
  process.exit(code);
}

/** Whether a process of this machine runs with that pid (EPERM: it does, as another user). */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The database URL: a throw-away one for --e2e, DATABASE_URL, or the embedded server on `embeddedPort` (EMBEDDED_PG_PORT). */
async function resolveDatabase(embeddedPort: number): Promise<string> {
  if (e2e) {
    if (process.env.TEST_DATABASE_URL) {
      const name = `junction_e2e_${process.pid}`;
      const admin = postgres(process.env.TEST_DATABASE_URL, { max: 1, onnotice: () => {} });
      // A run's database outlives it (one was left per CI run on the shared server): each run
      // drops those of earlier runs whose process is gone, which holds however a server ended.
      const left = await admin<{ datname: string }[]>`select datname from pg_database where datname ~ '^junction_e2e_[0-9]+$'`;
      for (const { datname } of left) {
        const pid = Number(datname.slice('junction_e2e_'.length));
        if (pid !== process.pid && !processAlive(pid)) await admin.unsafe(`drop database if exists ${datname} with (force)`);
      }
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.unsafe(`create database ${name}`);
      await admin.end();
      const url = new URL(process.env.TEST_DATABASE_URL);
      url.pathname = `/${name}`;
      return url.toString();
    }
    tempDir = mkdtempSync(path.join(os.tmpdir(), 'junction-e2e-'));
    embedded = await startEmbeddedPostgres({
      dir: path.join(tempDir, 'pg'),
      quiet: true,
      ephemeral: true,
    });
    const admin = postgres(embedded.adminUrl, { max: 1, onnotice: () => {} });
    await admin.unsafe('create database junction');
    await admin.end();
    return embedded.urlFor('junction');
  }
  if (process.env.DATABASE_URL) return process.env.DATABASE_URL;
  const started = Date.now();
  embedded = await startEmbeddedPostgres({ dir: path.join(dataDir, 'pg'), port: embeddedPort }).catch((error: unknown) => {
    if (!(error instanceof EmbeddedPostgresStartError && error.portInUse)) throw error;
    throw new Error(`${error.message}\nSet EMBEDDED_PG_PORT to a free port, or DATABASE_URL to a PostgreSQL of your own.`);
  });
  if (embedded.created) {
    const admin = postgres(embedded.adminUrl, { max: 1, onnotice: () => {} });
    await admin.unsafe('create database junction');
    await admin.end();
  }
  log(
    `embedded PostgreSQL ${embedded.created ? 'created' : 'reused'} under ${path.relative(root, dataDir) || dataDir}/pg in ${Date.now() - started} ms`,
  );
  return embedded.urlFor('junction');
}

async function waitForHealth(appUrl: string, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let last = 0;
  while (Date.now() < deadline && !shuttingDown) {
    try {
      const res = await fetch(`${appUrl}/api/health`, { signal: AbortSignal.timeout(30_000) });
      last = res.status;
      if (res.status === 200) return 200;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
  return last;
}

async function main() {
  // Validate the whole environment before starting anything: one line names a bad variable.
  const base = parseEnv(process.env);
  const port = base.PORT;
  const appUrl = `http://localhost:${port}`;
  const idpPort = Number(process.env.IDP_PORT ?? new URL(base.IDP_URL).port);
  const sandboxPort = Number(process.env.SANDBOX_PORT ?? new URL(base.SANDBOX_URL).port);
  // The processes started below get these URLs (env); this one takes them too, before it seeds:
  // code it loads may read them (the integrations' default settings read SANDBOX_URL when loaded).
  const serviceUrls = { IDP_URL: `http://localhost:${idpPort}`, SANDBOX_URL: `http://localhost:${sandboxPort}` };
  Object.assign(process.env, serviceUrls);

  process.on('SIGINT', () => void shutdown(0));
  process.on('SIGTERM', () => void shutdown(0));
  if (logFile) {
    mkdirSync(path.dirname(logFile), { recursive: true });
    writeFileSync(logFile, '');
  }

  const databaseUrl = await resolveDatabase(base.EMBEDDED_PG_PORT);
  if (e2e) {
    // The Playwright process seeds and checks this database directly.
    mkdirSync(path.join(root, 'test-results'), { recursive: true });
  }
  const db = connect(databaseUrl, { max: 2, name: 'junction-start' });
  if (base.JUNCTION_MIGRATE_ON_START) await applyMigrations(db);
  const secretsKey =
    base.JUNCTION_SECRETS_KEY ??
    (e2e ? randomBytes(32).toString('base64') : persistent('secrets.key', () => randomBytes(32).toString('base64')));
  const keyring = loadKeyring({
    JUNCTION_SECRETS_KEY: secretsKey,
    JUNCTION_SECRETS_KEY_ID: base.JUNCTION_SECRETS_KEY_ID,
    JUNCTION_SECRETS_OLD_KEYS: base.JUNCTION_SECRETS_OLD_KEYS,
  });
  // A wrong key stops start-up before the seed (or anything else) writes.
  await verifySecretsKeys(db, keyring);
  const seeded = await seedDemoOnStart(db, { keyring, sandboxUrl: serviceUrls.SANDBOX_URL, appUrl });
  if (seeded) log('demo data seeded');
  await disconnect(db);

  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NEXT_TELEMETRY_DISABLED: '1',
    NODE_ENV: prod ? 'production' : 'development',
    DATABASE_URL: databaseUrl,
    PORT: String(port),
    APP_URL: appUrl,
    ...serviceUrls,
    AUTH_SECRET:
      base.AUTH_SECRET ?? (e2e ? randomBytes(33).toString('base64') : persistent('auth-secret', () => randomBytes(33).toString('base64'))),
    JUNCTION_SECRETS_KEY: secretsKey,
    // The audit anchors' signing key and directory: like the other keys, kept under the data folder
    // in development (the database never holds them), new for every end-to-end run.
    JUNCTION_AUDIT_KEY:
      base.JUNCTION_AUDIT_KEY ??
      (e2e ? randomBytes(32).toString('base64') : persistent('audit.key', () => randomBytes(32).toString('base64'))),
    JUNCTION_AUDIT_ANCHOR_DIR:
      base.JUNCTION_AUDIT_ANCHOR_DIR ??
      (e2e ? path.join(root, 'test-results', `audit-anchors-${process.pid}`) : path.join(dataDir, 'audit-anchors')),
    AUTH_TRUST_HOST: 'true',
  };
  // The children re-validate the same environment; fail here first with the same message.
  parseEnv(env);
  if (e2e) {
    // The Playwright process seeds and checks this database directly, and may start extra workers.
    mkdirSync(path.join(root, 'test-results'), { recursive: true });
    writeFileSync(
      path.join(root, 'test-results', 'e2e-state.json'),
      JSON.stringify({
        databaseUrl,
        sandboxUrl: env.SANDBOX_URL,
        appUrl,
        secretsKey: env.JUNCTION_SECRETS_KEY,
        authSecret: env.AUTH_SECRET,
        auditKey: env.JUNCTION_AUDIT_KEY,
        auditAnchorDir: env.JUNCTION_AUDIT_ANCHOR_DIR,
      }),
    );
  }

  const bin = (name: string) => path.join(root, 'node_modules', '.bin', name);
  startChild('sandbox', process.execPath, [...TS_LOADER, 'sandbox/index.ts'], env, { restartAfterRunningMs: RESTART_AFTER_RUNNING_MS });
  startChild('worker', process.execPath, [...TS_LOADER, 'worker/index.ts'], env, { restartAfterRunningMs: RESTART_AFTER_RUNNING_MS });
  if (prod) {
    // The worker runs the sources as they are now: a console built before an integration was
    // added or renamed would not know it (no settings form, no credentials on its pages).
    const stale = productionBuildStaleness(root);
    if (stale) {
      log(`${stale}: running next build (a few minutes on 2 cores)…`);
      const build = spawn(bin('next'), ['build'], { cwd: root, env: { ...env }, stdio: 'inherit' });
      const code = await new Promise<number>((resolve) => build.on('exit', (c) => resolve(c ?? 1)));
      if (code !== 0) throw new Error('next build failed; see the output above');
    }
    startChild('web', bin('next'), ['start', '-p', String(port)], env);
  } else {
    startChild('web', bin('next'), ['dev', '-p', String(port)], env);
  }

  if (base.INTAKE_PORT !== undefined) {
    // The dedicated intake listener (worker/intake.ts): /hooks/ without Next.js, for event rates.
    startChild('intake', process.execPath, [...TS_LOADER, 'worker/intake.ts'], env, { optional: true });
  }

  const status = await waitForHealth(appUrl, 180_000);
  if (shuttingDown) return;
  const users = DEMO_USERS.map((u) => `    ${u.username.padEnd(6)} ${u.role.padEnd(8)} ${u.name}`).join('\n');
  const signIn = base.OIDC_ISSUER
    ? `  Sign in with your identity provider (${base.OIDC_ISSUER}).`
    : `  Demo sign-ins (local identity provider, password "${DEMO_PASSWORD}"):\n${users}`;
  log(
    `\n\n  Junction is ${status === 200 ? 'running' : `up but not healthy yet (health answered ${status || 'nothing'})`}: ${appUrl}\n${signIn}\n` +
      `  Sandbox systems: http://localhost:${sandboxPort}   Health: ${appUrl}/api/health\n` +
      (base.INTAKE_PORT !== undefined
        ? `  Webhook intake listener: http://localhost:${base.INTAKE_PORT}/hooks/<integration>   Health: http://localhost:${base.INTAKE_PORT}/health\n`
        : '') +
      `  Ctrl-C stops everything.\n`,
  );
}

main().catch(async (error) => {
  if (error instanceof ConfigError) {
    console.error(error.message);
    if (embedded) await embedded.stop().catch(() => {});
    if (tempDir) rmSync(tempDir, { recursive: true, force: true });
    process.exit(1);
  }
  console.error('[junction] start-up failed:', error instanceof Error ? error.message : error);
  await shutdown(1);
});
