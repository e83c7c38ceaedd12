import { randomBytes, randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { sql } from 'drizzle-orm';
import type { PgBoss } from 'pg-boss';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signDelivery } from '../../e2e/webhooks';
import { integrations } from '../../lib/integrations';
import { addWebhookSecret } from '../../lib/platform/intake/secrets';
import { buildRegistry, syncRegistry } from '../../lib/platform/registry';
import { freshDatabase, type TestDatabase } from '../db';
import { startTestBoss } from '../fixtures/platform';
import { newSecretsKey, report, startIntakeProcess, type WorkerProcess } from './support';

/**
 * Issue 17: the dedicated intake listener (worker/intake.ts, `npm run start:intake`) as the real
 * process, over HTTP: health, signed deliveries stored once, the refusals of the Next.js route with
 * the same statuses and reasons (forged, stale, oversized declared and streamed, wrong type, unknown
 * endpoint, wrong method), its own metrics behind the token, kill -9 in the middle of a burst (every
 * event answered 2xx is stored, the rest taken on the sender's retry by a restarted listener), a
 * graceful SIGTERM, and no secret or signature in its output. The full contract, case by case and
 * side by side with the route, is e2e/security/webhook-intake.spec.ts.
 */

const ENDPOINT = '/hooks/payment-events';
const LIMIT = 256 * 1024;
const METRICS_TOKEN = randomBytes(16).toString('hex');
/** What the streamed oversized delivery would send in all, if nothing answered it first. */
const STREAM_BYTES = 64 * 1024 * 1024;

let t: TestDatabase;
let boss: PgBoss;
let intake: WorkerProcess & { url: string; port: number };
let secret = '';
const signatures = new Set<string>();
const output: string[] = [];
const { key, keyring } = newSecretsKey();

function start(port?: number) {
  return startIntakeProcess({
    DATABASE_URL: t.url,
    JUNCTION_SECRETS_KEY: key,
    METRICS_TOKEN,
    ...(port ? { INTAKE_PORT: String(port) } : {}),
  });
}

function signed(id: string, body = JSON.stringify({ id, type: 'customer.note', data: { note: 'hello' } }), at = new Date()) {
  const delivery = signDelivery(secret, id, body, at);
  signatures.add(delivery.headers['webhook-signature']);
  return delivery;
}

async function post(headers: Record<string, string>, body: string, path = ENDPOINT) {
  const res = await fetch(`${intake.url}${path}`, { method: 'POST', headers, body, signal: AbortSignal.timeout(10_000) });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
}

async function counts() {
  const [row] = await t.db.execute<{ events: number; rejections: number }>(sql`
    select (select count(*)::int from webhook_events) as events, (select count(*)::int from webhook_rejections) as rejections`);
  return row;
}

/** A chunked body (no content-length) written until the answer comes; the bytes written by then. */
function postStreaming(headers: Record<string, string>): Promise<{ status: number; body: Record<string, unknown>; written: number }> {
  return new Promise((resolve, reject) => {
    let written = 0;
    let answered = false;
    const req = httpRequest(`${intake.url}${ENDPOINT}`, { method: 'POST', headers }, (res) => {
      answered = true;
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown>, written }));
    });
    // The listener answers while this is still writing (that is the point), and cuts the connection
    // a while later: an error after the answer is expected, one before it is a failure.
    req.on('error', (error) => (answered ? undefined : reject(error)));
    const chunk = Buffer.alloc(16 * 1024, 'a');
    req.write('{"pad":"');
    const pump = () => {
      while (!answered && written < STREAM_BYTES) {
        written += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', () => setImmediate(pump));
      }
      if (!answered) req.end('"}');
    };
    pump();
  });
}

beforeAll(async () => {
  t = await freshDatabase();
  const registry = buildRegistry(integrations);
  await syncRegistry(t.db, { registry });
  // Installs pg-boss's schema in the fresh database, as a worker would.
  boss = await startTestBoss(t.url);
  const { generated } = await addWebhookSecret(t.db, keyring, { def: registry.get('payment-events')!, label: 'listener', actor: 'suite' });
  secret = generated!;
  intake = await start();
}, 180_000);

afterAll(async () => {
  if (intake) {
    output.push(intake.output());
    await intake.kill();
  }
  await boss?.stop({ graceful: false, timeout: 2_000 }).catch(() => {});
  await t?.drop();
});

describe('the dedicated intake listener as its own process (issue 17)', () => {
  it('answers /health and stores a signed delivery once, with its run; the same event again is a duplicate', async () => {
    const health = await fetch(`${intake.url}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });

    const id = `evt_${randomUUID()}`;
    const d = signed(id);
    const first = await post(d.headers, d.body);
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ received: true, id, duplicate: false });
    expect(first.headers.get('content-type')).toBe('application/json');
    expect(first.headers.get('cache-control')).toBe('no-store, no-transform');
    expect(first.headers.get('x-correlation-id')).toMatch(/^[0-9a-f-]{36}$/);
    const again = await post(d.headers, d.body);
    expect(again.body).toEqual({ received: true, id, duplicate: true });
    const [row] = await t.db.execute<{ duplicates: number; run: string | null }>(sql`
      select e.duplicates, (select r.status from runs r where r.integration = 'payment-events' and r.trigger = 'event' limit 1) as run
        from webhook_events e where e.event_id = ${id}`);
    expect(row).toEqual({ duplicates: 1, run: 'queued' });
  });

  it("refuses forged, stale, oversized and wrong-type deliveries with the route's statuses, storing only their metadata", async () => {
    const id = `evt_${randomUUID()}`;
    const d = signed(id);
    const forged = new Webhook(`whsec_${randomBytes(24).toString('base64')}`).sign(id, new Date(), d.body);
    signatures.add(forged);
    const stale = signed(id, d.body, new Date(Date.now() - 6 * 60_000));
    const huge = signed(id, JSON.stringify({ id, type: 'customer.note', pad: 'x'.repeat(LIMIT) }));
    const cases: [string, () => Promise<{ status: number; body: Record<string, unknown> }>, number, string, boolean][] = [
      ['signed with another secret', () => post({ ...d.headers, 'webhook-signature': forged }, d.body), 401, 'bad signature', true],
      ['valid signature over other bytes', () => post(d.headers, `${d.body} `), 401, 'bad signature', true],
      ['signed 6 minutes ago', () => post(stale.headers, stale.body), 401, 'stale timestamp', true],
      ['over the limit, declared', () => post(huge.headers, huge.body), 413, `body over ${LIMIT} bytes`, true],
      [
        'over the limit, streamed',
        () => postStreaming({ ...d.headers, 'transfer-encoding': 'chunked' }),
        413,
        `body over ${LIMIT} bytes`,
        true,
      ],
      [
        'text/plain',
        () => post({ ...d.headers, 'content-type': 'text/plain' }, d.body),
        415,
        'content type must be application/json',
        true,
      ],
      ['an unknown integration', () => post(d.headers, d.body, '/hooks/no-such-integration'), 404, 'no such webhook endpoint', false],
      ['an integration that receives no events', () => post(d.headers, d.body, '/hooks/crm-sync'), 404, 'no such webhook endpoint', false],
    ];
    for (const [what, send, status, reason, recorded] of cases) {
      const before = await counts();
      const answer = await send();
      expect(answer.status, what).toBe(status);
      expect(answer.body, what).toEqual({ error: reason });
      expect(await counts(), what).toEqual({ events: before.events, rejections: before.rejections + (recorded ? 1 : 0) });
      if ('written' in answer) {
        // Answered while the sender was still streaming (a listener that read the body whole before
        // answering would have taken all of STREAM_BYTES first).
        expect(answer.written, `${what}: bytes sent before the answer`).toBeLessThan(STREAM_BYTES);
      }
    }
    const get = await fetch(`${intake.url}${ENDPOINT}`);
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
    // No method tells which names exist: an unknown endpoint is a 404 for GET as for POST.
    const unknown = await fetch(`${intake.url}/hooks/no-such-integration`);
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({ error: 'no such webhook endpoint' });
    expect((await fetch(`${intake.url}/api/health`)).status).toBe(404);
    // The signed delivery itself is accepted after all that.
    expect((await post(d.headers, d.body)).body).toEqual({ received: true, id, duplicate: false });
    // The listener is still healthy after the bodies it refused.
    expect((await fetch(`${intake.url}/health`)).status).toBe(200);
  });

  it('counts deliveries in its own /metrics, behind the metrics token', async () => {
    expect((await fetch(`${intake.url}/metrics`)).status).toBe(401);
    const res = await fetch(`${intake.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toMatch(/junction_webhook_events_total\{integration="payment-events",outcome="accepted"\} [1-9]/);
    expect(text).toMatch(/junction_webhook_events_total\{integration="payment-events",outcome="rejected"\} [1-9]/);
  });

  it('kill -9 in the middle of a burst: every event answered 2xx is stored, the rest are stored on retry; SIGTERM exits cleanly', async () => {
    const ids = Array.from({ length: 400 }, () => `evt_burst_${randomUUID()}`);
    const deliveries = new Map(
      ids.map((id) => [id, signed(id, JSON.stringify({ id, type: 'payment.succeeded', data: { payment_id: id } }))]),
    );
    const answered = new Set<string>();
    const failed = new Set<string>();
    let next = 0;
    let killed = false;
    const sender = async () => {
      while (next < ids.length) {
        const id = ids[next++];
        const d = deliveries.get(id)!;
        try {
          const res = await fetch(`${intake.url}${ENDPOINT}`, { method: 'POST', headers: d.headers, body: d.body });
          if (res.status === 200) answered.add(id);
          else failed.add(id);
          await res.arrayBuffer();
        } catch {
          failed.add(id);
        }
        if (!killed && answered.size >= 150) {
          killed = true;
          output.push(intake.output());
          await intake.kill();
        }
      }
    };
    await Promise.all(Array.from({ length: 16 }, sender));
    expect(killed).toBe(true);
    expect(failed.size, 'deliveries sent after the kill failed').toBeGreaterThan(0);
    // Every event answered 2xx before the kill was committed.
    const storedBefore = await t.db.execute<{ event_id: string }>(
      sql`select event_id from webhook_events where event_id like 'evt_burst_%'`,
    );
    const stored = new Set(storedBefore.map((r) => r.event_id));
    expect([...answered].filter((id) => !stored.has(id))).toEqual([]);

    // The sender retries what was not answered 2xx; a listener on the same port takes them.
    intake = await start(intake.port);
    for (const id of failed) {
      const d = deliveries.get(id)!;
      const answer = await post(d.headers, d.body);
      expect(answer.status).toBe(200);
    }
    const [after] = await t.db.execute<{ n: number; dupes: number }>(
      sql`select count(*)::int as n, coalesce(sum(duplicates), 0)::int as dupes from webhook_events where event_id like 'evt_burst_%'`,
    );
    expect(after.n).toBe(ids.length);
    report('intake listener kill -9', {
      sent: ids.length,
      answered2xxBeforeKill: answered.size,
      notAnswered: failed.size,
      storedWithoutA2xx: stored.size - answered.size,
      lost: 0,
      duplicatesOnRetry: after.dupes,
    });

    // SIGTERM: stops accepting, answers what is in flight, exits 0.
    const exited = new Promise<number | null>((resolve) => intake.process.once('exit', (code) => resolve(code)));
    await intake.stop();
    expect(await exited).toBe(0);
    output.push(intake.output());
    // Nothing secret in what it printed.
    const printed = output.join('\n');
    expect(printed).toMatch(/\[intake\] listening on/);
    expect(printed.includes(secret.slice(6))).toBe(false);
    for (const s of signatures)
      for (const part of s.split(/[\s,]+/).filter((p) => p.length >= 20)) expect(printed.includes(part)).toBe(false);
  }, 120_000);
});
