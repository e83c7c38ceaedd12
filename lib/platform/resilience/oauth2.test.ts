import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { json, startTestServer, type TestServer } from '../../../test/fixtures/http-server';
import { sleep } from '../../../test/fixtures/wait';
import { CredentialsError, isPermanentError, isTransientError, TimeoutError } from '../errors';
import { createHttpClient } from './http';
import { clearOAuth2Providers, oauth2Provider, parseOAuth2Config } from './oauth2';

let tokenServer: TestServer;
let api: TestServer;
let issued = 0;
/** Tokens the API refuses (revoked). */
const revoked = new Set<string>();
let lifetime = 3600;

beforeAll(async () => {
  tokenServer = await startTestServer(async (req, res) => {
    const form = new URLSearchParams(req.body);
    if (form.get('client_secret')?.startsWith('echoed-')) {
      // A careless identity provider: a plain-text refusal quoting the secret after a long preamble.
      res.writeHead(401, { 'content-type': 'text/plain' });
      return res.end(`${'Client authentication failed. '.repeat(9)}Secret received: ${form.get('client_secret')}`);
    }
    if (form.get('client_secret') !== 's3cret') {
      return json(res, 401, { error: 'invalid_client', error_description: 'Client authentication failed: unknown client or wrong secret' });
    }
    issued += 1;
    await sleep(50);
    json(res, 200, { access_token: `token-${issued}`, token_type: 'Bearer', expires_in: lifetime, scope: form.get('scope') });
  });
  api = await startTestServer((req, res) => {
    const token = String(req.headers.authorization ?? '').replace(/^Bearer /, '');
    if (!token.startsWith('token-') || revoked.has(token)) return json(res, 401, { error: 'invalid_token' });
    json(res, 200, { token });
  });
});
afterAll(async () => {
  await tokenServer.close();
  await api.close();
});
afterEach(() => {
  clearOAuth2Providers();
  revoked.clear();
  lifetime = 3600;
});

const config = (overrides: Record<string, string> = {}) =>
  parseOAuth2Config({
    tokenUrl: `${tokenServer.url}/token`,
    clientId: 'junction',
    clientSecret: 's3cret',
    scope: 'ledger.write',
    audience: 'https://ledger',
    ...overrides,
  });

function client() {
  return createHttpClient({ correlationId: 'corr-1', oauth2: oauth2Provider(config()), defaults: { backoffBaseMs: 10 } });
}

describe('OAuth2 client credentials', () => {
  it('shares one token request among 20 concurrent callers and sends the bearer on each', async () => {
    const before = tokenServer.requests.length;
    const apiBefore = api.requests.length;
    const http = client();
    const answers = await Promise.all(Array.from({ length: 20 }, () => http.getJson<{ token: string }>(`${api.url}/items`)));
    expect(tokenServer.requests.length - before).toBe(1);
    const tokenRequest = new URLSearchParams(tokenServer.requests.at(-1)!.body);
    expect(Object.fromEntries(tokenRequest)).toMatchObject({
      grant_type: 'client_credentials',
      client_id: 'junction',
      scope: 'ledger.write',
      audience: 'https://ledger',
    });
    expect(new Set(answers.map((a) => a.token)).size).toBe(1);
    const calls = api.requests.slice(apiBefore);
    expect(calls).toHaveLength(20);
    expect(calls.every((r) => r.headers.authorization === `Bearer ${answers[0].token}`)).toBe(true);
  });

  it('caches the token across clients and refreshes it shortly before it expires', async () => {
    lifetime = 1;
    const before = tokenServer.requests.length;
    const first = await client().getJson<{ token: string }>(`${api.url}/a`);
    const second = await client().getJson<{ token: string }>(`${api.url}/b`);
    expect(second.token).toBe(first.token);
    expect(tokenServer.requests.length - before).toBe(1);
    await sleep(1_000);
    const third = await client().getJson<{ token: string }>(`${api.url}/c`);
    expect(third.token).not.toBe(first.token);
    expect(tokenServer.requests.length - before).toBe(2);
  });

  it('on a 401 drops the token, fetches a new one and retries the request once', async () => {
    const http = client();
    const { token: old } = await http.getJson<{ token: string }>(`${api.url}/warm`);
    revoked.add(old);
    const before = tokenServer.requests.length;
    const apiBefore = api.requests.length;
    const { token } = await http.getJson<{ token: string }>(`${api.url}/after-revoke`);
    expect(token).not.toBe(old);
    expect(tokenServer.requests.length - before).toBe(1);
    expect(api.requests.slice(apiBefore).map((r) => r.headers.authorization)).toEqual([`Bearer ${old}`, `Bearer ${token}`]);
  });

  it('refreshes only once when the API keeps answering 401, then fails permanently', async () => {
    const http = client();
    const { token } = await http.getJson<{ token: string }>(`${api.url}/warm`);
    api.setHandler((_req, res) => json(res, 401, { error: 'invalid_token' }));
    try {
      const before = tokenServer.requests.length;
      const apiBefore = api.requests.length;
      const error = await http.get(`${api.url}/always-401`).catch((e: unknown) => e);
      expect(isPermanentError(error)).toBe(true);
      expect((error as Error).message).toMatch(/answered 401/);
      expect(tokenServer.requests.length - before).toBe(1);
      expect(api.requests.length - apiBefore).toBe(2);
      expect(token).toBeTruthy();
    } finally {
      api.setHandler((req, res) => {
        const t = String(req.headers.authorization ?? '').replace(/^Bearer /, '');
        if (!t.startsWith('token-') || revoked.has(t)) return json(res, 401, { error: 'invalid_token' });
        json(res, 200, { token: t });
      });
    }
  });

  it('retries a request whose token request met a passing 503, as it retries a 503 of the API itself', async () => {
    // One 503 from the identity provider, then tokens again: the request goes through, the attempt is not failed.
    const idp = await startTestServer((_req, res) => json(res, 503, { error: 'temporarily_unavailable' }));
    try {
      const http = createHttpClient({
        correlationId: 'c',
        oauth2: oauth2Provider(config({ tokenUrl: `${idp.url}/token` })),
        defaults: { backoffBaseMs: 10 },
      });
      idp.setHandler((_req, res) => {
        idp.setHandler((_r, ok) => json(ok, 200, { access_token: 'token-after-503', token_type: 'Bearer', expires_in: 3600 }));
        json(res, 503, { error: 'temporarily_unavailable' });
      });
      const { token } = await http.getJson<{ token: string }>(`${api.url}/after-idp-503`);
      expect(token).toBe('token-after-503');
      expect(idp.requests.length).toBe(2);
    } finally {
      await idp.close();
    }
  });

  it("reports invalid_client as a permanent credentials error with the server's message", async () => {
    const http = createHttpClient({ correlationId: 'c', oauth2: oauth2Provider(config({ clientSecret: 'wrong' })) });
    const apiBefore = api.requests.length;
    const error = await http.get(`${api.url}/x`).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CredentialsError);
    expect(isPermanentError(error)).toBe(true);
    expect((error as Error).message).toContain('invalid_client: Client authentication failed: unknown client or wrong secret');
    expect(api.requests.length).toBe(apiBefore);
  });

  it('leaves no part of the client secret in a refusal that quotes it where the message is cut short', async () => {
    const secret = 'echoed-Q7x9-secret-value';
    const http = createHttpClient({ correlationId: 'c', oauth2: oauth2Provider(config({ clientSecret: secret })) });
    const error = await http.get(`${api.url}/x`).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CredentialsError);
    const message = (error as Error).message;
    expect(message).toContain('(401: Client authentication failed. Client authentication failed.');
    expect(message).toContain('Secret received: [redac');
    for (let n = 8; n <= secret.length; n++) expect(message).not.toContain(secret.slice(0, n));
  });

  it('names the missing piece of an incomplete configuration', () => {
    expect(() => parseOAuth2Config({ tokenUrl: 'https://idp/token', clientId: 'x', clientSecret: '' })).toThrow(
      'OAuth2 is misconfigured: clientSecret is not set: add it to the integration credentials',
    );
  });

  describe('against a broken token endpoint', () => {
    let idp: TestServer;
    const open = new Set<import('node:http').ServerResponse>();
    beforeAll(async () => {
      idp = await startTestServer((req, res) => {
        open.add(res);
        res.on('close', () => open.delete(res));
        if (req.path === '/stall') {
          res.writeHead(200, { 'content-type': 'application/json' });
          return res.write('{"access_token":');
        }
        if (req.path === '/flood') {
          res.writeHead(200, { 'content-type': 'application/json' });
          const chunk = Buffer.alloc(64 * 1024, 0x20);
          const pump = () => {
            while (res.writable && res.write(chunk));
            if (res.writable) res.once('drain', pump);
          };
          return pump();
        }
        if (req.path === '/moved') {
          res.writeHead(307, { location: `${api.url}/collect` });
          return res.end();
        }
        res.end();
      });
    });
    afterAll(async () => {
      for (const res of open) res.destroy();
      await idp.close();
    });
    const within = <T>(promise: Promise<T>, ms = 3_000) =>
      Promise.race([promise.catch((e: unknown) => e), sleep(ms).then(() => 'hung' as const)]);
    const provider = (path: string) => oauth2Provider(config({ tokenUrl: `${idp.url}${path}` }), { timeoutMs: 300 });

    it('times out a token answer whose body stalls after the headers', async () => {
      const error = await within(provider('/stall').getToken());
      expect(error).toBeInstanceOf(TimeoutError);
      expect((error as Error).message).toBe(`OAuth2 token request to ${idp.url}/stall timed out after 300 ms`);
      expect(isTransientError(error)).toBe(true);
    });

    it('refuses an endless token answer without reading it all', async () => {
      const error = await within(oauth2Provider(config({ tokenUrl: `${idp.url}/flood` }), { timeoutMs: 10_000 }).getToken(), 5_000);
      expect(isPermanentError(error)).toBe(true);
      expect((error as Error).message).toBe(`OAuth2 token response from ${idp.url}/flood is larger than the 1048576-byte limit`);
    });

    it('does not send the client secret on when the token endpoint redirects', async () => {
      const before = api.requests.length;
      const error = await within(provider('/moved').getToken());
      expect(isPermanentError(error)).toBe(true);
      expect((error as Error).message).toBe(
        `OAuth2 token request to ${idp.url}/moved was redirected (307 to ${api.url}/collect): the client secret is not sent on; set the token URL to the address it leads to`,
      );
      expect(api.requests.length).toBe(before);
    });
  });
});
