import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sleep, waitFor } from '../test/fixtures/wait';
import type { BookingResult } from './accounting-api';
import type { FaultsSnapshot } from './faults';
import type { RequestCountsSnapshot } from './request-counts';
import { standInsOptionsFromEnvironment, startStandIns, type StandIns } from './stand-ins';

let sandbox: StandIns;

beforeAll(async () => {
  sandbox = await startStandIns({ port: 0, smtpPort: 0, seed: 11, faults: {} });
});

beforeEach(() => sandbox.state.reset());

afterAll(async () => {
  await sandbox.close();
});

function putFaults(base: string, system: string, config: unknown) {
  return fetch(`${base}/_admin/faults/${system}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(config),
  });
}

async function token(base: string): Promise<string> {
  const res = await fetch(`${base}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials&client_id=accounting-export&client_secret=dev-accounting-secret',
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { access_token: string }).access_token;
}

const entry = (reference: string) => ({
  reference,
  date: '2026-11-02',
  dueDate: '2026-12-02',
  currency: 'EUR',
  customerId: 'cust-1',
  customerName: 'Globex GmbH',
  netAmount: '100.00',
  taxAmount: '19.00',
  grossAmount: '119.00',
  account: '8400',
  description: 'Invoice',
  lineCount: 1,
});

async function statuses(base: string, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const res = await fetch(`${base}/crm/v1/contacts?limit=1`);
    await res.arrayBuffer();
    out.push(res.status);
  }
  return out;
}

describe('fault injection over HTTP', () => {
  it('gives the same sequence of statuses for the same seed and config, again after the config is set anew', async () => {
    const config = { errorRate: 0.4, rateLimit: { everyN: 6, retryAfterSeconds: 1 } };
    const twin = await startStandIns({ port: 0, smtpPort: 0, seed: 11, faults: { crm: config } });
    const other = await startStandIns({ port: 0, smtpPort: 0, seed: 12, faults: { crm: config } });
    try {
      expect((await putFaults(sandbox.url, 'crm', config)).status).toBe(200);
      const first = await statuses(sandbox.url, 40);
      expect(await statuses(twin.url, 40)).toEqual(first);
      expect(await statuses(other.url, 40)).not.toEqual(first);
      expect(new Set(first)).toContain(200);
      expect(new Set(first)).toContain(429);
      expect(first.some((s) => s >= 500)).toBe(true);
      await putFaults(sandbox.url, 'crm', config);
      expect(await statuses(sandbox.url, 40)).toEqual(first);
    } finally {
      await Promise.all([twin.close(), other.close()]);
    }
  });

  it('answers 429 with Retry-After when rate limited', async () => {
    await putFaults(sandbox.url, 'crm', { rateLimit: { everyN: 1, retryAfterSeconds: 7 } });
    const res = await fetch(`${sandbox.url}/crm/v1/contacts`);
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('7');
    expect(((await res.json()) as { error: string }).error).toBe('rate_limited');
  });

  it('fails every request with 503 and Retry-After during an outage, and serves again once it has passed', async () => {
    const setAt = Date.now();
    await putFaults(sandbox.url, 'crm', { outageSeconds: 1 });
    const during = await fetch(`${sandbox.url}/crm/v1/contacts`);
    expect(during.status).toBe(503);
    expect(Number(during.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    let recoveredAt = 0;
    for (const deadline = Date.now() + 15_000; Date.now() < deadline;) {
      const res = await fetch(`${sandbox.url}/crm/v1/contacts`);
      await res.arrayBuffer();
      if (res.status === 200) {
        recoveredAt = Date.now();
        break;
      }
      expect(res.status).toBe(503);
      await sleep(200);
    }
    expect(recoveredAt).toBeGreaterThan(0);
    expect(recoveredAt - setAt).toBeGreaterThanOrEqual(950);
  });

  it('takes the token endpoint down until its faults are cleared', async () => {
    await putFaults(sandbox.url, 'oauth', { down: true });
    const down = await fetch(`${sandbox.url}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials',
    });
    expect(down.status).toBe(503);
    expect(sandbox.state.tokens.tokenRequests).toBe(0);
    expect((await fetch(`${sandbox.url}/_admin/faults/oauth`, { method: 'DELETE' })).status).toBe(200);
    await token(sandbox.url);
  });

  it('echoes the credentials a request carried in its error body while echoCredentials is set', async () => {
    expect((await putFaults(sandbox.url, 'oauth', { echoCredentials: {} })).status).toBe(200);
    const refused = await fetch(`${sandbox.url}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials&client_id=accounting-export&client_secret=s%2Bcret%20x',
    });
    expect(refused.status).toBe(401);
    const oauth = (await refused.json()) as { error: string; error_description: string };
    expect(oauth.error).toBe('invalid_client');
    expect(oauth.error_description).toContain("with client_secret 's+cret x'");
    expect(oauth.error_description).toContain('client_secret=s%2Bcret%20x');
    expect(sandbox.state.tokens.tokenRequests).toBe(0);

    await putFaults(sandbox.url, 'crm', { echoCredentials: { status: 500 } });
    const crm = await fetch(`${sandbox.url}/crm/v1/contacts?api_key=k-123&limit=1`, {
      headers: { authorization: 'Bearer tok-456', 'x-api-key': 'k-789' },
    });
    expect(crm.status).toBe(500);
    expect(((await crm.json()) as { message: string }).message).toBe(
      'Refused GET /crm/v1/contacts?api_key=k-123&limit=1 (Authorization: Bearer tok-456; X-Api-Key: k-789; body: )',
    );
    expect((await putFaults(sandbox.url, 'crm', { echoCredentials: { status: 200 } })).status).toBe(400);
    await fetch(`${sandbox.url}/_admin/faults`, { method: 'DELETE' });
    expect((await fetch(`${sandbox.url}/crm/v1/contacts?limit=1`)).status).toBe(200);
  });

  it('holds a timed-out POST without answering after booking it: the retry with the same key is a replay', async () => {
    const bearer = await token(sandbox.url);
    await putFaults(sandbox.url, 'accounting', { timeoutRate: 1 });
    const send = (signal?: AbortSignal) =>
      fetch(`${sandbox.url}/accounting/v1/journal-entries`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${bearer}`, 'idempotency-key': 'k-timeout' },
        body: JSON.stringify({ entries: [entry('INV-T')] }),
        signal,
      });
    await expect(send(AbortSignal.timeout(300))).rejects.toThrow();
    expect(sandbox.state.ledger.countFor('INV-T')).toBe(1);
    await fetch(`${sandbox.url}/_admin/faults/accounting`, { method: 'DELETE' });
    const retry = await send();
    expect(retry.status).toBe(201);
    expect(retry.headers.get('idempotent-replay')).toBe('true');
    expect(((await retry.json()) as BookingResult).booked[0].reference).toBe('INV-T');
    expect(sandbox.state.ledger.countFor('INV-T')).toBe(1);
    // The server sees the client hang up asynchronously.
    await waitFor('the client hang-up to be counted', () => sandbox.state.requests.snapshot().accounting.aborted > 0, 5_000, 50);
    expect(sandbox.state.requests.snapshot().accounting.aborted).toBe(1);
  });

  it('adds the configured latency before answering', async () => {
    await putFaults(sandbox.url, 'crm', { latencyMs: 300 });
    const started = Date.now();
    expect((await fetch(`${sandbox.url}/crm/v1/contacts`)).status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
  });

  it('refuses invalid fault payloads with 400 naming the field, unknown systems with 404', async () => {
    const bad = await putFaults(sandbox.url, 'accounting', { errorRate: 0.2, timeoutRate: 'often' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { message: string }).message).toMatch(/^Invalid faults for 'accounting': timeoutRate /);
    const notJson = await fetch(`${sandbox.url}/_admin/faults/crm`, { method: 'PUT', body: 'errorRate=1' });
    expect(notJson.status).toBe(400);
    const unknown = await putFaults(sandbox.url, 'ledger', {});
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { message: string }).message).toContain('oauth, accounting, crm');
  });

  it('lists the faults in force', async () => {
    await putFaults(sandbox.url, 'accounting', { errorRate: 0.2 });
    const snapshot = (await (await fetch(`${sandbox.url}/_admin/faults`)).json()) as FaultsSnapshot;
    expect(snapshot.seed).toBe(11);
    expect(snapshot.systems.accounting.config).toMatchObject({ errorRate: 0.2 });
    expect(snapshot.systems.crm.config).toBeNull();
  });
});

describe('admin endpoints and the page', () => {
  it('records each request with its X-Correlation-Id and traceparent, filterable by correlation id', async () => {
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    await fetch(`${sandbox.url}/crm/v1/contacts`, { headers: { 'x-correlation-id': 'corr-follow-me', traceparent } });
    await fetch(`${sandbox.url}/crm/v1/contacts`, { headers: { 'x-correlation-id': 'someone-else' } });
    const answer = await fetch(`${sandbox.url}/_admin/requests/recent?correlationId=corr-follow-me`);
    expect(answer.status).toBe(200);
    expect(((await answer.json()) as { items: unknown[] }).items).toEqual([
      expect.objectContaining({ system: 'crm', method: 'GET', path: '/crm/v1/contacts', correlationId: 'corr-follow-me', traceparent }),
    ]);
  });

  it('counts requests per system by status, and reset clears counts, bookings, messages and faults but keeps contacts', async () => {
    const bearer = await token(sandbox.url);
    await fetch(`${sandbox.url}/accounting/v1/journal-entries`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${bearer}` },
      body: JSON.stringify({ entries: [entry('INV-1')] }),
    });
    await fetch(`${sandbox.url}/accounting/v1/journal-entries`, { method: 'POST', body: '{}' });
    await fetch(`${sandbox.url}/catcher/webhook/ops`, { method: 'POST', body: '{}' });
    await fetch(`${sandbox.url}/_admin/crm/contacts/crm-0001`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: '{"name":"Kept Contact"}',
    });
    await putFaults(sandbox.url, 'crm', { errorRate: 1 });

    const counts = (await (await fetch(`${sandbox.url}/_admin/requests`)).json()) as RequestCountsSnapshot;
    expect(counts.oauth).toEqual({ total: 1, byStatus: { 200: 1 }, aborted: 0 });
    expect(counts.accounting).toEqual({ total: 2, byStatus: { 201: 1, 401: 1 }, aborted: 0 });
    expect(counts.catcher.total).toBe(1);

    const reset = await fetch(`${sandbox.url}/_admin/reset`, { method: 'POST' });
    expect(await reset.json()).toEqual({ reset: true, contacts: 250 });
    const after = (await (await fetch(`${sandbox.url}/_admin/requests`)).json()) as RequestCountsSnapshot;
    expect(after.accounting).toEqual({ total: 0, byStatus: {}, aborted: 0 });
    expect(sandbox.state.ledger.bookings).toHaveLength(0);
    expect(sandbox.state.catchers.messages).toHaveLength(0);
    expect(sandbox.state.faults.snapshot().systems.crm.config).toBeNull();
    expect(sandbox.state.contacts.get('crm-0001')?.name).toBe('Kept Contact');
    expect(sandbox.state.tokens.check(`Bearer ${bearer}`).ok).toBe(false);
  });

  it('shows bookings, messages and faults on an HTML page, with received text escaped', async () => {
    const bearer = await token(sandbox.url);
    await fetch(`${sandbox.url}/accounting/v1/journal-entries`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${bearer}` },
      body: JSON.stringify({ entries: [{ ...entry('INV-<b>9</b>'), customerName: '<script>alert(1)</script>' }] }),
    });
    await fetch(`${sandbox.url}/catcher/slack/team`, { method: 'POST', body: JSON.stringify({ text: '<img src=x onerror=alert(1)>' }) });
    await putFaults(sandbox.url, 'accounting', { errorRate: 0.25, latencyMs: 50 });
    const res = await fetch(`${sandbox.url}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await res.text();
    expect(html).toContain('INV-&lt;b&gt;9&lt;/b&gt;');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).not.toContain('<script>');
    expect(html).not.toContain('<img');
    expect(html).toContain('25 % errors, +50 ms');
    expect(html).toContain('slack/team');
  });

  it('answers unknown routes with 404 and wrong methods with 405', async () => {
    expect((await fetch(`${sandbox.url}/nowhere`)).status).toBe(404);
    const wrong = await fetch(`${sandbox.url}/oauth/token`);
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('POST');
  });
});

describe('start-up options', () => {
  it('reads the seed and faults from SANDBOX_SEED and SANDBOX_FAULTS', async () => {
    const options = standInsOptionsFromEnvironment({ SANDBOX_SEED: '99', SANDBOX_FAULTS: '{"crm":{"down":true}}' });
    const fromEnv = await startStandIns({ port: 0, smtpPort: 0, ...options });
    try {
      expect(fromEnv.state.seed).toBe(99);
      expect((await fetch(`${fromEnv.url}/crm/v1/contacts`)).status).toBe(503);
    } finally {
      await fromEnv.close();
    }
  });

  it('refuses invalid initial faults with a message naming the field', async () => {
    await expect(startStandIns({ port: 0, smtpPort: 0, faults: { accounting: { errorRate: 3 } } })).rejects.toThrow(
      "Invalid faults for 'accounting': errorRate must be between 0 and 1",
    );
  });
});
