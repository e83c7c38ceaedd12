import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { eq } from 'drizzle-orm';
import type { PgBoss } from 'pg-boss';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { connect, disconnect } from '../../../db/client';
import { attempts, integrations, runs, type Integration, type Run } from '../../../db/schema';
import { freshDatabase, type TestDatabase } from '../../../test/db';
import { sleep, startTestBoss } from '../../../test/fixtures/platform';
import { defineIntegration, type IntegrationDefinition } from '../contract';
import { createAttemptContext } from './context';

/**
 * `ctx.cursor.checkpoint(value, { withNextRequest: true })`: the checkpoint rides on the breaker
 * read of the next outbound request. Proven against a real HTTP server that reads the run's
 * checkpoint from PostgreSQL the moment each request arrives: the checkpoint is committed before the
 * request leaves; with no request it is written on its own within a second, or at the attempt's
 * end; an attempt that lost the run sends nothing and its checkpoint fails.
 */

const def = defineIntegration({
  name: 'rides',
  description: 'Checkpoints with its next request',
  settings: z.object({}),
  async execute() {
    return {};
  },
}) as IntegrationDefinition;

let t: TestDatabase;
let boss: PgBoss;
let server: Server;
let url: string;
let integration: Integration;
let run: Run;
let attemptId: string;
/** The run's checkpoint as PostgreSQL held it when each request arrived. */
let seenAtRequest: unknown[] = [];

const checkpointNow = async () => (await t.db.select({ c: runs.checkpoint }).from(runs).where(eq(runs.id, run.id)))[0].c;

beforeAll(async () => {
  t = await freshDatabase();
  boss = await startTestBoss(t.url);
  [integration] = await t.db.insert(integrations).values({ name: 'rides', breakerKey: 'rides-api', settings: {} }).returning();
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      checkpointNow().then(
        (c) => {
          seenAtRequest.push(c);
          res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
        },
        () => res.writeHead(500).end(),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/post`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await boss.stop({ graceful: false });
  await t.drop();
});
beforeEach(async () => {
  seenAtRequest = [];
  [run] = await t.db
    .insert(runs)
    .values({ integration: 'rides', trigger: 'api', triggeredBy: 'test', correlationId: 'corr-r', maxAttempts: 3 })
    .returning();
  [{ id: attemptId }] = await t.db.insert(attempts).values({ runId: run.id, runCreatedAt: run.createdAt, number: 1 }).returning();
});

const build = () =>
  createAttemptContext({ db: t.db, boss }, { def, integration, run, attemptId, attemptNumber: 1, signal: new AbortController().signal });

describe('a checkpoint written with the next request', () => {
  it('is not written on its own, and is committed in PostgreSQL before the next request reaches the server', async () => {
    const scope = await build();
    const written = scope.ctx.cursor.checkpoint({ batch: 1 }, { withNextRequest: true });
    await sleep(200);
    expect(await checkpointNow()).toBeNull();
    await scope.ctx.http.post(url, { json: { n: 1 } });
    await written;
    const second = scope.ctx.cursor.checkpoint({ batch: 2 }, { withNextRequest: true });
    await scope.ctx.http.post(url, { json: { n: 2 } });
    await second;
    // A request with no checkpoint waiting writes nothing.
    await scope.ctx.http.post(url, { json: { n: 3 } });
    expect(seenAtRequest).toEqual([{ batch: 1 }, { batch: 2 }, { batch: 2 }]);
    expect(await scope.ctx.cursor.get()).toEqual({ batch: 2 });
    await scope.close();
  });

  it('with no request it is written on its own within a second, and at the latest when the attempt ends', async () => {
    const scope = await build();
    const started = Date.now();
    await scope.ctx.cursor.checkpoint({ batch: 1 }, { withNextRequest: true });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(await checkpointNow()).toEqual({ batch: 1 });
    void scope.ctx.cursor.checkpoint({ batch: 2 }, { withNextRequest: true });
    await scope.close();
    expect(await checkpointNow()).toEqual({ batch: 2 });
    expect(seenAtRequest).toEqual([]);
  });

  it("commits without waiting for the WAL flush, and leaves the connection's synchronous_commit as it was", async () => {
    // One connection, so the statement after the checkpoint runs on the same session.
    const single = connect(t.url, { max: 1, name: 'junction-test-single' });
    try {
      const scope = await createAttemptContext(
        { db: single, boss },
        { def, integration, run, attemptId, attemptNumber: 1, signal: new AbortController().signal },
      );
      const [{ setting: before }] = await single.$client<{ setting: string }[]>`select current_setting('synchronous_commit') as setting`;
      const written = scope.ctx.cursor.checkpoint({ batch: 1 }, { withNextRequest: true });
      await scope.ctx.http.post(url, { json: { n: 1 } });
      await written;
      expect(seenAtRequest).toEqual([{ batch: 1 }]);
      // set_config(..., true): off for the checkpoint's own transaction only, never for the pool's connection.
      const [{ setting: after }] = await single.$client<{ setting: string }[]>`select current_setting('synchronous_commit') as setting`;
      expect(after).toBe(before);
      await scope.close();
    } finally {
      await disconnect(single);
    }
  });

  it('a later checkpoint written at once settles the one still waiting', async () => {
    const scope = await build();
    const waiting = scope.ctx.cursor.checkpoint({ batch: 1 }, { withNextRequest: true });
    await scope.ctx.cursor.checkpoint({ batch: 2 });
    await waiting;
    expect(await checkpointNow()).toEqual({ batch: 2 });
    await scope.close();
  });

  it('when the attempt no longer owns the run, the request is not sent and the checkpoint fails', async () => {
    const scope = await build();
    await t.db.update(attempts).set({ outcome: 'interrupted' }).where(eq(attempts.id, attemptId));
    const written = scope.ctx.cursor.checkpoint({ batch: 1 }, { withNextRequest: true });
    written.catch(() => {});
    await expect(scope.ctx.http.post(url, { json: { n: 1 } })).rejects.toThrow(/no longer owns the run/);
    await expect(written).rejects.toThrow(/no longer owns the run/);
    expect(seenAtRequest).toEqual([]);
    expect(await checkpointNow()).toBeNull();
    await scope.close();
  });
});
