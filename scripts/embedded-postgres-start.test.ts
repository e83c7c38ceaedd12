import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddedPostgresStartError, startEmbeddedPostgres } from './embedded-postgres';
import { freeListenerPort, loopbackPortFree } from './ports';

// A real embedded PostgreSQL started on ports another process holds: the reliability suites and the
// benchmarks start theirs on a free port, and a collision used to end in "Unknown Error: undefined".

let tmp: string;
let dir: string;
const held: Server[] = [];

/** Listens on `port` on both loopback addresses (one dual-stack socket), as another server would. */
async function hold(port: number): Promise<void> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host: '::', ipv6Only: false }, resolve);
  });
  held.push(server);
}

async function selectOne(url: string): Promise<number> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const [row] = await sql<{ one: number }[]>`select 1 as one`;
    return row!.one;
  } finally {
    await sql.end();
  }
}

beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'junction-embedded-'));
  dir = path.join(tmp, 'pg');
});

afterAll(async () => {
  for (const server of held) await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(tmp, { recursive: true, force: true });
});

describe('embedded PostgreSQL on a port of its own', () => {
  it('picks a free port below the outgoing range and comes back on it after a stop', async () => {
    const pg = await startEmbeddedPostgres({ dir, quiet: true, ephemeral: true });
    try {
      expect(pg.port).toBeLessThan(32_768);
      expect(await loopbackPortFree(pg.port)).toBe(false);
      expect(await selectOne(pg.adminUrl)).toBe(1);
      await pg.stop();
      expect(await loopbackPortFree(pg.port)).toBe(true);
      const again = await startEmbeddedPostgres({ dir, port: pg.port, quiet: true, ephemeral: true });
      expect(again.created).toBe(false);
      expect(await selectOne(again.adminUrl)).toBe(1);
      await again.stop();
    } finally {
      await pg.stop().catch(() => {});
    }
  });

  it('says the port is in use, with the server’s own words, when another process holds it', async () => {
    const port = await freeListenerPort();
    await hold(port);
    expect(await loopbackPortFree(port)).toBe(false);
    const error = await startEmbeddedPostgres({ dir, port, quiet: true, ephemeral: true }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EmbeddedPostgresStartError);
    const failed = error as EmbeddedPostgresStartError;
    expect(failed.portInUse).toBe(true);
    expect(failed.port).toBe(port);
    expect(failed.message).toContain(`could not listen on port ${port}`);
    expect(failed.message).toMatch(/Address already in use/);
  });

  it('picks another port when the one it picked is taken before the server binds it', async () => {
    const taken = await freeListenerPort();
    await hold(taken);
    const free = await freeListenerPort();
    const picked: number[] = [];
    const ports = [taken, free];
    const pg = await startEmbeddedPostgres({ dir, quiet: true, ephemeral: true }, async () => {
      const port = ports[picked.length]!;
      picked.push(port);
      return port;
    });
    try {
      expect(picked).toEqual([taken, free]);
      expect(pg.port).toBe(free);
      expect(await selectOne(pg.adminUrl)).toBe(1);
    } finally {
      await pg.stop();
    }
  });

  it('gives up after five taken ports, saying so', async () => {
    const taken = await freeListenerPort();
    await hold(taken);
    let picks = 0;
    const error = await startEmbeddedPostgres({ dir, quiet: true, ephemeral: true }, async () => {
      picks++;
      return taken;
    }).catch((e: unknown) => e);
    expect(picks).toBe(5);
    expect(error).toBeInstanceOf(EmbeddedPostgresStartError);
    expect((error as EmbeddedPostgresStartError).portInUse).toBe(true);
  });

  it('does not retry a server that fails for another reason, and shows why it failed', async () => {
    appendFileSync(path.join(dir, 'postgresql.auto.conf'), "\nmax_connections = 'lots'\n");
    let picks = 0;
    const error = await startEmbeddedPostgres({ dir, quiet: true, ephemeral: true }, async () => {
      picks++;
      return freeListenerPort();
    }).catch((e: unknown) => e);
    expect(picks).toBe(1);
    expect(error).toBeInstanceOf(EmbeddedPostgresStartError);
    const failed = error as EmbeddedPostgresStartError;
    expect(failed.portInUse).toBe(false);
    expect(failed.message).toContain('ended before it was ready');
    expect(failed.message).toMatch(/max_connections/);
  });
});
