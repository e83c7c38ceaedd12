import { getEventListeners } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, startTestServer, type TestServer } from '../../../test/fixtures/http-server';
import { sleep } from '../../../test/fixtures/wait';
import { CancelledError, HttpError, isPermanentError, isTransientError, NetworkError, TimeoutError } from '../errors';
import { platformMetrics } from '../observability/metrics';
import { REDACTED, SecretRedactor } from '../redaction';
import { DRY_RUN_HEADER, DryRunPlan } from './dry-run';
import { createHttpClient, parseRetryAfter } from './http';
import { defaultNetwork, isInternalAddress, type NetworkPolicy } from './internal-address';

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

const HOSTILE_ADDRESS = '127.0.0.2';

/**
 * Junction's network as the SSRF tests see it: the hostile server's address is outside, every
 * other internal address inside; `names` answers for made-up host names (each answer in turn, the
 * last one from then on), every other name resolves as usual. `asked` counts each name's lookups.
 */
function networkWith(names: Record<string, string[][]> = {}): NetworkPolicy & { asked: Map<string, number> } {
  const asked = new Map<string, number>();
  return {
    asked,
    isInternalAddress: (address) => address !== HOSTILE_ADDRESS && isInternalAddress(address),
    resolve: async (hostname) => {
      const answers = names[hostname];
      if (!answers) return defaultNetwork.resolve(hostname);
      const n = asked.get(hostname) ?? 0;
      asked.set(hostname, n + 1);
      return answers[Math.min(n, answers.length - 1)].map((address) => ({ address, family: 4 }));
    },
  };
}

/** A server that misbehaves on purpose: stalls, drips, floods, redirects. */
describe('ctx.http against a hostile or broken server', () => {
  let hostile: TestServer;
  let other: TestServer;
  /** Responses the hostile server left open: ended in afterAll. */
  const open = new Set<import('node:http').ServerResponse>();

  beforeAll(async () => {
    other = await startTestServer((req, res) => json(res, 200, { landed: req.path }));
    hostile = await startTestServer(
      async (req, res) => {
        const path = req.path.split('?')[0];
        open.add(res);
        res.on('close', () => open.delete(res));
        switch (path) {
          case '/stall':
            // Headers and the start of a JSON body, then nothing.
            res.writeHead(200, { 'content-type': 'application/json' });
            return res.write('{"items":[');
          case '/stall-500':
            res.writeHead(500, { 'content-type': 'text/plain' });
            return res.write('upstream broke');
          case '/drip': {
            res.writeHead(200, { 'content-type': 'application/json' });
            res.write('[');
            const timer = setInterval(() => (res.writable ? res.write(' ') : clearInterval(timer)), 50);
            res.on('close', () => clearInterval(timer));
            return;
          }
          case '/flood':
          case '/flood-500': {
            // An endless chunked body, written as fast as the client reads it.
            res.writeHead(path === '/flood' ? 200 : 500, { 'content-type': 'application/json' });
            const chunk = Buffer.alloc(64 * 1024, 0x20);
            const pump = () => {
              while (res.writable && res.write(chunk));
              if (res.writable) res.once('drain', pump);
            };
            return pump();
          }
          case '/declared-huge':
            res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(300 * 1024 * 1024) });
            return res.write('{');
          case '/html':
            res.writeHead(200, { 'content-type': 'text/html' });
            return res.end(`<html><body>Maintenance. ${'x'.repeat(400)} token=tk-Secret-99 </body></html>`);
          case '/empty':
            res.writeHead(200, { 'content-type': 'application/json' });
            return res.end();
          case '/to-other':
            res.writeHead(302, { location: `${other.url}/landing` });
            return res.end();
          case '/to-same':
            res.writeHead(301, { location: '/landed-here' });
            return res.end();
          case '/to-metadata':
            res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/iam/security-credentials/' });
            return res.end();
          case '/to-localhost':
            res.writeHead(307, { location: `http://localhost:${new URL(other.url).port}/internal` });
            return res.end();
          case '/307-to-other':
            res.writeHead(307, { location: `${other.url}/collect` });
            return res.end();
          case '/308-to-same':
            res.writeHead(308, { location: '/landed-here' });
            return res.end();
          case '/landed-here':
            return json(res, 200, { landed: req.path });
          case '/loop':
            res.writeHead(302, { location: '/loop' });
            return res.end();
          case '/to-file':
            res.writeHead(302, { location: 'file:///etc/passwd' });
            return res.end();
          case '/to':
            res.writeHead(302, { location: new URL(req.path, 'http://x').searchParams.get('url')! });
            return res.end();
          default:
            return json(res, 200, { ok: true });
        }
        // On 127.0.0.2: a test can put it outside Junction's network and keep `other` (127.0.0.1) inside.
      },
      { host: HOSTILE_ADDRESS },
    );
  });
  afterAll(async () => {
    for (const res of open) res.destroy();
    await hostile.close();
    await other.close();
  });

  /** Settles `promise`, or says 'hung' after `ms`. */
  const within = <T>(promise: Promise<T>, ms = 3_000) =>
    Promise.race([promise.catch((e: unknown) => e), sleep(ms).then(() => 'hung' as const)]);
  const hits = (server: TestServer, path: string) => server.requests.filter((r) => r.path.split('?')[0] === path);

  it('times out a body that stalls after the headers, in getJson and in a handler reading the response', async () => {
    const started = Date.now();
    const viaGetJson = await within(http().getJson(`${hostile.url}/stall`, { timeoutMs: 300, retries: 0 }));
    expect(viaGetJson).toBeInstanceOf(TimeoutError);
    expect((viaGetJson as Error).message).toBe(`GET ${hostile.url}/stall timed out after 300 ms`);
    expect(Date.now() - started).toBeLessThan(1_500);

    const counted = async (statusClass: string) =>
      (await platformMetrics().outboundRequests.get()).values.find(
        (v) => v.labels.integration === 'stalling' && v.labels.status_class === statusClass,
      )?.value ?? 0;
    const response = await http({ integration: 'stalling' }).get(`${hostile.url}/stall`, { timeoutMs: 300, retries: 0 });
    expect(await counted('2xx')).toBe(1);
    const viaText = await within(response.text());
    expect(viaText).toBeInstanceOf(TimeoutError);
    expect((viaText as Error).message).toBe(`GET ${hostile.url}/stall timed out after 300 ms`);
    expect(isTransientError(viaText)).toBe(true);
    expect(await counted('timeout')).toBe(1);
  });

  it('times out a body that drips a byte at a time: the timeout covers the whole exchange', async () => {
    const error = await within(http().getJson(`${hostile.url}/drip`, { timeoutMs: 400, retries: 0 }));
    expect(error).toBeInstanceOf(TimeoutError);
    expect((error as Error).message).toBe(`GET ${hostile.url}/drip timed out after 400 ms`);
  });

  it('times out the error body of a 5xx that stalls, and still throws the HttpError', async () => {
    const error = await within(http().get(`${hostile.url}/stall-500`, { timeoutMs: 300, retries: 0 }));
    expect(error).toBeInstanceOf(HttpError);
    expect((error as HttpError).status).toBe(500);
  });

  it('cancels a body read in progress when the attempt is cancelled', async () => {
    const control = new AbortController();
    const response = await http({ signal: control.signal }).get(`${hostile.url}/stall`, { timeoutMs: 60_000 });
    setTimeout(() => control.abort(new CancelledError('run cancelled')), 100);
    const error = await within(response.json());
    expect(error).toBeInstanceOf(CancelledError);
  });

  it('leaves no timer behind once a body is read, and never aborts a finished response', async () => {
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const client = http();
    for (let i = 0; i < 20; i++) await client.getJson(`${hostile.url}/ok`, { timeoutMs: 200 });
    const response = await client.get(`${hostile.url}/ok`, { timeoutMs: 200 });
    expect(await response.json()).toEqual({ ok: true });
    expect(timers() - before).toBeLessThan(3);
    await sleep(300);
    expect(response.bodyUsed).toBe(true);
  });

  it("holds no listener on the attempt's signal for a body left unread", async () => {
    const control = new AbortController();
    const client = http({ signal: control.signal });
    for (let i = 0; i < 20; i++) await client.post(`${hostile.url}/ok`, { json: { i } });
    expect(getEventListeners(control.signal, 'abort').length).toBeLessThanOrEqual(1);
  });

  it('refuses a response larger than the limit: an endless body, a declared size, and an endless error body', async () => {
    const client = http({ defaults: { maxResponseBytes: 1_000_000, retries: 0 } });
    const flood = await within(client.getJson(`${hostile.url}/flood?key=sk-Flood-secret-1`), 5_000);
    expect(flood).toBeInstanceOf(Error);
    expect(isPermanentError(flood)).toBe(true);
    expect((flood as Error).message).toBe(
      `GET ${hostile.url}/flood?key=sk-Flood-secret-1: the response is larger than the 1000000-byte limit (maxResponseBytes); ask the API for less per request (a smaller page)`,
    );

    const declared = await within(client.getJson(`${hostile.url}/declared-huge`));
    expect(isPermanentError(declared)).toBe(true);
    expect((declared as Error).message).toMatch(/declared-huge: the response is larger than the 1000000-byte limit/);

    const error500 = await within(client.get(`${hostile.url}/flood-500`), 5_000);
    expect(error500).toBeInstanceOf(HttpError);
    expect((error500 as HttpError).status).toBe(500);
  });

  it('scrubs secrets from the URL in the size error', async () => {
    const key = 'sk-Flood-secret-1';
    const error = await within(
      http({ redactor: new SecretRedactor([key]), defaults: { maxResponseBytes: 100_000, retries: 0 } }).getJson(`${hostile.url}/flood`, {
        query: { key },
      }),
      5_000,
    );
    expect((error as Error).message).toContain(`/flood?key=${REDACTED}: the response is larger`);
    expect((error as Error).message).not.toContain(key);
  });

  it('says what came back when getJson gets no JSON: an HTML page with 200, an empty body', async () => {
    const client = http({ redactor: new SecretRedactor(['tk-Secret-99']) });
    const html = await within(client.getJson(`${hostile.url}/html`));
    expect(html).not.toBeInstanceOf(SyntaxError);
    expect((html as Error).message).toMatch(
      new RegExp(
        `^GET ${hostile.url.replaceAll('.', '\\.')}/html answered 200 with a body that is not JSON \\(text/html\\): <html><body>Maintenance\\.`,
      ),
    );
    expect((html as Error).message).not.toContain('tk-Secret-99');
    expect((html as Error).message.length).toBeLessThan(500);

    const empty = await within(client.getJson(`${hostile.url}/empty`));
    expect((empty as Error).message).toBe(`GET ${hostile.url}/empty answered 200 with an empty body, not JSON`);
  });

  it('follows a redirect to another origin without the credentials or the idempotency key', async () => {
    const body = await http().getJson(`${hostile.url}/to-other`, {
      headers: { authorization: 'Bearer tok-abc', 'x-api-key': 'crm-key-123', cookie: 'sid=1', 'x-tenant': 'acme' },
      idempotencyKey: 'idem-1',
    });
    expect(body).toEqual({ landed: '/landing' });
    const [landed] = hits(other, '/landing');
    expect(landed.headers.authorization).toBeUndefined();
    expect(landed.headers['x-api-key']).toBeUndefined();
    expect(landed.headers.cookie).toBeUndefined();
    expect(landed.headers['idempotency-key']).toBeUndefined();
    expect(landed.headers['x-tenant']).toBe('acme');
    expect(landed.headers['x-correlation-id']).toBe('corr-42');
  });

  it('does not carry a body to another origin on a 307 or 308, and does within the same origin', async () => {
    const client = http();
    const before = hits(other, '/collect').length;
    const refused = await within(client.post(`${hostile.url}/307-to-other`, { json: { invoices: [1, 2] }, idempotencyKey: 'batch-1' }));
    expect(isPermanentError(refused)).toBe(true);
    expect((refused as Error).message).toBe(
      `POST ${hostile.url}/307-to-other was redirected (307) to another origin, ${other.url}/collect: its body is not sent on there (nor could its idempotency key be); set the integration's base URL to the address it leads to`,
    );
    expect(hits(other, '/collect').length).toBe(before);
    // Sent once, not retried: the refusal is permanent.
    expect(hits(hostile, '/307-to-other')).toHaveLength(1);
    // Without a body (a GET) the hop is followed, as before.
    await client.get(`${hostile.url}/307-to-other`);
    expect(hits(other, '/collect').length).toBe(before + 1);
    // Within the origin the body and its key go on.
    await client.post(`${hostile.url}/308-to-same`, { json: { a: 1 }, idempotencyKey: 'batch-2' });
    const landed = hits(hostile, '/landed-here').at(-1)!;
    expect(landed.method).toBe('POST');
    expect(landed.headers['idempotency-key']).toBe('batch-2');
  });

  it("does not follow an outside system's redirect into Junction's own network", async () => {
    // The hostile server stands for a system outside; everything else here is inside.
    const client = http({ network: networkWith() });
    const metadata = await within(client.get(`${hostile.url}/to-metadata`));
    expect(isPermanentError(metadata)).toBe(true);
    expect((metadata as Error).message).toBe(
      `GET ${hostile.url}/to-metadata was redirected to http://169.254.169.254/latest/meta-data/iam/security-credentials/, an address inside Junction's own network (loopback, private or link-local), from one outside it: not followed; an external system may not point Junction's requests at its own machines`,
    );
    const before = hits(other, '/internal').length;
    const local = await within(client.get(`${hostile.url}/to-localhost`));
    expect((local as Error).message).toMatch(
      /to-localhost was redirected to http:\/\/localhost:\d+\/internal, an address inside Junction's own network/,
    );
    expect(hits(other, '/internal').length).toBe(before);
    // A system inside (a stand-in on this machine, an internal API) may redirect within it.
    await http().get(`${hostile.url}/to-localhost`);
    expect(hits(other, '/internal').length).toBe(before + 1);
  });

  it('judges the address a redirected hop connects to, not only the one its name resolved to before (DNS rebinding)', async () => {
    const port = new URL(other.url).port;
    const hostilePort = new URL(hostile.url).port;
    // rebind.test answers an outside address to the check before the hop, then loopback.
    const network = networkWith({ 'rebind.test': [['203.0.113.7'], ['127.0.0.1']], 'partner.test': [[HOSTILE_ADDRESS]] });
    const client = http({ network });
    const before = hits(other, '/internal').length;
    const target = `http://rebind.test:${port}/internal`;
    const rebound = await within(client.get(`${hostile.url}/to?url=${encodeURIComponent(target)}`));
    expect(isPermanentError(rebound)).toBe(true);
    expect((rebound as Error).message).toBe(
      `GET ${hostile.url}/to?url=${encodeURIComponent(target)} was redirected to ${target}, whose name resolved to 127.0.0.1 when connecting, an address inside Junction's own network (loopback, private or link-local), from one outside it: not followed; an external system may not point Junction's requests at its own machines`,
    );
    expect(hits(other, '/internal').length).toBe(before);
    // Asked twice: by the check before the hop, then by the connection itself.
    expect(network.asked.get('rebind.test')).toBe(2);
    // A hop to another name outside is followed, through the same per-connection check.
    const partner = `http://partner.test:${hostilePort}/landed-here`;
    expect(await client.getJson(`${hostile.url}/to?url=${encodeURIComponent(partner)}`)).toEqual({ landed: '/landed-here' });
    expect(network.asked.get('partner.test')).toBeGreaterThanOrEqual(2);
  });

  it('keeps the credentials on a redirect within the same origin', async () => {
    const body = await http().getJson(`${hostile.url}/to-same`, { headers: { 'x-api-key': 'crm-key-123' } });
    expect(body).toEqual({ landed: '/landed-here' });
    expect(hits(hostile, '/landed-here').at(-1)!.headers['x-api-key']).toBe('crm-key-123');
    const response = await http().get(`${hostile.url}/to-same`);
    expect(response).toMatchObject({ url: `${hostile.url}/landed-here`, redirected: true });
  });

  it('ends a redirect loop with a clear permanent error, and refuses a redirect to a non-HTTP URL', async () => {
    const before = hits(hostile, '/loop').length;
    const loop = await within(http().get(`${hostile.url}/loop`));
    expect(isPermanentError(loop)).toBe(true);
    expect((loop as Error).message).toBe(
      `GET ${hostile.url}/loop was redirected more than 10 times (last to ${hostile.url}/loop); check the integration's base URL`,
    );
    expect(hits(hostile, '/loop').length - before).toBe(11);

    const file = await within(http().get(`${hostile.url}/to-file`));
    expect(isPermanentError(file)).toBe(true);
    expect((file as Error).message).toMatch(/to-file was redirected to file:\/\/\/etc\/passwd: the URL/);
  });

  it('in a dry-run follows a redirected read and still sends no mutating request', async () => {
    const plan = new DryRunPlan();
    const client = http({ dryRun: plan });
    expect(await client.getJson(`${hostile.url}/to-other`)).toEqual({ landed: '/landing' });
    const before = hostile.requests.length;
    await client.post(`${hostile.url}/to-other`, { json: { a: 1 } });
    expect(hostile.requests.length).toBe(before);
    expect(plan.requests.map((r) => r.method)).toEqual(['POST']);
  });

  it('survives Retry-After edge values: negative, garbage, a past date, an enormous number', async () => {
    expect(parseRetryAfter('-5')).toBeUndefined();
    expect(parseRetryAfter('-0.5')).toBeUndefined();
    expect(parseRetryAfter('12 apples')).toBeUndefined();
    expect(parseRetryAfter('12')).toBe(12_000);
    expect(parseRetryAfter('Thu, 01 Jan 1970 00:00:00 GMT')).toBe(0);
    expect(parseRetryAfter('9'.repeat(400))).toBe(Number.MAX_SAFE_INTEGER);
    for (const [value, tries] of [
      ['-5', 3],
      ['soon', 3],
      ['Thu, 01 Jan 1970 00:00:00 GMT', 3],
      ['99999999999999999999', 1],
    ] as const) {
      const path = `/ra-${tries}-${encodeURIComponent(value).slice(0, 10)}`;
      scripts.set(path, [
        { status: 429, headers: { 'retry-after': value } },
        { status: 429, headers: { 'retry-after': value } },
        { status: 429, headers: { 'retry-after': value } },
      ]);
      const started = Date.now();
      const error = await within(http().get(`${server.url}${path}`));
      expect(error, value).toBeInstanceOf(HttpError);
      expect(isTransientError(error), value).toBe(true);
      expect(requestsTo(path), value).toHaveLength(tries);
      expect(Date.now() - started, value).toBeLessThan(1_000);
      const wait = (error as HttpError).retryAfterMs;
      expect(wait === undefined || (Number.isFinite(wait) && wait >= 0), value).toBe(true);
    }
  });
});
