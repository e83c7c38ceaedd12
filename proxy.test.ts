import { unstable_doesMiddlewareMatch } from 'next/experimental/testing/server';
import { NextRequest, type NextFetchEvent } from 'next/server';
import { describe, expect, it, vi } from 'vitest';
import { MALFORMED_PATH_MESSAGE } from './lib/platform/malformed-path';
import proxy, { config } from './proxy';

// The session guard needs a secret to read (and refuse) a session cookie; Auth.js reads it on import.
vi.hoisted(() => {
  process.env.AUTH_SECRET ??= 'proxy-test-secret-proxy-test-secret';
});

const ORIGIN = 'http://localhost:3000';

/** Paths the proxy once skipped (no session needed), each with bad percent-encoding. */
const MALFORMED_SESSION_FREE = [
  '/hooks/%ZZ',
  '/hooks/pay%E0%A4',
  '/api/auth/%ZZ',
  '/api/auth/session%ZZ',
  '/api/health%ZZ',
  '/api/health/%ZZ',
  '/api/metrics/%ZZ',
  '/api/openapi.json%ZZ',
];

async function answer(path: string, init: { method?: string; headers?: Record<string, string> } = {}): Promise<Response> {
  const request = new NextRequest(`${ORIGIN}${path}`, init);
  const response = await proxy(request, { waitUntil: () => undefined } as unknown as NextFetchEvent);
  if (!response) throw new Error(`the proxy answered nothing for ${path}`);
  return response;
}

describe('proxy', () => {
  it.each(MALFORMED_SESSION_FREE)('runs for %s, so the malformed-path check can answer it', (path) => {
    expect(unstable_doesMiddlewareMatch({ config, url: path })).toBe(true);
  });

  it.each(['/_next/static/chunks/app.js', '/_next/image?url=x', '/favicon.ico'])('leaves static assets alone: %s', (path) => {
    expect(unstable_doesMiddlewareMatch({ config, url: path })).toBe(false);
  });

  it.each(MALFORMED_SESSION_FREE.flatMap((path) => [['GET', path] as const, ['POST', path] as const]))(
    '%s %s answers a JSON 400 that says how to encode a name',
    async (method, path) => {
      const res = await answer(path, { method });
      expect(res.status).toBe(400);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      // The intake listener answers /hooks/ paths with this same message (lib/platform/intake/listener.test.ts).
      expect(await res.json()).toEqual({ error: MALFORMED_PATH_MESSAGE });
      expect(MALFORMED_PATH_MESSAGE).toContain("encode '%' in a name as '%25'");
    },
  );

  it('answers a webhook sent to /hooks/<integration>/ where it was sent, and redirects other paths without the slash', async () => {
    // Before: Next answered the POST with a 308, which a sender does not follow.
    const hook = await answer('/hooks/payment-events/', { method: 'POST' });
    expect(hook.headers.get('x-middleware-rewrite')).toBe(`${ORIGIN}/hooks/payment-events`);
    for (const [path, to] of [
      ['/runs/?status=failed', '/runs?status=failed'],
      ['/api/runs/', '/api/runs'],
      ['/integrations//', '/integrations'],
    ]) {
      const res = await answer(path);
      expect(res.status, path).toBe(308);
      expect(res.headers.get('location'), path).toBe(`${ORIGIN}${to}`);
    }
  });

  it('answers a malformed page path with the same message as plain text', async () => {
    const res = await answer('/runs/%ZZ');
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await res.text()).toContain("'%25'");
  });

  it.each(['/hooks/payment-events', '/api/health', '/api/metrics', '/api/openapi.json', '/api/auth/session', '/signin'])(
    'passes %s on to its route without asking for a session',
    async (path) => {
      // The session guard would answer these anonymous requests 401 or a redirect to sign-in.
      const res = await answer(path);
      expect(res.headers.get('x-middleware-next')).toBe('1');
    },
  );

  it('treats /api itself as the API: a token passes to its JSON 404, no sign-in redirect', async () => {
    // Before: a page path, so the token got the HTML sign-in redirect.
    expect((await answer('/api', { headers: { authorization: 'Bearer jct_x' } })).headers.get('x-middleware-next')).toBe('1');
    expect((await answer('/api')).status).toBe(401);
    for (const path of ['/api', '/api/runs']) {
      // OPTIONS answers only which methods a path serves: documented as 204 (or the JSON 404), never 401.
      expect((await answer(path, { method: 'OPTIONS' })).headers.get('x-middleware-next'), path).toBe('1');
    }
  });

  it('still refuses an anonymous call to the rest of the API with 401, a Bearer challenge and both ways in', async () => {
    const res = await answer('/api/runs');
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="junction"');
    expect(((await res.json()) as { error: string }).error).toMatch(/sign in at \/signin.*Authorization: Bearer <API token>/);
  });
});

describe('proxy: server actions from another site', () => {
  const action = (headers: Record<string, string>) => ({ method: 'POST', headers: { 'next-action': 'a1b2c3', ...headers } });

  it.each([
    ['another site', { origin: 'http://evil.com', host: 'localhost:3000' }],
    ['another port', { origin: 'http://localhost:4000', host: 'localhost:3000' }],
    ['an opaque origin', { origin: 'null', host: 'localhost:3000' }],
    ['an origin that is not a URL', { origin: 'not a url', host: 'localhost:3000' }],
    ['a forwarded host that differs', { origin: 'http://localhost:3000', host: 'localhost:3000', 'x-forwarded-host': 'junction.example' }],
  ])('refuses a call from %s with a 403 that says why', async (_name, headers) => {
    for (const path of ['/runs', '/signin']) {
      const res = await answer(path, action(headers));
      expect(res.status, path).toBe(403);
      expect(((await res.json()) as { error: string }).error, path).toMatch(
        /^Cross-site server action refused: it comes from ".*", not from this site/,
      );
    }
  });

  it.each([
    ['the same host', { origin: 'http://localhost:3000', host: 'localhost:3000' }],
    ['the forwarded host', { origin: 'https://junction.example', host: '10.0.0.5:3000', 'x-forwarded-host': 'junction.example' }],
    ['no Origin (not a browser; Next lets it through too)', { host: 'localhost:3000' }],
  ])('lets a call from %s through', async (_name, headers) => {
    const res = await answer('/signin', action(headers));
    expect(res.headers.get('x-middleware-next')).toBe('1');
  });

  it('refuses a cross-site form post to a page without the Next-Action header too (it invokes the action)', async () => {
    // Before: passed on, and Next answered a plain-text 500.
    const res = await answer('/integrations/crm-sync/config', {
      method: 'POST',
      headers: { origin: 'https://evil.example', host: 'localhost:3000', 'content-type': 'multipart/form-data; boundary=x' },
    });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: string }).error).toMatch(/^Cross-site server action refused/);
  });

  it('leaves requests that are not server actions alone', async () => {
    const res = await answer('/hooks/payment-events', { method: 'POST', headers: { origin: 'http://evil.com', host: 'localhost:3000' } });
    expect(res.headers.get('x-middleware-next')).toBe('1');
  });
});
