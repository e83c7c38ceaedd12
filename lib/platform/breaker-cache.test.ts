import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { PgBoss } from 'pg-boss';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { connect, disconnect, type Database } from '../../db/client';
import { freshDatabase, type TestDatabase } from '../../test/db';
import type { ChildBreaker } from '../../test/fixtures/breaker-client-process';
import { json, startTestServer, type TestServer } from '../../test/fixtures/http-server';
import { sleep, startTestBoss } from '../../test/fixtures/platform';
import {
  acquireBreakerPermit,
  DEFAULT_BREAKER_FRESH_MS,
  forgetBreakerRead,
  getBreaker,
  openBreaker,
  resetBreaker,
} from './breaker';
import { defineIntegration, type IntegrationDefinition } from './contract';
import { CircuitOpenError, isCircuitOpenError } from './errors';
import { createHttpClient } from './http';
import { buildRegistry, syncRegistry } from './registry';

/**
 * The fresh closed read (breaker.ts): a process trusts a read that found the breaker closed with no
 * failures for min(freshMs, cooldown) instead of reading the row before every request. Real
 * PostgreSQL, real HTTP, and a second OS process (test/fixtures/breaker-client-process.ts) with its
 * own pool and its own remembered reads. A second pool in this process (`other`) stands for a third
 * process: remembered reads are per pool.
 */

const KEYS = ['bound', 'trial', 'local', 'quiet', 'untouched'];
const def = (key: string) =>
  defineIntegration({ name: `${key}-sync`, description: key, settings: z.object({}), breakerKey: key, async execute() { return {}; } }) as IntegrationDefinition;

let t: TestDatabase;
let other: Database;
let boss: PgBoss;
let server: TestServer;
let child: ChildProcess;
let childOutput = '';
let nextId = 1;
const pending = new Map<number, (reply: Record<string, unknown>) => void>();

beforeAll(async () => {
  t = await freshDatabase();
  other = connect(t.url, { max: 2, name: 'junction-test-other-process' });
  boss = await startTestBoss(t.url);
  await syncRegistry(t.db, { registry: buildRegistry(KEYS.map(def)) });
  server = await startTestServer(async (req, res) => {
    const p = req.path.split('?')[0];
    if (p === '/fail') return json(res, 500, { error: 'down' });
    if (p === '/slow') await sleep(1_000);
    json(res, 200, { ok: true });
  });
  child = spawn(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, '../../test/fixtures/breaker-client-process.ts')], {
    env: { ...process.env, DATABASE_URL: t.url },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  child.stdout!.on('data', (d) => (childOutput += d));
  child.stderr!.on('data', (d) => (childOutput += d));
  child.on('message', (reply: Record<string, unknown>) => {
    pending.get(reply.id as number)?.(reply);
    pending.delete(reply.id as number);
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`breaker client process did not start within 60 s:\n${childOutput}`)), 60_000);
    pending.set(0, () => {
      clearTimeout(timer);
      resolve();
    });
    child.on('exit', (code) => reject(new Error(`breaker client process exited with ${code}:\n${childOutput}`)));
  });
});
afterAll(async () => {
  if (child?.connected) {
    const exited = new Promise((resolve) => child.on('exit', resolve));
    child.send({ id: -1, cmd: 'exit' });
    await exited;
  }
  await boss?.stop({ graceful: false });
  await server?.close();
  if (other) await disconnect(other);
  await t?.drop();
});

/** Sends a command to the other process and waits for its reply. */
function inChild<T extends Record<string, unknown>>(command: Record<string, unknown>): Promise<T> {
  const id = nextId++;
  return new Promise<T>((resolve) => {
    pending.set(id, resolve as (reply: Record<string, unknown>) => void);
    child.send({ id, ...command });
  });
}

const client = (db: Database, key: string, cooldownMs: number, freshMs?: number) =>
  createHttpClient({
    correlationId: 'c',
    breaker: { db, boss, key, policy: { failures: 3, cooldownMs } },
    defaults: { retries: 0, ...(freshMs !== undefined ? { breakerFreshMs: freshMs } : {}) },
  });
/** 'sent' when an answer came back, 'refused' when the breaker sent nothing. */
const outcome = (request: Promise<Response>) =>
  request.then(
    async (r) => {
      await r.body?.cancel();
      return 'sent';
    },
    (e: unknown) => (isCircuitOpenError(e) ? 'refused' : `error: ${(e as Error).message}`),
  );
const get = (c: ReturnType<typeof client>, p: string) => outcome(c.request(`${server.url}${p}`, { throwOnError: false }));
const hits = (p: string) => server.requests.filter((r) => r.path === p).length;

describe('fresh closed reads of the shared breaker', () => {
  it('across processes: after another process opens the breaker, requests leave for at most the window after the last closed read, then none', async () => {
    const freshMs = 3_000;
    const breaker: ChildBreaker = { key: 'bound', cooldownMs: 60_000, freshMs };
    const warmed = await inChild<{ outcome: string; at: number }>({ cmd: 'get', breaker, url: `${server.url}/ok` });
    expect(warmed.outcome).toBe('sent');

    await openBreaker(t.db, { key: 'bound', by: 'op@example.com' });
    const openedAt = Date.now();
    const before = hits('/ok');
    const { results } = await inChild<{ results: { outcome: string; startedAt: number }[] }>({
      cmd: 'burst',
      breaker,
      url: `${server.url}/ok`,
      everyMs: 20,
      forMs: freshMs * 3,
    });
    const sent = results.filter((r) => r.outcome === 'sent');
    const refused = results.at(-1)!;
    console.log(
      `cross-process bound: read closed at +0 ms, opened at +${openedAt - warmed.at} ms; ${sent.length} requests left after the open, ` +
        `the last started at +${sent.at(-1) ? sent.at(-1)!.startedAt - warmed.at : '-'} ms; first refusal at +${refused.startedAt - warmed.at} ms (window ${freshMs} ms)`,
    );
    // The window is real (requests still left the other process after the open)...
    expect(sent.length).toBeGreaterThan(0);
    // ...and bounded: every one started within the window of the remembered read, then refusal.
    for (const r of sent) expect(r.startedAt).toBeLessThan(warmed.at + freshMs);
    expect(refused.outcome).toBe('refused');
    expect(refused.startedAt).toBeLessThan(warmed.at + freshMs + 1_000);
    expect(hits('/ok') - before).toBe(sent.length);
    // Still open: the requests of the window did not change the row.
    expect(await getBreaker(t.db, { key: 'bound' })).toMatchObject({ state: 'open', forcedOpen: true });
    await resetBreaker(t.db, { key: 'bound', by: 'op@example.com' });
  });

  it('the window never outlasts the cooldown: a half-open trial is exactly one request across processes', async () => {
    const cooldownMs = 400;
    expect(DEFAULT_BREAKER_FRESH_MS).toBeGreaterThan(cooldownMs);
    // Two processes read it closed with no failures (each remembers the read, default window)...
    const here = client(t.db, 'trial', cooldownMs);
    expect(await get(here, '/ok')).toBe('sent');
    const breaker: ChildBreaker = { key: 'trial', cooldownMs };
    expect((await inChild<{ outcome: string }>({ cmd: 'get', breaker, url: `${server.url}/ok` })).outcome).toBe('sent');

    // ...a third opens it with three failures...
    const third = client(other, 'trial', cooldownMs, 0);
    for (let i = 0; i < 3; i++) expect(await get(third, '/fail')).toBe('sent');
    const open = (await getBreaker(t.db, { key: 'trial' }))!;
    expect(open).toMatchObject({ state: 'open', consecutiveFailures: 3 });
    await sleep(Math.max(0, open.openUntil!.getTime() - Date.now()) + 50);

    // ...and after the cooldown ten requests from the two processes race: one trial, nine refused.
    const [mine, theirs] = await Promise.all([
      Promise.all(Array.from({ length: 5 }, () => get(here, '/slow'))),
      inChild<{ outcomes: string[] }>({ cmd: 'concurrent', breaker, url: `${server.url}/slow`, n: 5 }).then((r) => r.outcomes),
    ]);
    const all = [...mine, ...theirs];
    expect(all.filter((o) => o === 'sent')).toHaveLength(1);
    expect(all.filter((o) => o === 'refused')).toHaveLength(9);
    expect(hits('/slow')).toBe(1);
    expect(await getBreaker(t.db, { key: 'trial' })).toMatchObject({ state: 'closed', consecutiveFailures: 0 });
  });

  it('in one process: a failure it records, its own operator actions and a failing row make the next request read the row', async () => {
    const key = 'local';
    const here = client(t.db, key, 60_000, 5_000);
    const ok = () => get(here, '/ok');

    // Control: a remembered read is used within its window even after another process opens it.
    expect(await ok()).toBe('sent');
    await openBreaker(other, { key, by: 'op@example.com' });
    expect(await ok()).toBe('sent');
    await resetBreaker(other, { key, by: 'op@example.com' });

    // A failure recorded here forgets the read: after another process opens it, nothing is sent.
    expect(await get(here, '/fail')).toBe('sent');
    expect(await getBreaker(t.db, { key })).toMatchObject({ state: 'closed', consecutiveFailures: 1 });
    await openBreaker(other, { key, by: 'op@example.com' });
    let before = hits('/ok');
    expect(await ok()).toBe('refused');
    expect(hits('/ok')).toBe(before);
    await resetBreaker(other, { key, by: 'op@example.com' });

    // A closed row with failures is never remembered: its success resets the count, and the next
    // request reads the row again.
    expect(await get(here, '/fail')).toBe('sent');
    expect(await ok()).toBe('sent');
    expect(await getBreaker(t.db, { key })).toMatchObject({ state: 'closed', consecutiveFailures: 0 });
    await openBreaker(other, { key, by: 'op@example.com' });
    before = hits('/ok');
    expect(await ok()).toBe('refused');
    expect(hits('/ok')).toBe(before);
    await resetBreaker(other, { key, by: 'op@example.com' });

    // An operator's open through this process's own pool takes effect at once here.
    expect(await ok()).toBe('sent');
    await openBreaker(t.db, { key, by: 'op@example.com' });
    expect(await ok()).toBe('refused');
    await resetBreaker(t.db, { key, by: 'op@example.com' });

    // A read in flight while the read is forgotten (a failure being recorded) is not remembered.
    const inFlight = acquireBreakerPermit(t.db, { key, cooldownMs: 60_000, freshMs: 5_000 });
    forgetBreakerRead(t.db, key);
    expect((await inFlight).trial).toBe(false);
    await openBreaker(other, { key, by: 'op@example.com' });
    await expect(acquireBreakerPermit(t.db, { key, cooldownMs: 60_000, freshMs: 5_000 })).rejects.toBeInstanceOf(CircuitOpenError);
    await resetBreaker(other, { key, by: 'op@example.com' });
  });

  it('successes on a closed breaker with no failures write nothing, remembered or read', async () => {
    await resetBreaker(t.db, { key: 'quiet', by: 'op@example.com' });
    const row = (await getBreaker(t.db, { key: 'quiet' }))!;
    for (const freshMs of [0, undefined]) {
      const c = client(t.db, 'quiet', 60_000, freshMs);
      for (let i = 0; i < 10; i++) expect(await get(c, '/ok')).toBe('sent');
    }
    expect(await getBreaker(t.db, { key: 'quiet' })).toEqual(row);
    // No row at all (never failed): requests go out and create none.
    const c = client(t.db, 'untouched', 60_000);
    for (let i = 0; i < 5; i++) expect(await get(c, '/ok')).toBe('sent');
    expect(await getBreaker(t.db, { key: 'untouched' })).toBeNull();
  });
});
