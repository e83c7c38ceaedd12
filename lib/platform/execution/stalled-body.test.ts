import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { asc, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { attempts } from '../../../db/schema';
import { runQueries, startTestPlatform, type TestPlatform } from '../../../test/fixtures/platform';
import { defineIntegration, type IntegrationDefinition } from '../contract';
import { runNow } from '../triggers/triggers';

/**
 * An external system that sends its headers and then stalls in the body. The request's timeout
 * covered fetch only, so the handler's `response.json()` waited for ever: the attempt never
 * ended, the run stayed running and the integration's later runs waited behind it. Now the read
 * fails with the request's TimeoutError, the attempt fails as transient, and the next run goes.
 */

let base = '';
let stalling = true;
const open = new Set<ServerResponse>();

const defs = [
  defineIntegration({
    name: 'stalled-body',
    description: 'Reads a page from an API whose body may stall',
    settings: z.object({}),
    defaults: { retry: { delays: ['1s'] } },
    async execute(ctx) {
      const response = await ctx.http.get(`${base}/page`, { timeoutMs: 500 });
      const page = (await response.json()) as { items: unknown[] };
      return { processed: page.items.length };
    },
  }),
] as IntegrationDefinition[];

let server: Server;
let platform: TestPlatform;
beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume();
    open.add(res);
    res.on('close', () => open.delete(res));
    res.writeHead(200, { 'content-type': 'application/json' });
    if (stalling) res.write('{"items":[');
    else res.end('{"items":[1,2,3]}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  platform = await startTestPlatform(defs, { workerId: 'stall-worker', concurrency: 1 });
});
afterAll(async () => {
  for (const res of open) res.destroy();
  await platform?.stop();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const { finished } = runQueries(() => platform.t.db);

describe('a run whose API stalls after the headers', () => {
  it('fails its attempts with the timeout instead of hanging, and the next run goes', async () => {
    const { runId } = await runNow(platform.t.db, platform.boss, { integration: 'stalled-body', triggeredBy: 'ada' });
    const run = await finished(runId);
    const timedOut = `GET ${base}/page timed out after 500 ms`;
    expect(run).toMatchObject({ status: 'failed', attemptCount: 2, errorClass: 'TimeoutError', errorMessage: timedOut });
    const rows = await platform.t.db.select().from(attempts).where(eq(attempts.runId, runId)).orderBy(asc(attempts.number));
    expect(rows.map((a) => [a.outcome, a.errorMessage])).toEqual([
      ['failed', timedOut],
      ['failed', timedOut],
    ]);

    stalling = false;
    const next = await runNow(platform.t.db, platform.boss, { integration: 'stalled-body', triggeredBy: 'ada' });
    expect(await finished(next.runId)).toMatchObject({ status: 'succeeded', result: { processed: 3 } });
  });
});
