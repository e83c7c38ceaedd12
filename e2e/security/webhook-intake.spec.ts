import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import path from 'node:path';
import type { APIRequestContext } from '@playwright/test';
import { baseURL, INTAKE_URL } from '../../playwright.config';
import { db } from '../db';
import { expect, signIn, test } from '../fixtures';
import { addSigningSecretThroughConsole, intakeCounts, PAYMENT_EVENTS, signDelivery, type IntakeCounts } from '../webhooks';

/**
 * Hostile deliveries to the public webhook endpoint (issue 17) on the real production server:
 * forged, truncated and missing signatures, stale and future timestamps, a captured delivery
 * replayed once it has left the 5-minute window, a valid signature over other bytes, bodies over
 * the limit (declared and streamed), wrong content types, unknown endpoints, and unicode. Every
 * refusal answers its status with a short reason, stores no event, counts no duplicate and starts
 * no run; refusals of a known endpoint add exactly one metadata row. Then no secret or signature
 * sent in this spec appears in the server log, the refusals table or any answer.
 *
 * Every case runs against both servers of the endpoint: the Next.js route (app/hooks/) and the
 * dedicated intake listener (worker/intake.ts, INTAKE_PORT): one contract, the same answers.
 */

test.describe.configure({ mode: 'serial' });

const ENDPOINT = `/hooks/${PAYMENT_EVENTS}`;
const LIMIT = 256 * 1024;

let secret = '';
/** Every signature and secret this spec sent: none may be echoed or logged. */
const sensitive = new Set<string>();
const answers: string[] = [];
const TARGETS = [
  { name: 'the Next.js route', origin: baseURL },
  { name: 'the intake listener', origin: INTAKE_URL },
];
/** The server the running describe block posts to. */
let origin = baseURL;

function eventBody(id: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ id, type: 'customer.note', created: Math.floor(Date.now() / 1000), data: { note: 'hello' }, ...extra });
}

async function post(request: APIRequestContext, headers: Record<string, string>, body: string | Buffer, url = ENDPOINT) {
  if (headers['webhook-signature']) sensitive.add(headers['webhook-signature']);
  // Always bytes: Playwright would JSON-quote a string that is not valid JSON, and the point is the exact bytes.
  const res = await request.post(`${origin}${url}`, {
    headers,
    data: typeof body === 'string' ? Buffer.from(body, 'utf8') : body,
    failOnStatusCode: false,
    maxRedirects: 0,
  });
  const text = await res.text();
  answers.push(text);
  return {
    status: res.status(),
    text,
    json: (() => {
      try {
        return JSON.parse(text) as Record<string, unknown>;
      } catch {
        return null;
      }
    })(),
  };
}

/** Sends one hostile delivery and checks the answer and that only a refusal row (or nothing) was written. */
async function refused(
  request: APIRequestContext,
  what: string,
  send: () => Promise<{ status: number; text: string; json: Record<string, unknown> | null }>,
  expected: { status: number; reason: RegExp; recorded?: boolean },
) {
  const before = await intakeCounts();
  const answer = await send();
  expect(answer.status, `${what}: status`).toBe(expected.status);
  expect(String(answer.json?.error ?? ''), `${what}: reason`).toMatch(expected.reason);
  expect(answer.text.length, `${what}: a short answer`).toBeLessThan(300);
  const after = await intakeCounts();
  const recorded = expected.recorded ?? true;
  const expectedCounts: IntakeCounts = { ...before, rejections: before.rejections + (recorded ? 1 : 0) };
  expect(after, `${what}: changes nothing but the refusal's metadata`).toEqual(expectedCounts);
  if (recorded) {
    const [row] = await db()<{ status: number; reason: string }[]>`
      select status, reason from webhook_rejections order by id desc limit 1`;
    expect(row.status, `${what}: refusal recorded with its status`).toBe(expected.status);
    expect(row.reason, `${what}: refusal recorded with its reason`).toMatch(expected.reason);
  }
}

/** POST through node:http with a chunked body (no content-length): the limit must hold while reading. */
function postChunked(headers: Record<string, string>, chunks: number, chunkBytes: number) {
  return new Promise<{ status: number; text: string; json: Record<string, unknown> | null }>((resolve, reject) => {
    const req = httpRequest(`${origin}${ENDPOINT}`, { method: 'POST', headers: { ...headers, 'transfer-encoding': 'chunked' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        answers.push(text);
        resolve({ status: res.statusCode ?? 0, text, json: JSON.parse(text) as Record<string, unknown> });
      });
    });
    // The server may answer and close before every chunk is written: that is the point.
    req.on('error', (error) => (String(error).includes('EPIPE') || String(error).includes('ECONNRESET') ? undefined : reject(error)));
    const chunk = Buffer.alloc(chunkBytes, 'a');
    req.write('{"pad":"');
    let i = 0;
    const pump = () => {
      while (i < chunks) {
        i++;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      req.end('"}');
    };
    pump();
  });
}

for (const target of TARGETS) {
  test.describe(target.name, () => {
    test.beforeAll(() => {
      origin = target.origin;
    });

    test('an admin adds the signing secret in the Events tab; a valid delivery is accepted', async ({ page, request }) => {
      await signIn(page, 'ada', `/integrations/${PAYMENT_EVENTS}/events`);
      secret = await addSigningSecretThroughConsole(page, `hostile-${Date.now().toString(36)}`);
      sensitive.add(secret);
      const id = `evt_ok_${randomUUID()}`;
      const before = await intakeCounts();
      const d = signDelivery(secret, id, eventBody(id));
      const accepted = await post(request, d.headers, d.body);
      expect(accepted.status, accepted.text).toBe(200);
      expect(accepted.json).toMatchObject({ received: true, id, duplicate: false });
      const after = await intakeCounts();
      expect(after.events).toBe(before.events + 1);
      expect(after.rejections).toBe(before.rejections);
    });

    test('forged, truncated and missing signatures are refused with 401 and change nothing', async ({ request }) => {
      const id = `evt_forged_${randomUUID()}`;
      const body = eventBody(id);
      const forged = signDelivery(`whsec_${randomBytes(24).toString('base64')}`, id, body);
      await refused(request, 'signed with another secret', () => post(request, forged.headers, body), {
        status: 401,
        reason: /^bad signature$/,
      });

      const valid = signDelivery(secret, id, body);
      const sig = valid.headers['webhook-signature'];
      await refused(
        request,
        'truncated signature',
        () => post(request, { ...valid.headers, 'webhook-signature': sig.slice(0, sig.length - 10) }, body),
        {
          status: 401,
          reason: /^bad signature$/,
        },
      );
      await refused(request, 'signature cut to its scheme', () => post(request, { ...valid.headers, 'webhook-signature': 'v1,' }, body), {
        status: 401,
        reason: /^bad signature$/,
      });
      // One flipped character in the base64 digest.
      const flipped = sig.slice(0, 5) + (sig[5] === 'A' ? 'B' : 'A') + sig.slice(6);
      await refused(request, 'one character changed', () => post(request, { ...valid.headers, 'webhook-signature': flipped }, body), {
        status: 401,
        reason: /^bad signature$/,
      });
      // The same digest under another event id: the id is signed too.
      await refused(
        request,
        'valid signature, other webhook-id',
        () => post(request, { ...valid.headers, 'webhook-id': `evt_other_${randomUUID()}` }, body),
        { status: 401, reason: /^bad signature$/ },
      );
      const { ['webhook-signature']: _omit, ...unsigned } = valid.headers;
      await refused(request, 'no signature header', () => post(request, unsigned, body), {
        status: 401,
        reason: /^missing signature headers$/,
      });
      await refused(request, 'garbage timestamp', () => post(request, { ...valid.headers, 'webhook-timestamp': '12ab' }, body), {
        status: 401,
        reason: /^malformed timestamp$/,
      });
      // The event id that was tried with forged signatures was never stored.
      expect((await db()`select 1 from webhook_events where event_id = ${id}`).length).toBe(0);
    });

    test('stale and future timestamps are refused even when the signature over them is valid', async ({ request }) => {
      const id = `evt_stale_${randomUUID()}`;
      const body = eventBody(id);
      const stale = signDelivery(secret, id, body, new Date(Date.now() - 6 * 60_000));
      await refused(request, 'signed 6 minutes ago', () => post(request, stale.headers, body), {
        status: 401,
        reason: /^stale timestamp$/,
      });
      const future = signDelivery(secret, id, body, new Date(Date.now() + 6 * 60_000));
      await refused(request, 'signed 6 minutes ahead', () => post(request, future.headers, body), {
        status: 401,
        reason: /^timestamp in the future$/,
      });
      const ancient = signDelivery(secret, id, body, new Date(0));
      await refused(request, 'signed at the epoch', () => post(request, ancient.headers, body), {
        status: 401,
        reason: /^stale timestamp$/,
      });
    });

    test('a captured delivery replayed after it left the 5-minute window is refused, not counted as a duplicate', async ({ request }) => {
      test.setTimeout(60_000);
      const id = `evt_replay_${randomUUID()}`;
      const body = eventBody(id);
      // Signed 294 s ago: still inside the window when first delivered, outside it a few seconds later.
      const signedAt = new Date(Date.now() - 294_000);
      const captured = signDelivery(secret, id, body, signedAt);
      const first = await post(request, captured.headers, body);
      expect(first.status, first.text).toBe(200);
      expect(first.json).toMatchObject({ received: true, id, duplicate: false });
      // Inside the window, the same bytes are a duplicate: 200, nothing created.
      const before = await intakeCounts();
      const again = await post(request, captured.headers, body);
      expect(again.json).toMatchObject({ received: true, id, duplicate: true });
      expect(await intakeCounts()).toEqual({ ...before, duplicates: before.duplicates + 1 });
      // Wait until the signature's timestamp is more than 300 s old, then replay the same bytes.
      const wait = signedAt.getTime() + 302_000 - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      await refused(request, 'replay outside the window', () => post(request, captured.headers, body), {
        status: 401,
        reason: /^stale timestamp$/,
      });
      const [row] = await db()<{ duplicates: number; event_id: string }[]>`
    select duplicates, event_id from webhook_events where integration = ${PAYMENT_EVENTS} and event_id = ${id}`;
      expect(row.duplicates, 'the late replay is not counted as a duplicate').toBe(1);
      const [rejection] = await db()<{ event_id: string | null }[]>`select event_id from webhook_rejections order by id desc limit 1`;
      expect(rejection.event_id, 'the refusal names the replayed event id').toBe(id);
    });

    test('a valid signature over different bytes is refused: the signature covers the raw body', async ({ request }) => {
      const id = `evt_swap_${randomUUID()}`;
      const signedBody = JSON.stringify({ id, type: 'payment.succeeded', data: { amount: '10.00' } });
      const d = signDelivery(secret, id, signedBody);
      const tampered = signedBody.replace('10.00', '99.00');
      await refused(request, 'amount changed', () => post(request, d.headers, tampered), { status: 401, reason: /^bad signature$/ });
      // The same JSON value, re-serialised with other whitespace: other bytes, so refused.
      const reformatted = JSON.stringify(JSON.parse(signedBody), null, 2);
      await refused(request, 'same JSON re-serialised', () => post(request, d.headers, reformatted), {
        status: 401,
        reason: /^bad signature$/,
      });
      await refused(request, 'a trailing newline added', () => post(request, d.headers, `${signedBody}\n`), {
        status: 401,
        reason: /^bad signature$/,
      });
      await refused(request, 'empty body', () => post(request, d.headers, ''), { status: 401, reason: /^bad signature$/ });
      // The signed body itself is accepted: the refusals above were about the bytes, nothing else.
      const ok = await post(request, d.headers, signedBody);
      expect(ok.status, ok.text).toBe(200);
    });

    test('a known event id with another payload is refused with 409, neither stored nor counted; the same payload is a duplicate', async ({
      request,
    }) => {
      const id = `evt_reused_${randomUUID()}`;
      const body = JSON.stringify({ id, type: 'customer.note', data: { note: 'first' } });
      const first = await post(request, signDelivery(secret, id, body).headers, body);
      expect(first.status, first.text).toBe(200);
      // The sender reuses the id for another event, correctly signed: its data must not vanish as a duplicate.
      const other = JSON.stringify({ id, type: 'customer.note', data: { note: 'second' } });
      await refused(request, 'the id reused with another payload', () => post(request, signDelivery(secret, id, other).headers, other), {
        status: 409,
        reason: /^this event id was already received with a different payload: send a new id for a new event$/,
      });
      const [row] = await db()<{ duplicates: number; note: string }[]>`
    select duplicates, payload->'data'->>'note' as note from webhook_events where integration = ${PAYMENT_EVENTS} and event_id = ${id}`;
      expect(row, 'the stored event is the first one, not counted').toEqual({ duplicates: 0, note: 'first' });
      const [rejection] = await db()<{ event_id: string | null }[]>`select event_id from webhook_rejections order by id desc limit 1`;
      expect(rejection.event_id, 'the refusal names the reused event id').toBe(id);
      // The same event again (re-signed, as a retry is): a duplicate, as before.
      const again = await post(request, signDelivery(secret, id, body).headers, body);
      expect(again.json).toMatchObject({ received: true, id, duplicate: true });
    });

    test('bodies over the limit answer 413, declared or streamed, and change nothing', async ({ request }) => {
      test.setTimeout(60_000);
      const id = `evt_huge_${randomUUID()}`;
      const huge = eventBody(id, { pad: 'x'.repeat(LIMIT) });
      const d = signDelivery(secret, id, huge);
      await refused(request, 'validly signed, 256 KiB + over', () => post(request, d.headers, huge), {
        status: 413,
        reason: /^body over 262144 bytes$/,
      });
      const fiveMb = Buffer.alloc(5 * 1024 * 1024, 'a');
      await refused(request, '5 MiB of garbage', () => post(request, { 'content-type': 'application/json' }, fiveMb), {
        status: 413,
        reason: /^body over 262144 bytes$/,
      });
      // No content-length: the endpoint must stop reading past the limit, not buffer 8 MiB.
      await refused(
        request,
        'chunked 8 MiB without content-length',
        () =>
          postChunked(
            { 'content-type': 'application/json', 'webhook-id': id, 'webhook-timestamp': '1', 'webhook-signature': 'v1,x' },
            128,
            64 * 1024,
          ),
        { status: 413, reason: /^body over 262144 bytes$/ },
      );
      // Just under the limit, signed: accepted (the limit is the limit, not less).
      const fitsId = `evt_fits_${randomUUID()}`;
      const base = eventBody(fitsId, { pad: '' });
      const fits = eventBody(fitsId, { pad: 'y'.repeat(LIMIT - Buffer.byteLength(base)) });
      expect(Buffer.byteLength(fits)).toBe(LIMIT);
      const f = signDelivery(secret, fitsId, fits);
      const accepted = await post(request, f.headers, fits);
      expect(accepted.status, accepted.text).toBe(200);
    });

    test('wrong content types answer 415 before anything is read', async ({ request }) => {
      const id = `evt_ct_${randomUUID()}`;
      const body = eventBody(id);
      const d = signDelivery(secret, id, body);
      for (const contentType of [
        'text/plain',
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=x',
        'application/json-patch+json',
        'application/jsonx',
        'text/json',
      ]) {
        await refused(request, `content-type ${contentType}`, () => post(request, { ...d.headers, 'content-type': contentType }, body), {
          status: 415,
          reason: /^content type must be application\/json$/,
        });
      }
      const { ['content-type']: _none, ...noType } = d.headers;
      await refused(request, 'no content-type', () => post(request, noType, Buffer.from(body)), {
        status: 415,
        reason: /^content type must be application\/json$/,
      });
      // Parameters and case are fine: the media type is what counts.
      const ok = await post(request, { ...d.headers, 'content-type': 'Application/JSON; charset=utf-8' }, body);
      expect(ok.status, ok.text).toBe(200);
    });

    test('unknown endpoints and integrations that receive no events answer 404 and record nothing', async ({ request }) => {
      const id = `evt_404_${randomUUID()}`;
      const body = eventBody(id);
      const d = signDelivery(secret, id, body);
      for (const target of [
        'no-such-integration',
        'crm-sync',
        'accounting-export',
        'payment-events%00',
        'PAYMENT-EVENTS',
        '..%2Fapi%2Fhealth',
        '%E2%80%AEstneve-tnemyap',
      ]) {
        await refused(request, `/hooks/${target}`, () => post(request, d.headers, body, `/hooks/${target}`), {
          status: 404,
          reason: /^no such webhook endpoint$/,
          recorded: false,
        });
      }
      // Only POST: any other method is told so, the same way on both endpoints, and writes nothing.
      const before = await intakeCounts();
      for (const method of ['GET', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']) {
        const other = await request.fetch(`${origin}${ENDPOINT}`, { method, data: body, failOnStatusCode: false });
        expect(other.status(), method).toBe(405);
        expect(other.headers().allow, method).toBe('POST');
        expect(await other.json(), method).toEqual({ error: 'webhook endpoints accept POST only' });
        // An endpoint that does not exist (or an integration that receives no events) is a 404
        // whatever the method, as for POST: no method tells which names exist.
        for (const target of ['nope', 'accounting-export']) {
          const missing = await request.fetch(`${origin}/hooks/${target}`, { method, failOnStatusCode: false });
          expect(missing.status(), `${method} ${target}`).toBe(404);
          expect(await missing.json(), `${method} ${target}`).toEqual({ error: 'no such webhook endpoint' });
        }
      }
      expect(await intakeCounts()).toEqual(before);
    });

    test('a path with malformed percent-encoding answers the same JSON 400 on both servers and records nothing', async ({ request }) => {
      const id = `evt_malformed_${randomUUID()}`;
      const body = eventBody(id);
      const d = signDelivery(secret, id, body);
      for (const path of ['/hooks/%ZZ', '/hooks/pay%E0%A4', `${ENDPOINT}%ZZ`, '/hooks/%ZZ/more']) {
        await refused(request, path, () => post(request, d.headers, body, path), {
          status: 400,
          reason: /^This address has malformed percent-encoding \(such as '%ZZ'\): encode '%' in a name as '%25'\.$/,
          recorded: false,
        });
      }
    });

    test('unicode bodies are stored byte-exact when signed; invalid UTF-8, NUL and non-JSON are refused', async ({ request }) => {
      const id = `evt_unicode_${randomUUID()}`;
      const note =
        '\u202eevil\u202c.exe 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ☃ 🚀 👩‍👩‍👧 \u200f\u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627 e\u0301 \ufeff <script>window.__xss=1</script>';
      const body = JSON.stringify({ id, type: 'customer.note', data: { note } });
      const d = signDelivery(secret, id, body);
      const ok = await post(request, d.headers, body);
      expect(ok.status, ok.text).toBe(200);
      const [stored] = await db()<{ payload: { data: { note: string } } }[]>`
    select payload from webhook_events where integration = ${PAYMENT_EVENTS} and event_id = ${id}`;
      expect(stored.payload.data.note).toBe(note);

      // Escaped unicode in the raw bytes is signed as written, and stored as the characters it means.
      const escapedId = `evt_escaped_${randomUUID()}`;
      const escaped = `{"id":"${escapedId}","type":"customer.note","data":{"note":"\\u2603 \\ud83d\\ude80"}}`;
      const e = signDelivery(secret, escapedId, escaped);
      expect((await post(request, e.headers, escaped)).status).toBe(200);
      const [escapedRow] = await db()<{ payload: { data: { note: string } } }[]>`
    select payload from webhook_events where integration = ${PAYMENT_EVENTS} and event_id = ${escapedId}`;
      expect(escapedRow.payload.data.note).toBe('☃ 🚀');

      const nulId = `evt_nul_${randomUUID()}`;
      const nul = `{"id":"${nulId}","type":"customer.note","data":{"note":"a\\u0000b"}}`;
      const n = signDelivery(secret, nulId, nul);
      await refused(request, 'signed JSON with \\u0000', () => post(request, n.headers, nul), { status: 400, reason: /u0000/ });

      const badUtf8Id = `evt_badutf8_${randomUUID()}`;
      const badUtf8 = Buffer.concat([
        Buffer.from(`{"id":"${badUtf8Id}","type":"customer.note","x":"`),
        Buffer.from([0xc3, 0x28, 0xff]),
        Buffer.from('"}'),
      ]);
      // Standard Webhooks signs text: the sender signed the UTF-8 decoding of these bytes (U+FFFD for
      // each bad byte), so the signature holds and the strict decoder must refuse the bytes.
      const b = signDelivery(secret, badUtf8Id, badUtf8.toString('utf8'));
      await refused(request, 'signed invalid UTF-8', () => post(request, b.headers, badUtf8), {
        status: 400,
        reason: /^body is not valid UTF-8 JSON$/,
      });

      const notJsonId = `evt_notjson_${randomUUID()}`;
      const notJson = '{"id": "unterminated';
      const j = signDelivery(secret, notJsonId, notJson);
      await refused(request, 'signed malformed JSON', () => post(request, j.headers, notJson), {
        status: 400,
        reason: /^body is not valid UTF-8 JSON$/,
      });

      const noTypeId = `evt_notype_${randomUUID()}`;
      const noType = JSON.stringify({ id: noTypeId, data: {} });
      const t = signDelivery(secret, noTypeId, noType);
      await refused(request, 'signed event without a type', () => post(request, t.headers, noType), {
        status: 400,
        reason: /^no event type in the delivery$/,
      });
    });
  });
}

test('no secret or signature appears in the server log, the refusals or any answer', async () => {
  expect(sensitive.size).toBeGreaterThan(20);
  // The server writes its log as it goes; give the last lines a moment to land.
  await new Promise((r) => setTimeout(r, 500));
  const logs = readFileSync(path.join(import.meta.dirname, '..', '..', 'test-results', 'e2e-server.log'), 'utf8');
  const [row] = await db()<{ t: string | null }[]>`
    select concat_ws(' ', (select string_agg(row_to_json(r)::text, ' ') from webhook_rejections r),
                          (select string_agg(coalesce(new_value::text, ''), ' ') from audit_log),
                          (select string_agg(message || coalesce(data::text, ''), ' ') from attempt_logs),
                          (select string_agg(coalesce(outcome, ''), ' ') from webhook_events)) as t`;
  const stored = row.t ?? '';
  let checked = 0;
  for (const value of sensitive) {
    // A signature header may carry several `v1,<digest>`; each digest must not leak either.
    const parts = [value, ...value.split(/[\s,]+/).filter((p) => p.length >= 20)];
    for (const part of parts) {
      checked++;
      expect(logs.includes(part), 'the server log leaks a secret or signature').toBe(false);
      expect(stored.includes(part), 'the refusals, audit trail, run logs or event outcomes leak a secret or signature').toBe(false);
      for (const answer of answers) expect(answer.includes(part), 'an answer echoes a secret or signature').toBe(false);
    }
  }
  // The secret's sealed form is all the database holds.
  const sealed = await db()<{ sealed: string }[]>`select sealed from webhook_secrets where integration = ${PAYMENT_EVENTS}`;
  for (const s of sealed) expect(s.sealed.includes(secret.slice(6))).toBe(false);
  console.log(
    `[webhook-intake] secrets and signatures checked: ${sensitive.size} (${checked} strings), answers: ${answers.length}, log bytes: ${logs.length}, leaks: 0`,
  );
});
