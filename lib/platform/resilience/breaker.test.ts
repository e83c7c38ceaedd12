import { eq } from 'drizzle-orm';
import type { PgBoss } from 'pg-boss';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { breakers } from '../../../db/schema';
import { freshDatabase, type TestDatabase } from '../../../test/db';
import { json, startTestServer, type TestServer } from '../../../test/fixtures/http-server';
import { platformEvents, sleep, startTestBoss } from '../../../test/fixtures/platform';
import { defineIntegration, type IntegrationDefinition } from '../contract';
import { CircuitOpenError, HttpError, isCircuitOpenError, isTransientError } from '../errors';
import { buildRegistry, syncRegistry } from '../registry';
import { exactTime } from '../when';
import { acquireBreakerPermit, breakerDeferral, getBreaker, openBreaker, resetBreaker } from './breaker';
import { createHttpClient } from './http';

let t: TestDatabase;
let boss: PgBoss;
let server: TestServer;
let status = 500;

const def = (name: string) =>
  defineIntegration({
    name,
    description: name,
    settings: z.object({}),
    breakerKey: 'erp',
    async execute() {
      return {};
    },
  }) as IntegrationDefinition;

beforeAll(async () => {
  t = await freshDatabase();
  boss = await startTestBoss(t.url);
  await syncRegistry(t.db, { registry: buildRegistry([def('erp-export'), def('erp-import')]) });
  server = await startTestServer((_req, res) => json(res, status, { status }));
});
afterAll(async () => {
  await server.close();
  await boss.stop({ graceful: false });
  await t.drop();
});

const policy = { failures: 3, cooldownMs: 1_000 };
const client = () => createHttpClient({ correlationId: 'c', breaker: { db: t.db, boss, key: 'erp', policy }, defaults: { retries: 0 } });
const breaker = async () => (await getBreaker(t.db, { key: 'erp' }))!;

describe('shared circuit breaker', () => {
  it('counts 4xx as no failure and resets the count on success', async () => {
    status = 500;
    await client()
      .get(`${server.url}/a`)
      .catch(() => {});
    expect((await breaker()).consecutiveFailures).toBe(1);
    status = 404;
    await client()
      .get(`${server.url}/a`)
      .catch(() => {});
    expect(await breaker()).toMatchObject({ state: 'closed', consecutiveFailures: 0 });
  });

  it('opens after N consecutive transient failures and then sends nothing', async () => {
    status = 503;
    for (let i = 0; i < 3; i++)
      await client()
        .get(`${server.url}/fail`)
        .catch(() => {});
    const open = await breaker();
    expect(open).toMatchObject({ state: 'open', consecutiveFailures: 3 });
    expect(open.lastError).toBe(`GET ${server.url}/fail answered 503`);
    expect(open.openUntil!.getTime() - open.openedAt!.getTime()).toBe(1_000);

    const before = server.requests.length;
    const error = await client()
      .get(`${server.url}/blocked`)
      .catch((e: unknown) => e);
    expect(isCircuitOpenError(error)).toBe(true);
    expect((error as CircuitOpenError).retryAt.getTime()).toBe(open.openUntil!.getTime());
    // In words a person reads, with the time as the console writes it (before: ISO with milliseconds).
    expect((error as CircuitOpenError).message).toBe(
      `Circuit 'erp' is open until ${exactTime(open.openUntil!)}: no request was sent; the run continues after that`,
    );
    expect(server.requests.length).toBe(before);
    expect(await breakerDeferral(t.db, { key: 'erp', cooldownMs: 1_000 })).toEqual(open.openUntil);

    const [opened] = await platformEvents(t.db, 'breaker.opened');
    expect(opened).toMatchObject({
      breakerKey: 'erp',
      integrations: ['erp-export', 'erp-import'],
      error: `GET ${server.url}/fail answered 503`,
    });
  });

  it('after the cooldown lets exactly one trial through; a failed trial re-opens it', async () => {
    await sleep(1_100);
    status = 500;
    const before = server.requests.length;
    const results = await Promise.allSettled(Array.from({ length: 5 }, () => client().get(`${server.url}/trial`)));
    expect(server.requests.length - before).toBe(1);
    expect(results.filter((r) => r.status === 'rejected' && isCircuitOpenError(r.reason))).toHaveLength(4);
    expect(await breaker()).toMatchObject({ state: 'open', consecutiveFailures: 4, trialStartedAt: null });
    expect(await platformEvents(t.db, 'breaker.opened')).toHaveLength(2);
  });

  it('a successful trial closes it and emits breaker.closed', async () => {
    await sleep(1_100);
    status = 200;
    const response = await client().get(`${server.url}/recovered`);
    expect(response.status).toBe(200);
    // A 2xx counts as a success once its body is done with (read here; see 'broken bodies' below).
    expect(await response.json()).toEqual({ status: 200 });
    expect(await breaker()).toMatchObject({ state: 'closed', consecutiveFailures: 0, openUntil: null });
    const [closed] = await platformEvents(t.db, 'breaker.closed');
    expect(closed).toMatchObject({ breakerKey: 'erp', integrations: ['erp-export', 'erp-import'] });
  });

  it('a forced open holds until reset, whatever the cooldown', async () => {
    await openBreaker(t.db, { key: 'erp', by: 'op', boss });
    await sleep(1_100);
    const held = await acquireBreakerPermit(t.db, { key: 'erp', cooldownMs: 1_000 }).catch((e: unknown) => e);
    expect(held).toBeInstanceOf(CircuitOpenError);
    // Before: "open until <a second from now>: … the run continues after that", which never came true.
    expect((held as Error).message).toMatch(
      /^Circuit 'erp' was opened by hand and stays open until someone resets it: no request was sent; the run waits \(it looks again at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\)$/,
    );
    await resetBreaker(t.db, { key: 'erp', by: 'op', boss });
    const permit = await acquireBreakerPermit(t.db, { key: 'erp', cooldownMs: 1_000 });
    expect(permit.trial).toBe(false);
    const [row] = await t.db.select().from(breakers).where(eq(breakers.key, 'erp'));
    expect(row.state).toBe('closed');
    expect((await platformEvents(t.db, 'breaker.closed')).length).toBe(2);
  });

  it('a request that was sent and failed throws its own error when its retry finds the breaker open', async () => {
    // The request's own tries open the breaker (2 failures), or its half-open trial fails and
    // re-opens it: either way a request went out, so the attempt failed. A circuit-open error
    // here recorded it as deferred ("no request was sent") and never used up the run's attempts.
    const retrying = (failures: number) =>
      createHttpClient({
        correlationId: 'c',
        breaker: { db: t.db, boss, key: 'erp', policy: { failures, cooldownMs: 1_000 } },
        defaults: { retries: 2, backoffBaseMs: 10, backoffMaxMs: 20 },
      });
    // The test above left it closed (a reset here would be refused: nothing to reset).
    expect(await breaker()).toMatchObject({ state: 'closed', consecutiveFailures: 0, forcedOpen: false });
    status = 503;
    const before = server.requests.length;
    const opened = await retrying(2)
      .get(`${server.url}/opens`)
      .catch((e: unknown) => e);
    expect(server.requests.length - before).toBe(2);
    expect(await breaker()).toMatchObject({ state: 'open' });
    expect(opened).toBeInstanceOf(HttpError);
    expect(isTransientError(opened)).toBe(true);
    expect((opened as HttpError).status).toBe(503);

    await sleep(1_100);
    const trial = await retrying(3)
      .get(`${server.url}/trial-fails`)
      .catch((e: unknown) => e);
    expect(server.requests.length - before).toBe(3);
    expect(await breaker()).toMatchObject({ state: 'open' });
    expect(trial).toBeInstanceOf(HttpError);
    expect((trial as HttpError).status).toBe(503);

    // Nothing sent at all: still a circuit-open error, and the attempt is deferred.
    const refused = await retrying(3)
      .get(`${server.url}/refused`)
      .catch((e: unknown) => e);
    expect(isCircuitOpenError(refused)).toBe(true);
    expect(server.requests.length - before).toBe(3);
  });
});

describe('shared circuit breaker and broken bodies', () => {
  it('counts a body that stalls after a 200 as a transient failure, and neither a too-large body nor a redirect loop', async () => {
    const stalled = new Set<import('node:http').ServerResponse>();
    const broken = await startTestServer((req, res) => {
      if (req.path === '/stall') {
        stalled.add(res);
        res.writeHead(200, { 'content-type': 'application/json' });
        return res.write('{');
      }
      if (req.path === '/big') return json(res, 200, { data: 'x'.repeat(10_000) });
      res.writeHead(302, { location: '/loop' });
      res.end();
    });
    try {
      const key = 'erp-bodies';
      const http = createHttpClient({
        correlationId: 'c',
        breaker: { db: t.db, boss, key, policy },
        defaults: { retries: 0, timeoutMs: 300, maxResponseBytes: 1_000 },
      });
      const stall = await http.getJson(`${broken.url}/stall`).catch((e: unknown) => e);
      expect((stall as Error).message).toBe(`GET ${broken.url}/stall timed out after 300 ms`);
      expect(await getBreaker(t.db, { key })).toMatchObject({
        state: 'closed',
        consecutiveFailures: 1,
        lastError: `GET ${broken.url}/stall timed out after 300 ms`,
      });

      const big = await http.getJson(`${broken.url}/big`).catch((e: unknown) => e);
      expect((big as Error).message).toMatch(/larger than the 1000-byte limit/);
      const loop = await http.get(`${broken.url}/loop`).catch((e: unknown) => e);
      expect((loop as Error).message).toMatch(/redirected more than 10 times/);
      // The 200 of /big reset the count; neither refusal counted.
      expect(await getBreaker(t.db, { key })).toMatchObject({ state: 'closed', consecutiveFailures: 0 });
    } finally {
      for (const res of stalled) res.destroy();
      await broken.close();
    }
  });

  it('counts each 200 whose body stalls once, as a failure: N of them open the breaker at its threshold exactly, and a stalled trial re-opens it', async () => {
    // The success was counted when the headers arrived, then the failure when the body timed out:
    // the success reset the count each time, so a server that always stalls never opened the
    // breaker (its count stuck at 1), and a stalled half-open trial closed it.
    const stalled = new Set<import('node:http').ServerResponse>();
    let stalling = true;
    const api = await startTestServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      if (!stalling) return res.end('{"items":[]}');
      stalled.add(res);
      res.write('{"items":[');
    });
    try {
      const key = 'erp-stalls';
      const http = createHttpClient({
        correlationId: 'c',
        breaker: { db: t.db, boss, key, policy },
        defaults: { retries: 0, timeoutMs: 300 },
      });
      const timedOut = `GET ${api.url}/page timed out after 300 ms`;
      const stall = async () => {
        const response = await http.get(`${api.url}/page`);
        return response.json().catch((e: unknown) => e);
      };
      for (let i = 1; i < policy.failures; i++) {
        expect(((await stall()) as Error).message).toBe(timedOut);
        expect(await getBreaker(t.db, { key })).toMatchObject({ state: 'closed', consecutiveFailures: i, lastError: timedOut });
      }
      expect(((await stall()) as Error).message).toBe(timedOut);
      expect(await getBreaker(t.db, { key })).toMatchObject({ state: 'open', consecutiveFailures: policy.failures });
      const opened = (await platformEvents(t.db, 'breaker.opened')).filter((e) => e.breakerKey === key);
      expect(opened).toHaveLength(1);
      expect(isCircuitOpenError(await http.get(`${api.url}/page`).catch((e: unknown) => e))).toBe(true);

      // The half-open trial stalls too: it re-opens the breaker, it does not close it.
      await sleep(1_100);
      expect(((await stall()) as Error).message).toBe(timedOut);
      expect(await getBreaker(t.db, { key })).toMatchObject({ state: 'open', consecutiveFailures: policy.failures + 1 });
      expect((await platformEvents(t.db, 'breaker.closed')).filter((e) => e.breakerKey === key)).toEqual([]);

      // A trial whose body the handler never reads counts as a success when its next request
      // leaves (it moved on): the breaker closes, and that request goes out.
      await sleep(1_100);
      stalling = false;
      const unread = await http.get(`${api.url}/page`);
      expect(unread.status).toBe(200);
      expect(await getBreaker(t.db, { key })).toMatchObject({ state: 'half_open' });
      expect(await (await http.get(`${api.url}/page`)).json()).toEqual({ items: [] });
      expect(await getBreaker(t.db, { key })).toMatchObject({ state: 'closed', consecutiveFailures: 0 });
    } finally {
      for (const res of stalled) res.destroy();
      await api.close();
    }
  });
});
