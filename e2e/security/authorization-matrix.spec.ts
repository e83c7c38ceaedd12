import { createHash, randomBytes } from 'node:crypto';
import type { APIRequestContext, Browser } from '@playwright/test';
import { db } from '../db';
import { expect, signIn, test } from '../fixtures';
import { serverActions } from '../server-actions';

type Who = 'anonymous' | 'vera' | 'oscar' | 'ada';
const WHO: Who[] = ['anonymous', 'vera', 'oscar', 'ada'];
const RANK: Record<Who, number> = { anonymous: -1, vera: 0, oscar: 1, ada: 2 };
const ROLE_RANK = { viewer: 0, operator: 1, admin: 2 } as const;
const NO_RUN = '00000000-0000-4000-8000-000000000000';

/** Route handlers: the role each needs, and a request that is harmless when allowed (unknown target or invalid input). */
const ROUTES: { method: 'GET' | 'POST' | 'PATCH'; path: string; role: keyof typeof ROLE_RANK; body?: unknown }[] = [
  { method: 'GET', path: '/api/me', role: 'viewer' },
  { method: 'GET', path: '/api/integrations', role: 'viewer' },
  { method: 'GET', path: '/api/runs?status=failed', role: 'viewer' },
  { method: 'GET', path: `/api/runs/status?ids=${NO_RUN}`, role: 'viewer' },
  { method: 'GET', path: `/api/runs/${NO_RUN}`, role: 'viewer' },
  { method: 'GET', path: '/api/changes?view=overview', role: 'viewer' },
  { method: 'POST', path: '/api/integrations/no-such-integration/runs', role: 'operator', body: { dryRun: true } },
  { method: 'POST', path: `/api/runs/${NO_RUN}/retry`, role: 'operator', body: {} },
  { method: 'POST', path: '/api/runs/retry', role: 'operator', body: { runIds: [NO_RUN] } },
  { method: 'POST', path: `/api/runs/${NO_RUN}/cancel`, role: 'operator', body: {} },
  { method: 'PATCH', path: `/api/bulk-operations/${NO_RUN}`, role: 'operator', body: { pace: { runs: 20, per: '1m' } } },
];

/** Server actions: the role each needs (by export name); anything unlisted needs admin. */
const ACTION_ROLE: Record<string, keyof typeof ROLE_RANK> = {
  previewScheduleAction: 'viewer',
  retryRunAction: 'operator',
  retryRunsAction: 'operator',
  retryMatchingAction: 'operator',
  cancelRunAction: 'operator',
  runNowAction: 'operator',
  pauseAction: 'operator',
  resumeAction: 'operator',
  resetBreakerAction: 'operator',
  openBreakerAction: 'operator',
  sendTestAlertAction: 'operator',
  cancelBulkAction: 'operator',
  setBulkPaceAction: 'operator',
  replayEventsAction: 'operator',
  dismissEventAction: 'operator',
};

/**
 * Server actions that end the caller's own session (any signed-in user may): each is called last,
 * from fresh sessions, and "allowed" means that session is over afterwards.
 */
const SESSION_ACTIONS = new Set(['signOutAction', 'signOutEverywhereAction']);

/** Inputs that pass no validation or target nothing, so an allowed call changes nothing either. */
const HARMLESS = [
  {
    integration: 'no-such-integration',
    expectedVersion: 1,
    runId: NO_RUN,
    runIds: [NO_RUN],
    key: 'no-such-breaker',
    userId: NO_RUN,
    channelId: NO_RUN,
    id: NO_RUN,
    schedule: '0 2 * * *',
    timezone: 'UTC',
    patch: { breakerFailures: 'many' },
    input: { type: 'carrier-pigeon' },
  },
];

/** API tokens (no session): route handlers accept them up to their role; pages and server actions never do. */
const TOKEN_ROLES = ['viewer', 'operator'] as const;

async function tokenClient(browser: Browser, role: (typeof TOKEN_ROLES)[number], baseURL: string): Promise<APIRequestContext> {
  const value = `jct_${randomBytes(32).toString('base64url')}`;
  await db()`
    insert into api_tokens (name, role, token_hash, prefix, created_by_user_id, created_by, expires_at)
    select ${`matrix-${role}-${Date.now()}`}, ${role}, ${createHash('sha256').update(value).digest('hex')}, ${value.slice(0, 10)},
           id, 'matrix', now() + interval '1 hour'
      from users where role = 'admin' and not disabled order by created_at limit 1`;
  const context = await browser.newContext({ baseURL, extraHTTPHeaders: { Authorization: `Bearer ${value}` } });
  return context.request;
}

async function requestAs(browser: Browser, who: Who, baseURL: string): Promise<APIRequestContext> {
  const context = await browser.newContext({ baseURL });
  if (who !== 'anonymous') await signIn(await context.newPage(), who);
  return context.request;
}

test('authorization matrix: every route handler and server action as anonymous, viewer, operator and admin', async ({
  browser,
  baseURL,
}) => {
  test.setTimeout(420_000);
  // Runs a person or a token could start (not a cron tick or a webhook of the running system: a
  // schedule firing while the matrix ran made the count differ once).
  const snapshot = () =>
    db()<{ runs: number; audit: number; channels: number; roles: string; paused: number }[]>`
      select (select count(*)::int from runs where trigger not in ('schedule', 'event')) as runs, (select count(*)::int from audit_log) as audit,
             (select count(*)::int from alert_channels) as channels, (select string_agg(role::text || disabled::text, ',' order by id) from users) as roles,
             (select count(*)::int from integrations where paused) as paused`;
  const table: string[] = [];
  const actions = serverActions({ name: 'accounting-export', id: NO_RUN });
  expect(actions.length).toBeGreaterThanOrEqual(15);
  const clients = Object.fromEntries(
    await Promise.all(WHO.map(async (w) => [w, await requestAs(browser, w, baseURL!)] as const)),
  ) as Record<Who, APIRequestContext>;
  const tokens = await Promise.all(TOKEN_ROLES.map(async (role) => ({ role, client: await tokenClient(browser, role, baseURL!) })));
  const before = await snapshot();
  for (const route of ROUTES) {
    const row: string[] = [`${route.method} ${route.path}`.padEnd(58)];
    for (const who of WHO) {
      const res =
        route.method === 'GET'
          ? await clients[who].get(route.path)
          : await clients[who].fetch(route.path, { method: route.method, data: route.body, headers: { Origin: baseURL! } });
      const allowed = RANK[who] >= ROLE_RANK[route.role];
      if (who === 'anonymous') expect(res.status(), `${who} ${route.path}`).toBe(401);
      else if (!allowed) expect(res.status(), `${who} ${route.path}`).toBe(403);
      else expect([200, 400, 404, 409], `${who} ${route.path}`).toContain(res.status());
      row.push(String(res.status()).padEnd(6));
    }
    for (const token of tokens) {
      const res =
        route.method === 'GET'
          ? await token.client.get(route.path)
          : await token.client.fetch(route.path, { method: route.method, data: route.body });
      if (ROLE_RANK[token.role] >= ROLE_RANK[route.role])
        expect([200, 400, 404, 409], `${token.role} token ${route.path}`).toContain(res.status());
      else expect(res.status(), `${token.role} token ${route.path}`).toBe(403);
      row.push(String(res.status()).padEnd(6));
    }
    table.push(row.join(''));
  }
  // Session actions last: they end the session that calls them.
  actions.sort((a, b) => Number(SESSION_ACTIONS.has(a.name)) - Number(SESSION_ACTIONS.has(b.name)));
  for (const action of actions) {
    if (SESSION_ACTIONS.has(action.name)) {
      const row: string[] = [`action ${action.name} (own session)`.padEnd(58)];
      for (const who of WHO) {
        const client = await requestAs(browser, who, baseURL!);
        const res = await client.post(action.page, {
          headers: { 'Next-Action': action.id, 'Content-Type': 'text/plain;charset=UTF-8', Origin: baseURL!, Accept: 'text/x-component' },
          data: JSON.stringify(HARMLESS),
          maxRedirects: 0,
        });
        if (who === 'anonymous') expect(res.status(), `${who} ${action.name}`).toBe(307);
        else {
          expect(res.status(), `${who} ${action.name}`).toBeLessThan(400);
          expect((await client.get('/api/me')).status(), `${who} ${action.name} ended the session`).toBe(401);
        }
        row.push(String(res.status()).padEnd(6));
      }
      table.push(row.join(''));
      continue;
    }
    const role = ACTION_ROLE[action.name] ?? 'admin';
    const row: string[] = [`action ${action.name} (${role})`.padEnd(58)];
    for (const who of WHO) {
      const res = await clients[who].post(action.page, {
        headers: { 'Next-Action': action.id, 'Content-Type': 'text/plain;charset=UTF-8', Origin: baseURL!, Accept: 'text/x-component' },
        data: JSON.stringify(HARMLESS),
        maxRedirects: 0,
      });
      const body = await res.text();
      const allowed = RANK[who] >= ROLE_RANK[role];
      if (who === 'anonymous') {
        // The proxy sends anonymous page requests to sign-in before any action runs.
        expect(res.status() === 307 || body.includes('"status":401'), `${who} ${action.name}: ${res.status()}`).toBe(true);
        row.push((res.status() === 307 ? '307' : '401').padEnd(6));
      } else if (!allowed) {
        expect(body, `${who} ${action.name}`).toContain('"status":403');
        row.push('403'.padEnd(6));
      } else {
        expect(body, `${who} ${action.name}`).not.toMatch(/"status":(401|403|500)/);
        row.push((body.match(/"status":(\d+)/)?.[1] ?? 'ok').padEnd(6));
      }
    }
    // A token alone never reaches a server action: the proxy sends it to sign-in like anonymous.
    for (const token of tokens) {
      const res = await token.client.post(action.page, {
        headers: { 'Next-Action': action.id, 'Content-Type': 'text/plain;charset=UTF-8', Origin: baseURL!, Accept: 'text/x-component' },
        data: JSON.stringify(HARMLESS),
        maxRedirects: 0,
      });
      expect(res.status(), `${token.role} token ${action.name}`).toBe(307);
      row.push('307'.padEnd(6));
    }
    table.push(row.join(''));
  }
  expect(await snapshot()).toEqual(before);
  console.log(
    `${'request (needs role)'.padEnd(58)}${[...WHO, 'tok:v', 'tok:o'].map((w) => w.slice(0, 5).padEnd(6)).join('')}\n${table.join('\n')}`,
  );
});
