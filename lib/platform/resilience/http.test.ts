import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, startTestServer, type TestServer } from '../../../test/fixtures/http-server';
import { sleep } from '../../../test/fixtures/wait';
import { CancelledError, HttpError, isPermanentError, isTransientError, NetworkError, TimeoutError } from '../errors';
import { REDACTED, SecretRedactor } from '../redaction';
import { DRY_RUN_HEADER, DryRunPlan } from './dry-run';
import { createHttpClient, parseRetryAfter } from './http';

let server: TestServer;
/** Per-path scripted statuses, consumed in order; then 200. */
const scripts = new Map<string, { status: number; headers?: Record<string, string>; delayMs?: number }[]>();

beforeAll(async () => {
  server = await startTestServer(async (req, res) => {
    const path = req.path.split('?')[0];
    if (path === '/quoting') {
      // An API that quotes the key it was given at the end of a long error text.
      res.writeHead(500, { 'content-type': 'text/plain' });
      return res.end(`${'upstream failure; '.repeat(15)}key=${new URL(req.path, 'http://x').searchParams.get('key')}`);
    }
    const step = scripts.get(path)?.shift();
    if (step?.delayMs) await sleep(step.delayMs);
    if (step && step.status !== 200) return json(res, step.status, { error: `scripted ${step.status}` }, step.headers);
    json(res, 200, { path: req.path, method: req.method, body: req.body });
  });
});
afterAll(() => server.close());

const http = (extra: Partial<Parameters<typeof createHttpClient>[0]> = {}) =>
  createHttpClient({ correlationId: 'corr-42', defaults: { backoffBaseMs: 20, backoffMaxMs: 100 }, ...extra });
const requestsTo = (path: string) => server.requests.filter((r) => r.path.split('?')[0] === path);

describe('ctx.http', () => {
  it('sends the correlation id, JSON bodies and query parameters', async () => {
    const response = await http().post(`${server.url}/echo`, { json: { a: 1 }, query: { page: 2, skip: undefined } });
    const body = (await response.json()) as { path: string; body: string };
    expect(body).toMatchObject({ path: '/echo?page=2', body: '{"a":1}' });
    const [sent] = requestsTo('/echo');
    expect(sent.headers['x-correlation-id']).toBe('corr-42');
    expect(sent.headers['content-type']).toBe('application/json');
  });

  it('retries an idempotent request on 503 after the Retry-After delay', async () => {
    scripts.set('/flaky-get', [{ status: 503, headers: { 'retry-after': '1' } }, { status: 502 }]);
    const response = await http().get(`${server.url}/flaky-get`);
    expect(response.status).toBe(200);
    const [first, second, third] = requestsTo('/flaky-get');
    expect(second.at - first.at).toBeGreaterThanOrEqual(950);
    expect(third.at - second.at).toBeLessThan(900);
  });

  it('does not retry a POST without an idempotency key; with one it retries and sends the key each time', async () => {
    scripts.set('/create', [{ status: 503 }]);
    const error = await http()
      .post(`${server.url}/create`, { json: {} })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HttpError);
    expect(isTransientError(error)).toBe(true);
    expect(requestsTo('/create')).toHaveLength(1);

    scripts.set('/create-safe', [{ status: 503 }, { status: 500 }]);
    await http().post(`${server.url}/create-safe`, { json: {}, idempotencyKey: 'inv-77' });
    const tries = requestsTo('/create-safe');
    expect(tries).toHaveLength(3);
    expect(tries.map((r) => r.headers['idempotency-key'])).toEqual(['inv-77', 'inv-77', 'inv-77']);
  });

  it('throws 4xx as permanent (no retry) and 429 as transient', async () => {
    scripts.set('/missing', [{ status: 404 }]);
    const notFound = await http()
      .get(`${server.url}/missing`)
      .catch((e: unknown) => e);
    expect(isPermanentError(notFound)).toBe(true);
    expect((notFound as HttpError).status).toBe(404);
    expect((notFound as Error).message).toBe(`GET ${server.url}/missing answered 404: {"error":"scripted 404"}`);
    expect(requestsTo('/missing')).toHaveLength(1);

    scripts.set('/limited', [{ status: 429 }, { status: 429 }, { status: 429 }]);
    const limited = await http()
      .get(`${server.url}/limited`)
      .catch((e: unknown) => e);
    expect(isTransientError(limited)).toBe(true);
    expect(requestsTo('/limited')).toHaveLength(3);
  });

  it('returns non-2xx responses as they are when the caller opts out with throwOnError: false', async () => {
    scripts.set('/soft', [{ status: 500 }, { status: 500 }]);
    const response = await http().get(`${server.url}/soft`, { throwOnError: false, retries: 1 });
    expect(response.status).toBe(500);
    expect(await response.json()).toEqual({ error: 'scripted 500' });
    expect(requestsTo('/soft')).toHaveLength(2);
  });

  it('times out a slow request and reports an unreachable host as a network error', async () => {
    scripts.set('/slow', [{ status: 200, delayMs: 1_000 }]);
    const slow = await http()
      .get(`${server.url}/slow`, { timeoutMs: 100, retries: 0 })
      .catch((e: unknown) => e);
    expect(slow).toBeInstanceOf(TimeoutError);
    expect((slow as Error).message).toBe(`GET ${server.url}/slow timed out after 100 ms`);

    const refused = await http()
      .get('http://127.0.0.1:1/x', { retries: 0 })
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(NetworkError);
    expect(isTransientError(refused)).toBe(true);
  });

  it('refuses a URL it can never reach as permanent, before any retry or breaker', async () => {
    // A misconfigured base URL once failed as a transient network error ("unknown scheme"): the
    // run was retried, the breaker opened and the external system was alerted about.
    for (const [url, words] of [
      ['javascript:alert(1)/v1/contacts', /scheme 'javascript:'/],
      ['ftp://files.example.com/v1/contacts', /scheme 'ftp:'/],
      ['file:///etc/passwd', /scheme 'file:'/],
      ['/v1/contacts', /is not a URL/],
      [`http://user:pw@127.0.0.1:${new URL(server.url).port}/echo`, /user name or password/],
    ] as const) {
      const before = server.requests.length;
      const error = await http()
        .get(url)
        .catch((e: unknown) => e);
      expect(isPermanentError(error), url).toBe(true);
      expect((error as Error).message, url).toMatch(words);
      expect((error as Error).message, url).toMatch(/check the integration's settings/);
      expect(server.requests.length, `${url} sent nothing`).toBe(before);
      expect((error as Error).message, 'the password stays out of the message').not.toContain(':pw@');
    }
  });

  it('aborts a request in flight when the attempt is cancelled', async () => {
    scripts.set('/long', [{ status: 200, delayMs: 2_000 }]);
    const control = new AbortController();
    const pending = http({ signal: control.signal })
      .get(`${server.url}/long`)
      .catch((e: unknown) => e);
    setTimeout(() => control.abort(new CancelledError('run cancelled')), 100);
    const started = Date.now();
    const error = await pending;
    expect(error).toBeInstanceOf(CancelledError);
    expect(Date.now() - started).toBeLessThan(1_500);
  });

  it('in a dry-run captures mutating requests instead of sending them, without credentials, and lets reads through', async () => {
    const redactor = new SecretRedactor(['sk_live_secret', 'pass word/2+x']);
    const plan = new DryRunPlan(redactor);
    // A token the attempt obtains after the plan exists: the attempt's redactor learns it, so does the plan.
    redactor.add('tok-obtained-later-1');
    const client = http({ dryRun: plan });
    const read = await client.get(`${server.url}/ledger`);
    expect(read.headers.get(DRY_RUN_HEADER)).toBeNull();
    const write = await client.post(`${server.url}/journal?key=sk_live_secret&pass=${encodeURIComponent('pass word/2+x')}`, {
      json: { amount: 10, apiKey: 'sk_live_secret', token: 'tok-obtained-later-1' },
      headers: { authorization: 'Basic abc', 'x-tenant': 'acme' },
    });
    expect(write.status).toBe(200);
    expect(write.headers.get(DRY_RUN_HEADER)).toBe('1');
    expect(await write.json()).toEqual({ dryRun: true });
    await client.delete(`${server.url}/journal/1`);
    expect(requestsTo('/journal')).toHaveLength(0);
    expect(requestsTo('/ledger')).toHaveLength(1);
    expect(plan.requests.map((r) => `${r.method} ${r.url}`)).toEqual([
      `POST ${server.url}/journal?key=[redacted]&pass=[redacted]`,
      `DELETE ${server.url}/journal/1`,
    ]);
    expect(plan.requests[0].headers).toMatchObject({ authorization: '[redacted]', 'x-tenant': 'acme', 'x-correlation-id': 'corr-42' });
    expect(plan.requests[0].body).toEqual({ amount: 10, apiKey: '[redacted]', token: '[redacted]' });
  });

  it("keeps the attempt's secrets out of its errors: the URL's query and an answer quoting them, also where it is cut short", async () => {
    const key = 'qk-Z81-never-shown-2';
    const error = await http({ redactor: new SecretRedactor([key]), defaults: { retries: 0 } })
      .get(`${server.url}/quoting`, { query: { key } })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HttpError);
    const message = (error as HttpError).message;
    expect(message).toMatch(
      new RegExp(`^GET http://127\\.0\\.0\\.1:\\d+/quoting\\?key=\\[redacted\\] answered 500: (upstream failure; ){15}key=\\[red`),
    );
    expect((error as HttpError).bodySnippet).toContain(`key=${REDACTED}`);
    for (let n = 8; n <= key.length; n++) expect(message).not.toContain(key.slice(0, n));
  });

  it('parses Retry-After as seconds or as an HTTP date', () => {
    expect(parseRetryAfter('3')).toBe(3000);
    expect(parseRetryAfter(new Date(Date.UTC(2030, 0, 1, 0, 0, 10)).toUTCString(), Date.UTC(2030, 0, 1))).toBe(10_000);
    expect(parseRetryAfter('soon')).toBeUndefined();
  });
});
