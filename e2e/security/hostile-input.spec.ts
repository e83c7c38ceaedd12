import type { APIRequestContext, Page } from '@playwright/test';
import fc from 'fast-check';
import { db } from '../db';
import { expect, seedFailedRuns, signIn, test } from '../fixtures';
import { callServerAction, serverActions, type ServerActionRef } from '../server-actions';

/**
 * Hostile input against the real server (issue 8, item 7): every JSON route handler that takes a
 * body or a query string, and every server action, called over HTTP as an admin with what
 * fast-check generates (wrong types, huge strings, unicode with RTL and NUL, HTML and script,
 * unknown fields, malformed JSON, absurd numbers, invalid cron, zones and JSONata). Each case must
 * be refused with a 4xx (routes) or a typed failure (actions) carrying a short message a person
 * can read, and leave the database as it was. Then valid-but-hostile text is stored through the
 * console and the pages that show it are opened in Chromium: it must read literally, as text.
 *
 * Test-side generation runs with fixed seeds, so a failure names a case that replays.
 */

test.describe.configure({ mode: 'serial' });

const NO_RUN = '00000000-0000-4000-8000-000000000000';
/** Longest error message or field message we accept: enough to say what is wrong, never an echo of a huge input. */
const MAX_MESSAGE = 500;
/** Largest refusal body: many field messages are fine, megabytes of echoed input are not. */
const MAX_BODY = 32_000;
const XSS = `"><img src=x onerror="window.__xss=1"><script>window.__xss=2</script>`;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const REGISTERED = ['accounting-export', 'crm-sync'];
const BREAKER_KEYS = ['accounting-api', 'crm-api'];
const DECLARED_SECRETS = ['clientId', 'clientSecret', 'apiKey'];

const figures = {
  routes: new Set<string>(),
  routeCases: 0,
  routeRefused: 0,
  routeAccepted: 0,
  route5xx: 0,
  routeWritten: 0,
  actions: new Set<string>(),
  actionCases: 0,
  actionRefused: 0,
  action5xx: 0,
  actionWritten: 0,
  pages: 0,
};

// -------------------------------------------------------------------------------------------------
// Hostile values
// -------------------------------------------------------------------------------------------------

const HOSTILE_TEXT = [
  '<script>window.__xss=3</script>',
  '"><img src=x onerror="window.__xss=4">',
  "'; drop table runs; --",
  '\u0000',
  'crm-sync\u0000',
  '\u202eevil\u202c.exe',
  '\u200f\u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627',
  '𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ☃ 🚀 👩‍👩‍👧',
  '\ufeff',
  '\ud800',
  '${7*7}{{7*7}}',
  '$x',
  '$@1',
  '../../etc/passwd',
  '%00%zz',
  ' ',
  '',
  'x'.repeat(5_000),
];
const HUGE_TEXT = 'y'.repeat(200_000);

const hostileString = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 30 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 30 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 10 }) },
  { weight: 4, arbitrary: fc.constantFrom(...HOSTILE_TEXT) },
);
const absurdNumber = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.constantFrom(-1, 0, 2.5, 1e308, -1e308, Number.MAX_SAFE_INTEGER + 2, NaN, Infinity, -Infinity, -0),
);
const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: hostileString },
  { weight: 2, arbitrary: absurdNumber },
  { weight: 1, arbitrary: fc.boolean() },
  { weight: 1, arbitrary: fc.constantFrom(null, undefined) },
  { weight: 1, arbitrary: fc.array(hostileString, { maxLength: 3 }) },
  { weight: 1, arbitrary: fc.dictionary(hostileString, hostileString, { maxKeys: 3 }) },
);
const notAString = fc.oneof(
  absurdNumber,
  fc.boolean(),
  fc.constant(null),
  fc.array(hostileString, { maxLength: 2 }),
  fc.dictionary(hostileString, hostileString, { maxKeys: 2 }),
);
/** Never a uuid: text of any kind, or not text at all. */
const notAUuid = fc.oneof(
  hostileString.filter((s) => !UUID.test(s)),
  notAString,
);
/** A well-formed id of nothing that exists. */
const unknownUuid = fc.uuid({ version: 4 }).filter((id) => id !== NO_RUN);
/** Never the name of a registered integration or its breaker. */
const unknownName = hostileString.filter((s) => !REGISTERED.includes(s.trim()) && !BREAKER_KEYS.includes(s.trim()));
/** A name or key that is no integration's or breaker's, often with the characters a database chokes on. */
const hostileName = fc.oneof(
  { weight: 2, arbitrary: unknownName },
  { weight: 1, arbitrary: fc.constantFrom('\u0000', 'crm-sync\u0000', 'crm-api\u0000', '\ufeff', '\u202e', 'n'.repeat(101), XSS) },
);
const unknownField = fc.dictionary(
  hostileString.filter((k) => k !== '__proto__'),
  hostileValue,
  { minKeys: 1, maxKeys: 3 },
);
const badVersion = fc.oneof(fc.constantFrom(0, -1, 2.5, '1', null, 1e308, NaN, Infinity, 1_000_000), notAString);
const badDate = fc.constantFrom(
  'not a date',
  '',
  '2024-13-45T99:99',
  '1e400',
  'NaN',
  '+275760-09-14T00:00:00Z',
  '-271822-01-01T00:00:00Z',
  // Read by `new Date` (and once accepted) as something else: year 4713, 2 March, 2001, a weekday.
  '-4713-01-01',
  '2026-02-30',
  '1',
  'Wed Dec 02 2026',
  // Valid Date values PostgreSQL cannot store (years 275760 and -271821): once a 500.
  8_640_000_000_000_000,
  -8_640_000_000_000_000,
  {},
  [],
  null,
  'tomorrow',
);
/** A Retry all matching filter's fields but its integration: each with a valid and an invalid value. */
const RETRY_FILTER_FIELDS = {
  status: {
    valid: fc.constantFrom('failed', 'cancelled'),
    invalid: fc.oneof(fc.constantFrom('succeeded', 'active', 'queued', undefined), hostileString, notAString),
  },
  trigger: { valid: fc.constant('manual'), invalid: fc.oneof(hostileString, notAString) },
  dryRun: { valid: fc.constant('exclude'), invalid: fc.oneof(hostileString, notAString) },
  retried: { valid: fc.constant('exclude'), invalid: fc.oneof(fc.constant('only'), notAString) },
  bulk: { valid: fc.constant(undefined), invalid: notAUuid },
  from: { valid: fc.constant('2020-01-01T00:00:00Z'), invalid: fc.oneof(badDate, notAString) },
  to: { valid: fc.constant(undefined), invalid: fc.oneof(badDate, notAString, fc.constant('2019-01-01T00:00:00Z')) },
};
const BAD_CRON = [
  '0 25 * * *',
  '61 * * * *',
  '* * * * * * *',
  'every day',
  '@never',
  '*/0 * * * *',
  '0 0 31 2 *x',
  '<script>x</script>',
  '\u0000',
];
const BAD_ZONES = ['Mars/Olympus', 'UTC+99', '', '../../etc/localtime', 'Europe/<b>Paris</b>', '\u0000', 'x'.repeat(101)];
const MALFORMED_JSONATA = ['(', '$x(', '"unterminated', 'a[', '$$$', '}{', 'function($x){$x', '[1,2', '$.{', '`', '<script>', '\u0000'];

/** A record where at least one field (picked by fast-check) is invalid and the rest is anything. */
function withOneInvalid<K extends string>(
  fields: Record<K, { valid: fc.Arbitrary<unknown>; invalid: fc.Arbitrary<unknown> }>,
): fc.Arbitrary<Record<string, unknown>> {
  const keys = Object.keys(fields) as K[];
  return fc
    .constantFrom(...keys)
    .chain((forced) =>
      fc
        .tuple(
          fc.record(
            Object.fromEntries(
              keys.map((k) => [k, k === forced ? fields[k].invalid : fc.oneof(fields[k].valid, fields[k].invalid)]),
            ) as Record<K, fc.Arbitrary<unknown>>,
          ),
          fc.option(unknownField, { nil: undefined, freq: 4 }),
        )
        .map(([record, extra]) => ({ ...(extra ?? {}), ...record })),
    );
}

// -------------------------------------------------------------------------------------------------
// What a request could write
// -------------------------------------------------------------------------------------------------

/**
 * A digest of every row a route or action could write: configuration, secrets, audit, runs started
 * by people (scheduled ticks of the running worker are left out), bulk operations, channels, roles
 * and breakers of unknown keys. Columns the worker updates on its own (token health) are left out.
 */
async function fingerprint(): Promise<string> {
  const [row] = await db()<{ f: string }[]>`
    select md5(concat_ws('#',
      (select string_agg(concat_ws('|', name, paused, paused_at, resume_policy, schedule, timezone, retry_delays, breaker_failures, breaker_cooldown,
                                   retry_budget, settings, mapping, alert_routing, version, updated_at, updated_by), ',' order by name) from integrations),
      (select string_agg(concat_ws('|', integration, name, sealed, updated_at), ',' order by integration, name) from integration_secrets),
      (select count(*) || ':' || coalesce(max(id), 0) from audit_log),
      (select string_agg(concat_ws('|', id, status, hold, reason, retry_of, bulk_operation_id), ',' order by id) from runs where trigger <> 'schedule'),
      (select string_agg(b::text, ',' order by id) from bulk_operations b),
      (select string_agg(c::text, ',' order by id) from alert_channels c),
      (select string_agg(concat_ws('|', id, role, disabled), ',' order by id) from users),
      (select string_agg(k.key, ',' order by k.key) from breakers k where k.key not in (select breaker_key from integrations)),
      (select string_agg(concat_ws('|', id, revoked_at), ',' order by id) from api_tokens),
      (select string_agg(concat_ws('|', id, revoked_at), ',' order by id) from webhook_secrets),
      (select string_agg(concat_ws('|', id, status, replays), ',' order by id) from webhook_events)
    )) as f`;
  return row.f;
}

function describe(value: unknown): string {
  const text =
    typeof value === 'string'
      ? value
      : JSON.stringify(value, (_k, v: unknown) =>
          v === undefined ? '<undefined>' : typeof v === 'number' && !Number.isFinite(v) ? String(v) : v,
        );
  return text === undefined ? String(value) : text.length > 160 ? `${text.slice(0, 157)}… (${text.length} chars)` : text;
}

/** Problems with a refusal message, or null when it is short, non-empty text. */
function messageProblems(error: unknown, fieldErrors: unknown): string | null {
  if (typeof error !== 'string' || error.trim() === '') return `no message (${describe(error)})`;
  if (error.length > MAX_MESSAGE) return `message of ${error.length} chars: ${describe(error)}`;
  if (fieldErrors !== undefined && fieldErrors !== null) {
    if (typeof fieldErrors !== 'object') return `fieldErrors is ${typeof fieldErrors}`;
    for (const [field, message] of Object.entries(fieldErrors)) {
      if (field.length > MAX_MESSAGE) return `field name of ${field.length} chars: ${describe(field)}`;
      if (typeof message !== 'string' || message.trim() === '') return `field ${field} has no message`;
      if (message.length > MAX_MESSAGE) return `field ${describe(field)} message of ${message.length} chars: ${describe(message)}`;
    }
  }
  return null;
}

async function signedInRequest(page: Page, who: 'ada'): Promise<APIRequestContext> {
  await signIn(page, who);
  return page.context().request;
}

// -------------------------------------------------------------------------------------------------
// 1. JSON route handlers
// -------------------------------------------------------------------------------------------------

interface RouteCase {
  method: 'GET' | 'POST' | 'PATCH';
  path: string;
  /** Raw request body (POST). */
  body?: string;
  /** Valid but hostile input: a GET that must answer 200 and write nothing. */
  valid?: boolean;
}

/** A value as query-string text: objects (fast-check makes some without a prototype) as JSON. */
const asText = (v: unknown) => (v !== null && typeof v === 'object' ? JSON.stringify(v) : String(v));
const query = (params: Record<string, unknown>) =>
  new URLSearchParams(
    Object.entries(params).flatMap(([k, v]) => (v === undefined ? [] : Array.isArray(v) ? v.map((x) => [k, asText(x)]) : [[k, asText(v)]])),
  ).toString();

/** A path segment that Next routes to the same handler (no '.', '..' or empty segment). */
const pathSegment = (s: string) => encodeURIComponent(s).replace(/\./g, '%2E');
const isSegment = (s: string) => s !== '' && s.length < 8_000 && s !== '.' && s !== '..';
const hostileSegment = hostileString.filter(isSegment);

const DEEP_JSON = `${'['.repeat(50_000)}${']'.repeat(50_000)}`;
const MALFORMED_JSON = [
  DEEP_JSON,
  '{',
  '{"dryRun":}',
  "{'dryRun': true}",
  'NaN',
  '[1,2',
  '{"runIds":[',
  '\u0000',
  'undefined',
  '{"a":1}}',
  '<xml/>',
  '{"__proto__":{"polluted":1}}',
  '"\\ud800"',
];
/** Bodies as text: JSON of a hostile value, malformed JSON, or a huge body (over and under the 1 MB cap). */
function bodyText(value: fc.Arbitrary<unknown>): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 6, arbitrary: value.map((v) => JSON.stringify(v) ?? '') },
    { weight: 2, arbitrary: fc.constantFrom(...MALFORMED_JSON) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        JSON.stringify({ [HUGE_TEXT]: 1 }),
        JSON.stringify({ reason: 'z'.repeat(1_100_000) }),
        `[${'1,'.repeat(300_000)}1]`,
      ),
    },
  );
}

const ROUTES: { name: string; cases: fc.Arbitrary<RouteCase>; runs: number }[] = [
  {
    name: 'GET /api/integrations',
    runs: 30,
    cases: fc.oneof(
      withOneInvalid({
        search: {
          valid: fc.string({ maxLength: 50 }),
          invalid: fc.oneof(fc.string({ minLength: 201, maxLength: 400 }), fc.constantFrom('x'.repeat(201), 'a\u0000b', '\u0000')),
        },
      }).map((q) => ({ method: 'GET' as const, path: `/api/integrations?${query(q)}` })),
      fc
        .constantFrom(XSS, '\u202e', '𝔘𝔫𝔦', "'; drop table integrations; --", '%', '_')
        .map((search) => ({ method: 'GET' as const, path: `/api/integrations?${query({ search })}`, valid: true })),
    ),
  },
  {
    name: 'GET /api/runs',
    runs: 60,
    cases: fc.oneof(
      {
        weight: 5,
        arbitrary: withOneInvalid({
          integration: {
            valid: fc.constantFrom(undefined, 'crm-sync', XSS),
            invalid: fc.constantFrom('x'.repeat(101), '\u0000', 'crm\u0000sync'),
          },
          status: {
            valid: fc.constantFrom(undefined, 'failed', 'succeeded'),
            invalid: fc.oneof(
              hostileString.filter(
                (s) => !['active', 'queued', 'running', 'retrying', 'deferred', 'succeeded', 'failed', 'cancelled'].includes(s),
              ),
              fc.constant(XSS),
            ),
          },
          trigger: {
            valid: fc.constantFrom(undefined, 'manual', 'schedule'),
            invalid: fc.constantFrom('root', '', XSS, 'MANUAL', '\u0000'),
          },
          dryRun: { valid: fc.constantFrom(undefined, 'only', 'exclude'), invalid: fc.constantFrom('true', '1', 'yes', '', XSS) },
          from: {
            valid: fc.constantFrom(undefined, '2024-01-01', '2024-01-01T00:00:00Z'),
            invalid: fc.constantFrom(
              'not a date',
              '2024-13-45',
              '1e400',
              'NaN',
              'Infinity',
              '-100000-01-01T00:00:00Z',
              '-000001-01-01T00:00:00Z',
              '+275760-09-13T00:00:00Z',
              '+010000-01-01T00:00:00Z',
              // `new Date` once read these as year 4713, 2 March, 2001 and 2012, a weekday at the server.
              '-4713-01-01',
              '2026-02-30',
              '1',
              '-1',
              '12',
              'Wed Dec 02 2026',
              XSS,
            ),
          },
          to: {
            valid: fc.constantFrom(undefined, '2030-01-01'),
            invalid: fc.constantFrom('yesterday', '-271821-04-20T00:00:00Z', '+100000-01-01T00:00:00Z', '99999999999999999', '\u0000'),
          },
          after: {
            valid: fc.constant(undefined),
            invalid: fc.oneof(
              hostileString.filter((s) => !s.includes('|')),
              fc.constantFrom(
                `x|${NO_RUN}`,
                `2024-01-01T00:00:00Z|------------------------------------`,
                `2024-01-01T00:00:00Z|ffffffffffffffffffffffffffffffffffff`,
                `-100000-01-01T00:00:00Z|${NO_RUN}`,
                `+275760-09-13T00:00:00Z|${NO_RUN}`,
                `${XSS}|${NO_RUN}`,
                `2024-01-01T00:00:00Z|${NO_RUN}|extra`,
                '|',
              ),
            ),
          },
          limit: {
            valid: fc.constantFrom(undefined, '1', '50'),
            invalid: fc.constantFrom('0', '-1', '201', '1e9', 'abc', '2.5', 'NaN', 'Infinity', '', '0x10', XSS),
          },
        }).map((q) => ({ method: 'GET' as const, path: `/api/runs?${query(q)}` })),
      },
      {
        weight: 1,
        arbitrary: fc
          .constantFrom('%', '%zz', '&&&=&', 'limit=%E0%A4%A', 'status=failed&status=' + encodeURIComponent(XSS), 'limit=1&limit=999')
          // '%' and '%zz' name parameters the route does not take (refused); '&&&=&' names none.
          .map((qs) => ({ method: 'GET' as const, path: `/api/runs?${qs}`, valid: qs === '&&&=&' })),
      },
    ),
  },
  {
    name: 'GET /api/runs/status',
    runs: 30,
    cases: fc
      .oneof(
        fc.constant(undefined),
        hostileString.filter((s) => s.split(',').some((x) => x !== '' && !UUID.test(x))),
        fc.array(unknownUuid, { minLength: 201, maxLength: 210 }).map((ids) => ids.join(',')),
        fc
          .tuple(
            unknownUuid,
            hostileString.filter((s) => s !== '' && !s.includes(',') && !UUID.test(s)),
          )
          .map(([id, bad]) => `${id},${bad}`),
        fc.constant(`${NO_RUN},`.repeat(250)),
      )
      .map((ids) => ({ method: 'GET' as const, path: `/api/runs/status?${query({ ids })}` })),
  },
  {
    name: 'GET /api/runs/:id',
    runs: 25,
    cases: fc.oneof(hostileSegment, unknownUuid).map((id) => ({ method: 'GET' as const, path: `/api/runs/${pathSegment(id)}` })),
  },
  {
    name: 'POST /api/integrations/:name/runs',
    runs: 50,
    cases: fc.oneof(
      // A name that is no integration, with any body.
      fc
        .tuple(unknownName.filter(isSegment), bodyText(fc.oneof(hostileValue, fc.record({ dryRun: fc.boolean() }))))
        .map(([name, body]) => ({ method: 'POST' as const, path: `/api/integrations/${pathSegment(name)}/runs`, body })),
      // A real integration with an invalid body.
      fc
        .tuple(
          fc.constantFrom(...REGISTERED),
          bodyText(
            fc.oneof(
              withOneInvalid({
                dryRun: { valid: fc.boolean(), invalid: notAString.filter((v) => typeof v !== 'boolean' && v !== undefined) },
                reason: {
                  valid: fc.constantFrom(undefined, 'ops check'),
                  invalid: fc.oneof(
                    notAString.filter((v) => v !== undefined && v !== null),
                    fc.constantFrom('r'.repeat(501), 'a\u0000b'),
                  ),
                },
              }).filter((o) => Object.keys(o).length > 0),
              fc.record({ dryRun: fc.constant(true) }).chain((o) => unknownField.map((extra) => ({ ...extra, ...o }))),
              notAString.filter((v) => v !== null && !(typeof v === 'object' && !Array.isArray(v))),
            ),
          ).filter((text) => text !== '' && text !== '{}'),
        )
        .map(([name, body]) => ({ method: 'POST' as const, path: `/api/integrations/${name}/runs`, body })),
    ),
  },
  {
    name: 'POST /api/runs/:id/retry',
    runs: 35,
    cases: fc
      .tuple(fc.oneof(hostileSegment, unknownUuid), bodyText(fc.oneof(hostileValue, fc.record({ reason: hostileValue }), unknownField)))
      .map(([id, body]) => ({ method: 'POST' as const, path: `/api/runs/${pathSegment(id)}/retry`, body })),
  },
  {
    name: 'POST /api/runs/retry',
    runs: 70,
    cases: bodyText(
      fc.oneof(
        hostileValue,
        fc.record({
          runIds: fc.oneof(
            notAString,
            fc.constant([]),
            fc.array(notAUuid, { minLength: 1, maxLength: 4 }),
            fc.array(unknownUuid, { minLength: 1, maxLength: 5 }),
            fc.constant(Array.from({ length: 501 }, () => NO_RUN)),
          ),
        }),
        fc
          .record({ runIds: fc.array(unknownUuid, { minLength: 1, maxLength: 2 }) })
          .chain((o) => unknownField.map((extra) => ({ ...extra, ...o }))),
        // The filter form (Retry all matching), one field always invalid (an unknown integration
        // is refused too): a valid filter would retry the demo's failed runs.
        fc.record({
          filter: withOneInvalid({
            integration: { valid: fc.constant('crm-sync'), invalid: fc.oneof(hostileName, notAString) },
            ...RETRY_FILTER_FIELDS,
          }),
          pace: fc.oneof(
            fc.constant(undefined),
            fc.constant({ runs: 20, per: '1m' }),
            fc.record({ runs: fc.constantFrom(0, 501, 2.5), per: fc.constant('1m') }),
            hostileValue,
          ),
        }),
        // Both forms, or neither: refused even with a valid filter.
        fc.record({
          runIds: fc.array(unknownUuid, { minLength: 1, maxLength: 2 }),
          filter: fc.constant({ integration: 'crm-sync', status: 'failed' }),
        }),
        fc.record({ pace: fc.constant({ runs: 20, per: '1m' }) }),
      ),
    ).map((body) => ({ method: 'POST' as const, path: '/api/runs/retry', body })),
  },
  {
    name: 'POST /api/runs/:id/cancel',
    runs: 25,
    cases: fc
      .tuple(fc.oneof(hostileSegment, unknownUuid), bodyText(hostileValue))
      .map(([id, body]) => ({ method: 'POST' as const, path: `/api/runs/${pathSegment(id)}/cancel`, body })),
  },
  {
    name: 'PATCH /api/bulk-operations/:id',
    runs: 35,
    cases: fc
      .tuple(
        fc.oneof(hostileSegment, unknownUuid),
        bodyText(
          fc.oneof(
            hostileValue,
            unknownField,
            fc.record({ pace: hostileValue }),
            fc.record({
              pace: fc.record({
                runs: fc.oneof(notAString, fc.constantFrom(0, -1, 1.5, 501, Number.MAX_SAFE_INTEGER)),
                per: fc.constant('1m'),
              }),
            }),
            fc.record({
              pace: fc.record({ runs: fc.constant(5), per: fc.oneof(hostileString, fc.constantFrom('2h', '10ms', '1d', '0s')) }),
            }),
            fc.constant({ pace: { runs: 5, per: '1m' } }),
          ),
        ),
      )
      .map(([id, body]) => ({ method: 'PATCH' as const, path: `/api/bulk-operations/${pathSegment(id)}`, body })),
  },
];

test('route handlers refuse hostile bodies and query strings with a 4xx and a short JSON message, and write nothing', async ({
  page,
  baseURL,
}) => {
  test.setTimeout(240_000);
  const request = await signedInRequest(page, 'ada');
  const problems: string[] = [];
  let before = await fingerprint();
  for (const route of ROUTES) {
    figures.routes.add(route.name);
    const cases = fc.sample(route.cases, { numRuns: route.runs, seed: 8_007 });
    for (const c of cases) {
      const response =
        c.method === 'GET'
          ? await request.get(c.path, { maxRedirects: 0 })
          : await request.fetch(c.path, {
              method: c.method,
              data: c.body ?? '',
              headers: { 'Content-Type': 'application/json', Origin: baseURL! },
              maxRedirects: 0,
            });
      const status = response.status();
      const text = await response.text();
      const label = `${route.name}: ${c.method} ${describe(c.path)}${c.body !== undefined ? ` body ${describe(c.body)}` : ''} → ${status}`;
      figures.routeCases++;
      if (status >= 500) figures.route5xx++;
      let json: { error?: unknown; fieldErrors?: unknown } | undefined;
      try {
        json = JSON.parse(text) as typeof json;
      } catch {
        problems.push(`${label}: answer is not JSON: ${describe(text)}`);
      }
      if (c.valid) {
        if (status !== 200) problems.push(`${label}: valid hostile input not answered 200: ${describe(text)}`);
        else figures.routeAccepted++;
      } else if (status < 400 || status >= 500) {
        problems.push(`${label}: expected a 4xx: ${describe(text)}`);
      } else {
        figures.routeRefused++;
        if (text.length > MAX_BODY) problems.push(`${label}: refusal of ${text.length} chars`);
        const problem = json ? messageProblems(json.error, json.fieldErrors) : null;
        if (problem) problems.push(`${label}: ${problem}`);
      }
      const after = await fingerprint();
      if (after !== before) {
        figures.routeWritten++;
        problems.push(`${label}: the database changed`);
        before = after;
      }
    }
  }
  expect(problems, problems.slice(0, 30).join('\n')).toEqual([]);
});

test('text PostgreSQL cannot store, repeated query parameters and malformed run ids are refused with a 400 that says why', async ({
  page,
  baseURL,
}) => {
  const request = await signedInRequest(page, 'ada');
  const before = await fingerprint();
  const post = (path: string, data: string) =>
    request.post(path, { data, headers: { 'Content-Type': 'application/json', Origin: baseURL! }, maxRedirects: 0 });
  // JSON's \ud800 escape parses to an unpaired surrogate, which jsonb (the audit row) refuses: was a 500.
  for (const body of ['{"dryRun":true,"reason":"x\\ud800y"}', '{"dryRun":true,"reason":"\\udc00"}', '{"dryRun":true,"\\ud83d":1}']) {
    const response = await post('/api/integrations/crm-sync/runs', body);
    expect(response.status(), body).toBe(400);
    expect((await response.json()).error, body).toMatch(/unpaired UTF-16 surrogates/);
  }
  const number = await post('/api/integrations/crm-sync/runs', '{"dryRun":true,"reason":1e999}');
  expect(number.status()).toBe(400);
  expect((await number.json()).fieldErrors).toEqual({ reason: 'must be a number within ±1.8e308' });
  const repeated = await request.get('/api/runs?status=failed&status=succeeded');
  expect(repeated.status()).toBe(400);
  expect(await repeated.json()).toEqual({
    error: "Query parameter 'status' is given 2 times: give it once.",
    fieldErrors: { status: 'must be given once' },
  });
  const malformed = await request.get('/api/runs/not-a-uuid');
  expect(malformed.status()).toBe(400);
  expect((await malformed.json()).error).toBe('runId must be a run id (uuid)');
  expect((await request.get(`/api/runs/${NO_RUN}`)).status()).toBe(404);

  // The same text through a server action: its typed failure, not a 500.
  const action = serverActions({ name: 'crm-sync', id: NO_RUN }).find((a) => a.name === 'retryRunAction')!;
  const call = await callServerAction(request, baseURL!, action, [{ runId: NO_RUN, reason: 'x\ud800' }]);
  const result = call.result as { ok?: boolean; status?: number; error?: string };
  expect(result).toMatchObject({ ok: false, status: 400 });
  expect(result.error).toMatch(/unpaired UTF-16 surrogates/);
  expect(await fingerprint()).toBe(before);
});

// -------------------------------------------------------------------------------------------------
// 1b. Every query parameter, cursor and path segment of every route and page
// -------------------------------------------------------------------------------------------------

/** Values PostgreSQL or Date choke on when they reach SQL unchecked (issue 16, item 11), and the usual suspects. */
const HOSTILE_PARAM_VALUES = [
  `notadate|${NO_RUN}`,
  '2026-01-01T00:00:00Z|------------------------------------',
  `-271821-04-20|${NO_RUN}`,
  `275760-09-13|${NO_RUN}`,
  `2026-01-01T00:00:00Z|${NO_RUN}|x`,
  '1|notadate',
  '99999999999999999999|2026-01-01T00:00:00Z',
  '-271821-04-20',
  '-000001-01-01',
  '+275760-09-13T00:00:00Z',
  'crm-sync\u0000',
  'x'.repeat(5_000),
  XSS,
  '%zz',
  '-1',
  'NaN',
  'constructor',
  '__proto__',
];

/** Each GET route and page with the query parameters it reads (and one it does not). */
const QUERY_TARGETS: { path: string; api: boolean; params: string[] }[] = [
  {
    path: '/api/runs',
    api: true,
    params: ['integration', 'status', 'trigger', 'dryRun', 'retried', 'bulk', 'from', 'to', 'after', 'limit', 'unknown'],
  },
  { path: '/api/integrations', api: true, params: ['search', 'unknown'] },
  { path: '/api/runs/status', api: true, params: ['ids'] },
  { path: '/api/changes', api: true, params: ['view', 'integration', 'unknown'] },
  { path: '/api/bulk-operations', api: true, params: ['unknown'] },
  { path: `/api/runs/${NO_RUN}`, api: true, params: ['unknown'] },
  { path: '/api/me', api: true, params: ['unknown'] },
  { path: '/api/health', api: true, params: ['unknown'] },
  { path: '/', api: false, params: ['unknown'] },
  { path: '/runs', api: false, params: ['integration', 'status', 'trigger', 'dryRun', 'retried', 'bulk', 'from', 'to', 'after', 'limit'] },
  { path: '/audit', api: false, params: ['window', 'before', 'integration', 'actor', 'kind'] },
  { path: '/alerts', api: false, params: ['integration', 'before'] },
  { path: '/integrations', api: false, params: ['q', 'state'] },
  { path: '/integrations/crm-sync', api: false, params: ['unknown'] },
  { path: '/integrations/crm-sync/config', api: false, params: ['unknown'] },
  { path: '/integrations/crm-sync/history', api: false, params: ['field', 'asOf', 'before'] },
  { path: '/integrations/crm-sync/credentials', api: false, params: ['unknown'] },
  { path: '/integrations/accounting-export/mapping', api: false, params: ['unknown'] },
  { path: '/users', api: false, params: ['unknown'] },
  { path: '/signin', api: false, params: ['callbackUrl', 'error'] },
];

/** Path segments that name nothing, some of them not even valid percent-encoding. */
const HOSTILE_SEGMENTS = ['%ZZ', '%00', '%E0%A4%A', '------------------------------------', encodeURIComponent(XSS), 'x'.repeat(300)];
const SEGMENT_TARGETS: { method: 'GET' | 'POST' | 'PATCH'; path: (segment: string) => string }[] = [
  { method: 'POST', path: (s) => `/api/integrations/${s}/runs` },
  { method: 'PATCH', path: (s) => `/api/bulk-operations/${s}` },
  { method: 'POST', path: (s) => `/api/runs/${s}/retry` },
  { method: 'POST', path: (s) => `/api/runs/${s}/cancel` },
  { method: 'GET', path: (s) => `/api/runs/${s}` },
  { method: 'GET', path: (s) => `/integrations/${s}` },
  { method: 'GET', path: (s) => `/integrations/${s}/history` },
  { method: 'GET', path: (s) => `/runs/${s}` },
  // Paths served without a session: the proxy still checks their encoding.
  { method: 'POST', path: (s) => `/hooks/${s}` },
  { method: 'GET', path: (s) => `/hooks/${s}` },
  { method: 'POST', path: (s) => `/hooks/payment-events/${s}` },
  { method: 'POST', path: (s) => `/hooks/pay${s}` },
  { method: 'GET', path: (s) => `/api/auth/${s}` },
  { method: 'POST', path: (s) => `/api/auth/${s}` },
  { method: 'GET', path: (s) => `/api/auth/session${s}` },
  { method: 'GET', path: (s) => `/api/health${s}` },
  { method: 'GET', path: (s) => `/api/health/${s}` },
  { method: 'GET', path: (s) => `/api/metrics/${s}` },
  { method: 'GET', path: (s) => `/api/openapi.json${s}` },
  { method: 'GET', path: (s) => `/api/${s}` },
  { method: 'GET', path: (s) => `/signin/${s}` },
];
/** Paths whose answers are for machines: JSON, refusals included. */
const isMachinePath = (path: string) => /^\/(?:api|hooks)(?:[/%]|$)/.test(path);

test('every query parameter, cursor and path segment of every route and page: bad values are a 4xx with a JSON message (API) or an ignored filter (pages), never a 5xx', async ({
  page,
  baseURL,
}) => {
  test.setTimeout(420_000);
  const request = await signedInRequest(page, 'ada');
  const problems: string[] = [];
  let cases = 0;
  let refused = 0;
  const check = async (method: 'GET' | 'POST' | 'PATCH', path: string, api: boolean) => {
    cases++;
    const response =
      method === 'GET'
        ? await request.get(path, { maxRedirects: 0 })
        : await request.fetch(path, {
            method,
            data: '{}',
            headers: { 'Content-Type': 'application/json', Origin: baseURL! },
            maxRedirects: 0,
          });
    const status = response.status();
    const text = await response.text();
    const label = `${method} ${describe(path)} → ${status}`;
    if (status >= 500) {
      problems.push(`${label}: ${describe(text)}`);
      return;
    }
    if (!api) return;
    let json: { error?: unknown; fieldErrors?: unknown } | undefined;
    try {
      json = JSON.parse(text) as typeof json;
    } catch {
      problems.push(`${label}: answer is not JSON: ${describe(text)}`);
      return;
    }
    if (status >= 400) {
      refused++;
      const problem = messageProblems(json?.error, json?.fieldErrors);
      if (problem) problems.push(`${label}: ${problem}`);
    }
  };
  const before = await fingerprint();
  for (const target of QUERY_TARGETS) {
    for (const param of target.params) {
      for (const value of HOSTILE_PARAM_VALUES) await check('GET', `${target.path}?${new URLSearchParams({ [param]: value })}`, target.api);
      // A repeated parameter arrives as an array in pages.
      await check('GET', `${target.path}?${param}=a&${param}=b`, target.api);
    }
  }
  for (const target of SEGMENT_TARGETS) {
    for (const segment of HOSTILE_SEGMENTS) {
      const path = target.path(segment);
      // Auth.js answers its own unknown actions (a JSON 400 with `message`): only its encoding is ours.
      await check(target.method, path, isMachinePath(path) && !path.startsWith('/api/auth/'));
    }
  }
  // The cases the issue names, each a 400 with a JSON message that says what is wrong.
  for (const [path, message] of [
    [`/api/runs?after=${encodeURIComponent(`notadate|${NO_RUN}`)}`, /is not a date and time/],
    [`/api/runs?after=${encodeURIComponent('2026-01-01T00:00:00Z|------------------------------------')}`, /is not a run id/],
    [`/api/runs?after=${encodeURIComponent(`-271821-04-20|${NO_RUN}`)}`, /out of range/],
    [`/api/runs?after=${encodeURIComponent(`275760-09-13|${NO_RUN}`)}`, /out of range|not a date/],
    ['/api/runs?from=-271821-04-20', /out of range/],
    ['/api/runs?from=-000001-01-01', /out of range/],
    ['/api/runs?from=-4713-01-01', /out of range/],
    ['/api/runs?from=2026-02-30', /has no day 30/],
    ['/api/runs?from=1', /is not a date and time: use ISO 8601/],
    [`/api/runs?to=${encodeURIComponent('Wed Dec 02 2026')}`, /is not a date and time: use ISO 8601/],
    ['/api/runs?integration=crm_sync', /no integration is named 'crm_sync'; did you mean 'crm-sync'\?/],
    ['/api/runs?integration=', /is empty: name an integration/],
    ['/api/changes?view=alerts&integration=crm_sync', /no integration is named 'crm_sync'/],
    ['/api/health?x=1', /is not a parameter of this route/],
  ] as const) {
    const res = await request.get(path);
    const body = (await res.json()) as { fieldErrors?: Record<string, string> };
    expect(res.status(), path).toBe(400);
    expect(Object.values(body.fieldErrors ?? {}).join(' '), path).toMatch(message);
  }
  const zz = await request.post('/api/integrations/%ZZ/runs', { data: { dryRun: true }, headers: { Origin: baseURL! } });
  expect(zz.status()).toBeGreaterThanOrEqual(400);
  expect(zz.status()).toBeLessThan(500);
  expect(((await zz.json()) as { error: string }).error).toBeTruthy();
  // The paths the proxy used to skip: a JSON 400 that says how to encode, not Next's plain-text 500;
  // a path no route serves below a webhook endpoint, or /api itself: a JSON 404, not the HTML page.
  const malformed = /malformed percent-encoding/;
  for (const [method, path, status, message] of [
    ['POST', '/hooks/%ZZ', 400, malformed],
    ['GET', '/hooks/pay%E0%A4', 400, malformed],
    ['POST', '/hooks/pay%E0%A4', 400, malformed],
    ['GET', '/api/auth/%ZZ', 400, malformed],
    ['GET', '/api/auth/session%ZZ', 400, malformed],
    ['GET', '/api/health%ZZ', 400, malformed],
    ['GET', '/api/health/%ZZ', 400, malformed],
    ['GET', '/api/metrics/%ZZ', 400, malformed],
    ['GET', '/api/openapi.json%ZZ', 400, malformed],
    ['POST', '/hooks/payment-events/extra', 404, /./],
    ['GET', '/api', 404, /./],
    ['POST', '/api', 404, /./],
  ] as const) {
    const res = await request.fetch(path, {
      method,
      data: method === 'POST' ? '{}' : undefined,
      headers: { Origin: baseURL! },
      maxRedirects: 0,
    });
    expect(res.status(), `${method} ${path}`).toBe(status);
    expect(((await res.json()) as { error: string }).error, `${method} ${path}`).toMatch(message);
  }
  expect(await fingerprint(), 'nothing was written').toBe(before);
  expect(problems, problems.slice(0, 30).join('\n')).toEqual([]);
  console.log(
    `[reliability] hostile query parameters, cursors and segments: ${QUERY_TARGETS.length} routes and pages, cases ${cases}, API refusals ${refused}, 5xx ${problems.length}`,
  );
});

// -------------------------------------------------------------------------------------------------
// 2. Server actions
// -------------------------------------------------------------------------------------------------

interface Real {
  version: number;
  channelId: string;
  channelVersion: number;
}

/** A config patch that is never valid: it always carries a field the editor does not know. */
const hostilePatch = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .record(
        {
          schedule: fc.oneof(hostileValue, fc.constantFrom(...BAD_CRON)),
          timezone: fc.oneof(hostileValue, fc.constantFrom(...BAD_ZONES)),
          retryDelays: fc.oneof(
            hostileValue,
            fc.array(fc.oneof(hostileValue, fc.constantFrom('-5s', '0s', '999999h', '1y', '-1')), { maxLength: 12 }),
          ),
          breakerFailures: fc.oneof(hostileValue, fc.constantFrom(0, -1, 1e9, 2.5)),
          breakerCooldown: fc.oneof(hostileValue, fc.constantFrom('-1m', '100d', '0s')),
          retryBudget: fc.oneof(hostileValue, fc.constantFrom(-0.5, 2, 1e9)),
          settings: fc.oneof(
            hostileValue,
            fc.record({
              baseUrl: fc.oneof(hostileValue, fc.constant('javascript:alert(1)')),
              batchSize: fc.oneof(hostileValue, fc.constantFrom(0, 501, -1, 1e9)),
              scope: hostileValue,
            }),
          ),
          secrets: fc.oneof(hostileValue, fc.dictionary(fc.constantFrom('clientId', 'nope', '<b>'), hostileValue, { maxKeys: 2 })),
        },
        { requiredKeys: [] },
      )
      .chain((patch) =>
        fc.constantFrom('<script>unknown</script>', 'unknownField', '__proto__x', '\u202eoops').map((key) => ({ ...patch, [key]: 1 })),
      ),
  },
  { weight: 1, arbitrary: notAString.filter((v) => !(v && typeof v === 'object' && !Array.isArray(v))) },
);

const mappingField = (expression: fc.Arbitrary<unknown>) =>
  fc.record({
    target: fc.oneof(fc.constantFrom('amount', XSS), hostileValue),
    expression,
    type: fc.oneof(fc.constantFrom('string', 'number'), hostileValue),
    required: fc.oneof(fc.boolean(), hostileValue),
  });
/** A mapping with at least one expression that does not compile (or of the wrong shape altogether). */
const brokenMapping = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .tuple(
        fc.array(mappingField(fc.constantFrom('number', 'amount * 2')), { maxLength: 3 }),
        mappingField(fc.constantFrom(...MALFORMED_JSONATA)),
      )
      .map(([good, bad]) => ({ fields: [...good, { ...bad, expression: bad.expression }] })),
  },
  {
    weight: 1,
    arbitrary: fc.oneof(
      notAString,
      fc.record({ fields: notAString }),
      fc.record({ fields: fc.constant([]), filter: fc.constantFrom(...MALFORMED_JSONATA) }),
    ),
  },
);

/** An alert channel the platform must refuse: its name is never allowed (always has a '<' or is empty or too long). */
const hostileChannel = fc.record({
  type: fc.oneof(fc.constantFrom('webhook', 'slack', 'email', 'carrier-pigeon'), hostileValue),
  name: fc.oneof(
    fc.string({ maxLength: 20 }).map((s) => `<${s}>`),
    fc.constantFrom('', ' ', 'n'.repeat(81), XSS, '\u0000', '\u202eevil'),
    notAString,
  ),
  url: fc.oneof(hostileValue, fc.constantFrom('javascript:alert(1)', 'ftp://x', 'http://', `https://hooks.example.com/${XSS}`)),
  to: hostileValue,
  from: hostileValue,
  smtpUrl: fc.oneof(hostileValue, fc.constantFrom('smtp://', 'http://x')),
  hmacSecret: fc.oneof(hostileValue, fc.constant('short')),
  enabled: fc.oneof(fc.boolean(), hostileValue),
});

type Expect = 'refused' | 'schedule-preview' | 'mapping-preview';

function actionCases(real: Real): Record<string, { args: fc.Arbitrary<unknown[]>; expect?: Expect; runs?: number }> {
  const integration = (valid: string) => ({ valid: fc.constant(valid), invalid: fc.oneof(hostileName, notAString) });
  const version = { valid: fc.constant(real.version), invalid: badVersion };
  const obj = (a: fc.Arbitrary<Record<string, unknown>>): fc.Arbitrary<unknown[]> => a.map((o): unknown[] => [o]);
  /** Not an object at all, no argument, or extra arguments. */
  const wrongShape: fc.Arbitrary<unknown[]> = fc.oneof(
    fc.constant([] as unknown[]),
    notAString.map((v): unknown[] => [v]),
    fc.tuple(fc.constant({}), hostileValue).map((a): unknown[] => [...a]),
  );
  const shaped = (a: fc.Arbitrary<unknown[]>): fc.Arbitrary<unknown[]> =>
    fc.oneof({ weight: 5, arbitrary: a }, { weight: 1, arbitrary: wrongShape });
  const configPatch = shaped(
    obj(
      withOneInvalid({
        integration: integration('accounting-export'),
        expectedVersion: version,
        patch: { valid: hostilePatch, invalid: hostilePatch },
      }),
    ),
  );
  return {
    saveConfigAction: { args: configPatch },
    // The Review step's check: the same input, the same refusals, nothing written.
    checkConfigAction: { args: configPatch },
    replaceSecretAction: {
      args: shaped(
        obj(
          withOneInvalid({
            integration: integration('accounting-export'),
            expectedVersion: version,
            name: {
              valid: fc.constantFrom('clientId'),
              invalid: fc.oneof(
                hostileString.filter((s) => !DECLARED_SECRETS.includes(s)),
                notAString,
              ),
            },
            value: {
              valid: fc.constant('a-new-client-id'),
              invalid: fc.oneof(fc.constant(''), fc.constant('v'.repeat(10_001)), fc.constant('a\u0000b'), notAString),
            },
          }),
        ),
      ),
    },
    revertConfigAction: {
      args: shaped(
        obj(
          withOneInvalid({
            integration: integration('accounting-export'),
            expectedVersion: version,
            at: { valid: fc.constant(new Date(0).toISOString()), invalid: badDate },
          }),
        ),
      ),
    },
    previewScheduleAction: {
      expect: 'schedule-preview',
      args: shaped(
        obj(
          withOneInvalid({
            schedule: {
              valid: fc.constant('0 2 * * *'),
              invalid: fc.oneof(fc.constantFrom(...BAD_CRON), notAString, fc.constant('* '.repeat(150))),
            },
            timezone: { valid: fc.constant('UTC'), invalid: fc.oneof(fc.constantFrom(...BAD_ZONES), notAString) },
          }),
        ),
      ),
    },
    previewMappingAction: {
      expect: 'mapping-preview',
      args: shaped(
        obj(withOneInvalid({ integration: integration('accounting-export'), mapping: { valid: brokenMapping, invalid: brokenMapping } })),
      ),
    },
    saveMappingAction: {
      args: shaped(
        obj(
          withOneInvalid({
            integration: integration('accounting-export'),
            expectedVersion: version,
            mapping: { valid: brokenMapping, invalid: brokenMapping },
          }),
        ),
      ),
    },
    createChannelAction: {
      args: shaped(
        fc.oneof(
          hostileChannel.map((input) => [{ input }]),
          notAString.map((input) => [{ input }]),
        ),
      ),
    },
    updateChannelAction: {
      args: shaped(
        obj(
          withOneInvalid({
            id: { valid: fc.constant(real.channelId), invalid: fc.oneof(notAUuid, unknownUuid) },
            expectedVersion: { valid: fc.constant(real.channelVersion), invalid: badVersion },
            input: { valid: hostileChannel, invalid: hostileChannel },
          }),
        ),
      ),
    },
    sendTestAlertAction: { args: shaped(obj(fc.record({ channelId: fc.oneof(notAUuid, unknownUuid) }))) },
    // Keeps only what `seen` names, as stored now: {} never matches a drift, so nothing is written.
    keepDriftedConfigAction: {
      args: shaped(
        obj(
          withOneInvalid({
            integration: integration('accounting-export'),
            seen: {
              valid: fc.constant({}),
              invalid: fc.oneof(notAString, fc.dictionary(hostileString, fc.oneof(absurdNumber, fc.boolean()), { minKeys: 1, maxKeys: 2 })),
            },
          }),
        ),
      ),
    },
    // Takes exactly {}: anything else (a key of any name, not an object, nothing) is refused. The
    // one valid call requests a check, a write; extra arguments after {} are ignored like everywhere.
    requestAuditCheckAction: {
      args: fc.oneof(
        obj(fc.dictionary(hostileString, hostileValue, { minKeys: 1, maxKeys: 3 })),
        fc.oneof(absurdNumber, fc.boolean(), fc.constant(null), fc.array(hostileString, { maxLength: 2 })).map((v): unknown[] => [v]),
        fc.constant([] as unknown[]),
      ),
    },
    updateUserAction: {
      args: shaped(
        obj(
          fc.record({
            userId: fc.oneof(notAUuid, unknownUuid),
            role: fc.oneof(fc.constantFrom('admin', 'root', 'superuser', XSS, undefined), hostileValue),
            disabled: fc.oneof(fc.boolean(), hostileValue),
          }),
        ),
      ),
    },
    pauseAction: { args: shaped(obj(fc.record({ integration: fc.oneof(hostileName, notAString) }))) },
    resumeAction: { args: shaped(obj(fc.record({ integration: fc.oneof(hostileName, notAString) }))) },
    resetBreakerAction: { args: shaped(obj(fc.record({ key: fc.oneof(hostileName, notAString, fc.constant('k'.repeat(201))) }))) },
    openBreakerAction: { args: shaped(obj(fc.record({ key: fc.oneof(hostileName, notAString), until: hostileValue }))) },
    retryRunAction: {
      args: shaped(
        obj(fc.record({ runId: fc.oneof(notAUuid, unknownUuid), reason: fc.oneof(hostileValue, fc.constant('r'.repeat(501))) })),
      ),
    },
    retryRunsAction: {
      args: shaped(
        obj(
          fc.record({
            runIds: fc.oneof(
              notAString,
              fc.constant([]),
              fc.array(notAUuid, { minLength: 1, maxLength: 3 }),
              fc.array(unknownUuid, { minLength: 1, maxLength: 3 }),
              fc.constant(Array.from({ length: 501 }, () => NO_RUN)),
            ),
            pace: fc.oneof(fc.constant(undefined), fc.constant({ runs: 20, per: '1m' }), hostileValue),
          }),
        ),
      ),
    },
    // One field always invalid (an unknown integration is refused too): a valid filter would retry
    // the demo's failed runs.
    retryMatchingAction: {
      args: shaped(
        obj(
          withOneInvalid({
            integration: integration('crm-sync'),
            ...RETRY_FILTER_FIELDS,
            pace: {
              valid: fc.constant({ runs: 20, per: '1m' }),
              invalid: fc.oneof(notAString, fc.record({ runs: fc.constantFrom(0, 501, 2.5), per: fc.constant('1m') })),
            },
          }),
        ),
      ),
    },
    cancelRunAction: { args: shaped(obj(fc.record({ runId: fc.oneof(notAUuid, unknownUuid) }))) },
    runNowAction: {
      args: shaped(
        obj(
          withOneInvalid({
            integration: integration('crm-sync'),
            dryRun: { valid: fc.constant(true), invalid: notAString.filter((v) => typeof v !== 'boolean' && v !== undefined) },
          }),
        ),
      ),
    },
    cancelBulkAction: { args: shaped(obj(fc.record({ id: fc.oneof(notAUuid, unknownUuid) }))) },
    setBulkPaceAction: {
      args: shaped(
        obj(
          fc.record({
            id: fc.oneof(notAUuid, unknownUuid),
            pace: fc.oneof(
              fc.constant({ runs: 20, per: '1m' }),
              hostileValue,
              fc.record({ runs: fc.oneof(notAString, fc.constantFrom(0, 501, 2.5)), per: fc.oneof(hostileString, fc.constant('1m')) }),
            ),
          }),
        ),
      ),
    },
    createApiTokenAction: {
      args: shaped(
        obj(
          withOneInvalid({
            name: {
              valid: fc.constant('nightly report'),
              invalid: fc.oneof(fc.constantFrom('', ' ', 'n'.repeat(81), XSS, 'a\u0000b', '\u202eevil'), notAString),
            },
            role: { valid: fc.constant('viewer'), invalid: fc.oneof(fc.constantFrom('admin', 'root', XSS), hostileValue) },
            // Coerced to a number: true would be 1 day and ['5'] five, so only values that stay invalid.
            expiresInDays: {
              valid: fc.constant(30),
              invalid: fc.constantFrom(0, -1, 1.5, 366, 100_000, 'NaN', 'ten', null, false, [], {}, '1e9'),
            },
          }),
        ),
      ),
    },
    revokeApiTokenAction: { args: shaped(obj(fc.record({ id: fc.oneof(notAUuid, unknownUuid) }))) },
    addWebhookSecretAction: {
      args: shaped(
        obj(
          withOneInvalid({
            integration: {
              valid: fc.constant('payment-events'),
              // crm-sync exists but receives no events: refused as not found.
              invalid: fc.oneof(hostileName, notAString, fc.constant('crm-sync')),
            },
            label: { valid: fc.constant('rotation'), invalid: fc.oneof(fc.constantFrom('', ' ', 'l'.repeat(101)), notAString) },
            value: { valid: fc.constant(undefined), invalid: fc.oneof(fc.constant('v'.repeat(513)), notAString) },
          }),
        ),
      ),
    },
    revokeWebhookSecretAction: {
      args: shaped(
        obj(
          withOneInvalid({
            integration: { valid: fc.constant('payment-events'), invalid: fc.oneof(hostileName, notAString, fc.constant('crm-sync')) },
            id: { valid: unknownUuid, invalid: notAUuid },
          }),
        ),
      ),
    },
    dismissEventAction: {
      args: shaped(
        obj(
          withOneInvalid({
            integration: { valid: fc.constant('payment-events'), invalid: fc.oneof(hostileName, notAString, fc.constant('crm-sync')) },
            eventId: { valid: fc.constant('no-such-event'), invalid: fc.oneof(fc.constant(''), fc.constant('e'.repeat(201)), notAString) },
            reason: {
              valid: fc.constant('deleted upstream'),
              invalid: fc.oneof(fc.constant(''), fc.constant('   '), fc.constant('r'.repeat(501)), notAString),
            },
          }),
        ),
      ),
    },
    replayEventsAction: {
      args: shaped(
        obj(
          fc.oneof(
            withOneInvalid({
              integration: { valid: fc.constant('payment-events'), invalid: fc.oneof(hostileName, notAString, fc.constant('crm-sync')) },
              eventIds: {
                valid: fc.constant(['no-such-event']),
                invalid: fc.oneof(fc.constant([]), fc.constant(Array.from({ length: 101 }, () => 'e')), notAString),
              },
            }),
            // Both an id list and a filter, or a filter with hostile fields: refused before anything is read.
            fc.record({
              integration: fc.constant('payment-events'),
              eventIds: fc.constant(['no-such-event']),
              filter: fc.record({ status: fc.oneof(fc.constantFrom('pending', 'nope'), hostileValue) }),
            }),
          ),
        ),
      ),
    },
  };
}

test('server actions answer hostile arguments with their typed failure and a short message, and write nothing', async ({
  page,
  baseURL,
}) => {
  test.setTimeout(240_000);
  const request = await signedInRequest(page, 'ada');
  const [{ version }] = await db()<{ version: number }[]>`select version from integrations where name = 'accounting-export'`;
  const [channel] = await db()<{ id: string; version: number }[]>`select id, version from alert_channels order by created_at limit 1`;
  expect(channel, 'the demo seed has an alert channel').toBeTruthy();
  const cases = actionCases({ version, channelId: channel.id, channelVersion: channel.version });
  const actions = serverActions({ name: 'accounting-export', id: NO_RUN });
  expect(actions.length).toBeGreaterThanOrEqual(19);
  // Sign-out takes no input (it ignores its arguments) and would end this admin's session; the
  // authorization matrix checks that it ends the caller's session and nothing else.
  const NO_INPUT = new Set(['signOutAction', 'signOutEverywhereAction']);
  const unfuzzed = actions.filter((a) => !cases[a.name] && !NO_INPUT.has(a.name)).map((a) => a.name);
  expect(unfuzzed, 'every server action has hostile cases').toEqual([]);
  const problems: string[] = [];
  let before = await fingerprint();
  for (const action of (actions as ServerActionRef[]).filter((a) => !NO_INPUT.has(a.name))) {
    figures.actions.add(action.name);
    const spec = cases[action.name];
    for (const args of fc.sample(spec.args, { numRuns: spec.runs ?? 14, seed: 8_007 })) {
      const call = await callServerAction(request, baseURL!, action, args);
      const label = `${action.name}(${describe(args)}) → HTTP ${call.status}`;
      figures.actionCases++;
      const result = call.result as { ok?: boolean; error?: unknown; fieldErrors?: unknown; status?: unknown; data?: unknown } | undefined;
      if (call.status >= 500 || result?.status === 500) {
        figures.action5xx++;
        problems.push(`${label}: server error ${describe(result ?? call.text)}`);
      } else if (call.status !== 200 || !result || typeof result !== 'object') {
        problems.push(`${label}: no typed result: ${describe(call.text)}`);
      } else if (call.bytes > MAX_BODY) {
        problems.push(`${label}: answer of ${call.bytes} bytes`);
      } else if (result.ok === false) {
        if (typeof result.status !== 'number' || result.status < 400 || result.status > 499)
          problems.push(`${label}: failure status ${describe(result.status)}`);
        const problem = messageProblems(result.error, result.fieldErrors);
        if (problem) problems.push(`${label}: ${problem}`);
        else figures.actionRefused++;
      } else if (spec.expect === 'schedule-preview') {
        const data = result.data as { ok?: boolean; message?: unknown };
        const problem =
          data?.ok === false ? messageProblems(data.message, undefined) : `invalid schedule previewed as valid: ${describe(data)}`;
        if (problem) problems.push(`${label}: ${problem}`);
        else figures.actionRefused++;
      } else if (spec.expect === 'mapping-preview') {
        const data = result.data as { compileErrors?: { field?: unknown; message?: unknown }[] };
        const errors = data?.compileErrors ?? [];
        const problem =
          errors.length === 0
            ? `malformed mapping previewed without compile errors: ${describe(data)}`
            : errors.map((e) => messageProblems(e.message, undefined)).find(Boolean);
        if (problem) problems.push(`${label}: ${problem}`);
        else figures.actionRefused++;
      } else {
        problems.push(`${label}: accepted: ${describe(result)}`);
      }
      const after = await fingerprint();
      if (after !== before) {
        figures.actionWritten++;
        problems.push(`${label}: the database changed`);
        before = after;
      }
    }
  }
  expect(problems, problems.slice(0, 30).join('\n')).toEqual([]);
});

// -------------------------------------------------------------------------------------------------
// 3. Valid-but-hostile text, rendered
// -------------------------------------------------------------------------------------------------

/** The page shows `text` literally inside `scope`, and nothing injected exists or ran. */
async function expectEscaped(page: Page, path: string, check: (page: Page) => Promise<void>) {
  await page.goto(path);
  await expect(page.getByTestId('current-user')).toBeVisible();
  await check(page);
  const injected = await page.evaluate(() => ({
    xss: (window as unknown as { __xss?: unknown }).__xss,
    images: document.querySelectorAll('img[src="x"], [onerror]').length,
    scripts: [...document.querySelectorAll('script')].filter((s) => /^\s*window\.__xss\s*=/.test(s.textContent ?? '')).length,
  }));
  expect(injected, `${path}: nothing injected`).toEqual({ xss: undefined, images: 0, scripts: 0 });
  figures.pages++;
}

test('hostile text that is valid is stored and every page that shows it renders it as text', async ({ page, baseURL }) => {
  test.setTimeout(180_000);
  const request = await signedInRequest(page, 'ada');

  // An alert channel through the real form: the name refuses HTML (shown escaped), the URL takes it.
  await page.goto('/alerts');
  await page.getByRole('button', { name: 'Add channel' }).click();
  await page.getByLabel('Name').fill(XSS);
  await page.getByLabel('URL').fill(`https://hooks.example.com/${XSS}`);
  await page.getByRole('button', { name: 'Save channel' }).click();
  await expect(page.locator('#channel-name-error')).toContainText('name may contain letters');
  await page.getByLabel('Name').fill('Hostile hook');
  await page.getByRole('button', { name: 'Save channel' }).click();
  await expect(page.getByRole('dialog')).toBeHidden();
  const [stored] = await db()<{ url: string }[]>`select config->>'url' as url from alert_channels where name = 'Hostile hook'`;
  expect(stored?.url).toBe(`https://hooks.example.com/${XSS}`);

  // An integration setting through the config form, with its diff dialog.
  await page.goto('/integrations/accounting-export/config');
  await page.getByLabel('scope').fill(XSS);
  await page.getByRole('button', { name: 'Review changes' }).click();
  await expect(page.getByTestId('config-diff')).toContainText(XSS);
  const diffInjected = await page.evaluate(() => document.querySelectorAll('img[src="x"], [onerror]').length);
  expect(diffInjected).toBe(0);
  await page.getByRole('button', { name: 'Save 1 change' }).click();
  await expect(page.getByText('Saved 1 change; see History')).toBeVisible();
  const [settings] = await db()<{ scope: string }[]>`select settings->>'scope' as scope from integrations where name = 'accounting-export'`;
  expect(settings.scope).toBe(XSS);

  // A run that failed with a hostile error (as a worker would record what an API answered), retried with a hostile reason.
  const [failed] = await seedFailedRuns('crm-sync', 1, XSS);
  const retryAction = serverActions({ name: 'crm-sync', id: failed }).find((a) => a.name === 'retryRunAction')!;
  const retry = await callServerAction(request, baseURL!, retryAction, [{ runId: failed, reason: XSS }]);
  const retried = retry.result as { ok: boolean; data?: { runId: string } };
  expect(retried.ok, describe(retry.result)).toBe(true);
  const retryId = retried.data!.runId;

  await expectEscaped(page, '/alerts', async (p) => {
    // The list shows a webhook URL masked (its path is no plain word); the admin's edit form has it whole, as text.
    const row = p.getByRole('row').filter({ hasText: 'Hostile hook' });
    await expect(row).toContainText('https://hooks.example.com/…');
    await row.getByRole('button', { name: 'Edit' }).click();
    await expect(p.getByRole('dialog').getByLabel('URL', { exact: true })).toHaveValue(`https://hooks.example.com/${XSS}`);
  });
  await expectEscaped(page, `/alerts?integration=${encodeURIComponent(XSS)}`, async (p) => {
    // No integration has that name: the notice says so, with the name as text (clipped to 40 characters).
    await expect(p.getByRole('alert').filter({ hasText: 'were ignored' })).toContainText(`no integration is named '${XSS.slice(0, 39)}…'`);
  });
  await expectEscaped(page, '/integrations/accounting-export/config', async (p) => {
    await expect(p.getByLabel('scope')).toHaveValue(XSS);
  });
  await expectEscaped(page, '/integrations/accounting-export/history', async (p) => {
    await expect(p.getByTestId('history-row').filter({ hasText: 'settings.scope' }).first()).toContainText(XSS);
  });
  await expectEscaped(page, '/audit', async (p) => {
    await expect(p.locator('main')).toContainText(XSS);
  });
  await expectEscaped(page, '/runs?status=failed&integration=crm-sync', async (p) => {
    await expect(
      p
        .getByRole('row')
        .filter({ hasText: failed.slice(0, 8) })
        .first(),
    ).toContainText(XSS);
  });
  await expectEscaped(page, `/runs/${failed}`, async (p) => {
    await expect(p.locator('pre').filter({ hasText: XSS }).first()).toBeVisible();
  });
  await expectEscaped(page, `/runs/${retryId}`, async (p) => {
    await expect(p.locator('main')).toContainText(`Reason${XSS}`);
  });
  await expectEscaped(page, `/runs?integration=${encodeURIComponent(XSS)}`, async (p) => {
    await expect(p.locator('main')).toBeVisible();
  });
  await expectEscaped(page, '/integrations/crm-sync', async (p) => {
    await expect(p.locator('main')).toBeVisible();
  });

  const line =
    `[reliability] hostile input over HTTP: routes ${figures.routes.size}, cases ${figures.routeCases}, refused ${figures.routeRefused}, ` +
    `valid-hostile answered 200 ${figures.routeAccepted}, 5xx ${figures.route5xx}, written ${figures.routeWritten}; ` +
    `actions ${figures.actions.size}, cases ${figures.actionCases}, refused ${figures.actionRefused}, 5xx ${figures.action5xx}, written ${figures.actionWritten}; ` +
    `escaped pages ${figures.pages}`;
  console.log(line);
});
