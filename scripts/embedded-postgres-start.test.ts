import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddedPostgresStartError, startEmbeddedPostgres, type EmbeddedDatabase } from './embedded-postgres';
import { freeListenerPort, localhostAddresses, loopbackPortFree, takenLoopbackAddresses } from './ports';

// A real embedded PostgreSQL started on ports another process holds: the reliability suites and the
// benchmarks start theirs on a free port, and a collision used to end in "Unknown Error: undefined".

let tmp: string;
let dir: string;
const held: Server[] = [];

/** Listens on `port` on both loopback addresses (one dual-stack socket), or on `host` only, as another server would. */
async function hold(port: number, host?: string): Promise<void> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(host ? { port, host } : { port, host: '::', ipv6Only: false }, resolve);
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

/** The server answers a query; stopped either way. */
async function expectServesThenStop(pg: EmbeddedDatabase): Promise<void> {
  try {
    expect(await selectOne(pg.adminUrl)).toBe(1);
  } finally {
    await pg.stop();
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

  it('says the port is in use, and where, when another process holds it', async () => {
    const port = await freeListenerPort();
    await hold(port);
    expect(await loopbackPortFree(port)).toBe(false);
    const error = await startEmbeddedPostgres({ dir, port, quiet: true, ephemeral: true }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EmbeddedPostgresStartError);
    const failed = error as EmbeddedPostgresStartError;
    expect(failed.portInUse).toBe(true);
    expect(failed.port).toBe(port);
    expect(failed.message).toContain(`could not listen on port ${port}`);
    const where = (await localhostAddresses()).map((host) => `${host} port ${port}`).join(' and ');
    expect(failed.message).toContain(`something else listens on ${where}`);
  });

  // Where `localhost` stands for both loopback addresses, PostgreSQL starts on ::1 alone with a
  // warning, and a client of its URL (`localhost`) reaches whatever holds 127.0.0.1: the dev
  // start's fixed port must be refused instead, before the server starts.
  it('refuses a port taken on one loopback address only, and starts nothing on the other', async () => {
    const port = await freeListenerPort();
    await hold(port, '127.0.0.1');
    expect(await takenLoopbackAddresses(port)).toEqual(['127.0.0.1']);
    const error = await startEmbeddedPostgres({ dir, port, quiet: true, ephemeral: true }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EmbeddedPostgresStartError);
    const failed = error as EmbeddedPostgresStartError;
    expect(failed.portInUse).toBe(true);
    expect(failed.message).toContain(`something else listens on 127.0.0.1 port ${port}`);
    expect(failed.message).not.toContain('::1');
    expect(await takenLoopbackAddresses(port)).toEqual(['127.0.0.1']);
  });

  it('starts beside a listener on ::1 only when `localhost` does not stand for ::1 here, and refuses it when it does', async () => {
    const port = await freeListenerPort();
    const ipv6 = await hold(port, '::1').then(
      () => true,
      () => false, // no IPv6 loopback on this machine: nothing to hold
    );
    const localhostHasIpv6 = (await localhostAddresses()).includes('::1');
    const started = await startEmbeddedPostgres({ dir, port, quiet: true, ephemeral: true }).catch((e: unknown) => e);
    if (ipv6 && localhostHasIpv6) {
      expect(started).toBeInstanceOf(EmbeddedPostgresStartError);
      expect((started as EmbeddedPostgresStartError).message).toContain(`something else listens on ::1 port ${port}`);
      return;
    }
    expect(started).not.toBeInstanceOf(Error);
    await expectServesThenStop(started as EmbeddedDatabase);
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
    expect(picked).toEqual([taken, free]);
    expect(pg.port).toBe(free);
    await expectServesThenStop(pg);
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
