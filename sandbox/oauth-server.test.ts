import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep } from '../test/fixtures/wait';
import { DEFAULT_CLIENT, startStandIns, type StandIns } from './stand-ins';

let sandbox: StandIns;
let shortLived: StandIns;

beforeAll(async () => {
  sandbox = await startStandIns({ port: 0, smtpPort: 0, seed: 1, faults: {} });
  shortLived = await startStandIns({
    port: 0,
    smtpPort: 0,
    seed: 1,
    faults: {},
    tokenTtlSeconds: 1,
    clients: [{ clientId: 'svc one', clientSecret: 's3cr:t+%' }],
  });
});

afterAll(async () => {
  await Promise.all([sandbox.close(), shortLived.close()]);
});

function form(values: Record<string, string>) {
  return { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(values).toString() };
}

function basic(id: string, secret: string) {
  const enc = (v: string) => encodeURIComponent(v);
  return `Basic ${Buffer.from(`${enc(id)}:${enc(secret)}`).toString('base64')}`;
}

describe('OAuth2 token server', () => {
  it('issues a bearer token for the demo client with credentials in the body, echoing the scope', async () => {
    const res = await fetch(
      `${sandbox.url}/oauth/token`,
      form({
        grant_type: 'client_credentials',
        ...{ client_id: DEFAULT_CLIENT.clientId, client_secret: DEFAULT_CLIENT.clientSecret },
        scope: 'journal:write',
        audience: 'accounting',
      }),
    );
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = (await res.json()) as { access_token: string; token_type: string; expires_in: number; scope: string };
    expect(body).toMatchObject({ token_type: 'Bearer', expires_in: 300, scope: 'journal:write' });
    expect(body.access_token).toMatch(/^sbx_/);
    expect(sandbox.state.tokens.check(`Bearer ${body.access_token}`)).toMatchObject({
      ok: true,
      token: { clientId: 'accounting-export', audience: 'accounting' },
    });
  });

  it('accepts HTTP Basic credentials form-encoded per RFC 6749 (reserved characters in id and secret)', async () => {
    const res = await fetch(`${shortLived.url}/oauth/token`, {
      ...form({ grant_type: 'client_credentials' }),
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('svc one', 's3cr:t+%') },
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { expires_in: number }).expires_in).toBe(1);
  });

  it('refuses a wrong secret, an unknown client and missing credentials with 401 invalid_client', async () => {
    const wrong = await fetch(
      `${sandbox.url}/oauth/token`,
      form({ grant_type: 'client_credentials', client_id: 'accounting-export', client_secret: 'nope' }),
    );
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toEqual({
      error: 'invalid_client',
      error_description: "Wrong client_secret for client 'accounting-export'",
    });

    const unknown = await fetch(`${sandbox.url}/oauth/token`, {
      ...form({ grant_type: 'client_credentials' }),
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('mallory', 'x') },
    });
    expect(unknown.status).toBe(401);
    expect(unknown.headers.get('www-authenticate')).toContain('Basic');
    expect(((await unknown.json()) as { error: string }).error).toBe('invalid_client');

    const missing = await fetch(`${sandbox.url}/oauth/token`, form({ grant_type: 'client_credentials' }));
    expect(missing.status).toBe(401);
    expect(((await missing.json()) as { error_description: string }).error_description).toMatch(/missing/);
  });

  it('refuses other grant types and non-form bodies with 400', async () => {
    const grant = await fetch(
      `${sandbox.url}/oauth/token`,
      form({ grant_type: 'password', client_id: 'accounting-export', client_secret: 'dev-accounting-secret' }),
    );
    expect(grant.status).toBe(400);
    expect(((await grant.json()) as { error: string }).error).toBe('unsupported_grant_type');
    const jsonBody = await fetch(`${sandbox.url}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(jsonBody.status).toBe(400);
    expect(((await jsonBody.json()) as { error: string }).error).toBe('invalid_request');
  });

  it('lets a token expire after its lifetime: the accounting API then answers 401 invalid_token', async () => {
    const res = await fetch(
      `${shortLived.url}/oauth/token`,
      form({ grant_type: 'client_credentials', client_id: 'svc one', client_secret: 's3cr:t+%' }),
    );
    const { access_token } = (await res.json()) as { access_token: string };
    const list = () => fetch(`${shortLived.url}/accounting/v1/journal-entries`, { headers: { authorization: `Bearer ${access_token}` } });
    expect((await list()).status).toBe(200);
    await sleep(1_100);
    const expired = await list();
    expect(expired.status).toBe(401);
    expect(expired.headers.get('www-authenticate')).toContain('error="invalid_token"');
    expect(((await expired.json()) as { error: string; error_description: string }).error_description).toMatch(/expired/);
  });

  it('expires every issued token on demand and counts token requests', async () => {
    const before = sandbox.state.tokens.tokenRequests;
    const res = await fetch(
      `${sandbox.url}/oauth/token`,
      form({ grant_type: 'client_credentials', client_id: 'accounting-export', client_secret: 'dev-accounting-secret' }),
    );
    const { access_token } = (await res.json()) as { access_token: string };
    expect(sandbox.state.tokens.tokenRequests).toBe(before + 1);
    const expire = await fetch(`${sandbox.url}/_admin/oauth/expire-tokens`, { method: 'POST' });
    expect(((await expire.json()) as { expired: number }).expired).toBeGreaterThanOrEqual(1);
    expect(sandbox.state.tokens.check(`Bearer ${access_token}`).ok).toBe(false);
    const counts = (await (await fetch(`${sandbox.url}/_admin/requests`)).json()) as { tokenRequests: number; oauth: { total: number } };
    expect(counts.tokenRequests).toBe(sandbox.state.tokens.tokenRequests);
    expect(counts.oauth.total).toBeGreaterThanOrEqual(counts.tokenRequests);
  });
});
