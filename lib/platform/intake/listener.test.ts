import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { webhookRejections } from '../../../db/schema';
import { startIntakeTest, type IntakeTest } from '../../../test/fixtures/intake-test';
import { defineIntegration, type IntegrationDefinition } from '../contract';
import { MALFORMED_PATH_MESSAGE } from '../malformed-path';

/**
 * The intake listener answers what the console's proxy answers (proxy.ts, proxy.test.ts) for a
 * path with malformed percent-encoding: a JSON 400 that says how to encode a name, not a 404.
 */

const defs = [
  defineIntegration({
    name: 'payment-events',
    description: 'Receives Standard Webhooks',
    settings: z.object({}),
    events: { scheme: 'standard-webhooks', typeFrom: (d) => (d.body as { type?: string }).type, async handle() {} },
  }),
] as IntegrationDefinition[];

let intake: IntakeTest;
let t: IntakeTest['t'];
let server: NonNullable<IntakeTest['server']>;

beforeAll(async () => {
  intake = await startIntakeTest(defs, {
    sync: true,
    server: true,
  });
  ({ t } = intake);
  server = intake.server!;
});
afterAll(() => intake?.close());

describe('intake listener paths', () => {
  it.each(['/hooks/%ZZ', '/hooks/pay%E0%A4', '/hooks/%ZZ/extra', '/hooks/payment-events%ZZ', '/health%ZZ'])(
    'answers %s with the JSON 400 of the console, recording nothing',
    async (path) => {
      for (const method of ['POST', 'GET']) {
        const res = await fetch(`${server.url}${path}`, {
          method,
          ...(method === 'POST' ? { body: '{}', headers: { 'content-type': 'application/json' } } : {}),
        });
        expect(res.status, `${method} ${path}`).toBe(400);
        expect(res.headers.get('content-type')).toMatch(/^application\/json/);
        expect(await res.json()).toEqual({ error: MALFORMED_PATH_MESSAGE });
      }
      expect(await t.db.select().from(webhookRejections)).toEqual([]);
    },
  );

  it.each([
    ['/hooks', '/hooks'],
    ['/hooks/', '/hooks'],
    ['/hooks/payment-events/extra', '/hooks/payment-events/extra'],
  ])('answers %s, which names no endpoint, with the JSON 404 of the console', async (path, named) => {
    for (const method of ['POST', 'GET']) {
      const res = await fetch(`${server.url}${path}`, method === 'POST' ? { method, body: '{}' } : { method });
      expect(res.status, `${method} ${path}`).toBe(404);
      // The console's app/hooks routes answer these words and headers (it said "not found: this
      // listener serves ..." with other headers, where the README promises one contract).
      expect(res.headers.get('cache-control')).toBe('no-store, no-transform');
      expect(await res.json()).toEqual({
        error: `no such webhook endpoint: ${named}; webhooks are delivered to POST /hooks/<integration>`,
      });
    }
    const other = await fetch(`${server.url}/elsewhere`);
    expect([other.status, await other.json()]).toEqual([
      404,
      { error: 'not found: this listener serves POST /hooks/<integration> and GET /health' },
    ]);
  });

  it('still answers a well-formed unknown endpoint 404 and a known one through the intake', async () => {
    const unknown = await fetch(`${server.url}/hooks/no-such-hook`, {
      method: 'POST',
      body: '{}',
      headers: { 'content-type': 'application/json' },
    });
    expect([unknown.status, await unknown.json()]).toEqual([404, { error: 'no such webhook endpoint' }]);
    // An escaped name is decoded: %2D is '-'.
    const known = await fetch(`${server.url}/hooks/payment%2Devents`, {
      method: 'POST',
      body: '{}',
      headers: { 'content-type': 'application/json' },
    });
    expect([known.status, await known.json()]).toEqual([401, { error: 'no signing secret is configured for this endpoint' }]);
  });
});
