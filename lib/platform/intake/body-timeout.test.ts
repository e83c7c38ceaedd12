import { connect, type Socket } from 'node:net';
import { asc } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { webhookRejections } from '../../../db/schema';
import { startIntakeServer } from '../../../test/fixtures/intake-server';
import { startIntakeTest, type IntakeTest } from '../../../test/fixtures/intake-test';
import { readBodyUpTo } from '../../server/read-body';
import { defineIntegration, type IntegrationDefinition } from '../contract';
import { answerWebhook, webhookHeaders } from './http';

/**
 * A webhook body that stalls (Content-Length 100, 6 bytes sent, the socket kept open) or trickles
 * (a byte at a time, never finishing) is answered on both servers with the JSON 408 of the other
 * refusals at the body deadline, and recorded. Before: the intake listener answered node's
 * plain-text 408 after ~71 s and recorded nothing; the console's route held the request past 75 s.
 * The bound is 1.5 s here (bodyTimeoutMs) instead of the servers' 30 s.
 */

const BOUND_MS = 1_500;
/** How late after the bound an answer may come on a loaded machine. */
const SLACK_MS = 2_500;
/** Each test's own limit: far below the old code's ~71 s, far above the bound. */
const TEST_MS = 15_000;
const REASON = `the body did not arrive within 1.5 s: 6 of the 100 bytes of Content-Length came; send the whole body within 1.5 s of the headers`;

const defs = [
  defineIntegration({
    name: 'payment-events',
    description: 'Receives Standard Webhooks',
    settings: z.object({}),
    events: { scheme: 'standard-webhooks', typeFrom: (d) => (d.body as { type?: string }).type, async handle() {} },
  }),
] as IntegrationDefinition[];

let intake: IntakeTest;
let server: Awaited<ReturnType<typeof startIntakeServer>>;

beforeAll(async () => {
  intake = await startIntakeTest(defs, { sync: true });
  server = await startIntakeServer(intake.deps, { bodyTimeoutMs: BOUND_MS });
});
afterAll(async () => {
  await server?.close();
  await intake?.close();
});

interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** ms from the headers sent to the whole answer read. */
  after: number;
}

/** Sends `head` (request line and headers) and `first`, then whatever `more` writes; resolves with the answer once read whole. */
function rawPost(head: string, first: string, more?: (socket: Socket) => void): Promise<{ answer: RawAnswer; socket: Socket }> {
  return new Promise((resolve, reject) => {
    const socket = connect(server.port, '127.0.0.1');
    let started = 0;
    let text = '';
    socket.setEncoding('utf8');
    socket.on('error', reject);
    socket.on('connect', () => {
      started = Date.now();
      socket.write(`${head}\r\n\r\n${first}`);
      more?.(socket);
    });
    socket.on('data', (chunk: string) => {
      text += chunk;
      const split = text.indexOf('\r\n\r\n');
      if (split < 0) return;
      const [statusLine, ...lines] = text.slice(0, split).split('\r\n');
      const headers = Object.fromEntries(
        lines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]),
      );
      let body = text.slice(split + 4);
      if (headers['transfer-encoding'] === 'chunked') {
        if (!body.endsWith('0\r\n\r\n')) return;
        let decoded = '';
        for (let at = 0; ;) {
          const eol = body.indexOf('\r\n', at);
          const size = parseInt(body.slice(at, eol), 16);
          if (!size) break;
          decoded += body.slice(eol + 2, eol + 2 + size);
          at = eol + 2 + size + 2;
        }
        body = decoded;
      } else if (Buffer.byteLength(body) < Number(headers['content-length'])) return;
      resolve({ answer: { status: Number(statusLine.split(' ')[1]), headers, body, after: Date.now() - started }, socket });
    });
    socket.on('close', () => reject(new Error(`the connection closed before a whole answer: ${JSON.stringify(text)}`)));
  });
}

const head = (id: string) =>
  [
    'POST /hooks/payment-events HTTP/1.1',
    'Host: 127.0.0.1',
    'Content-Type: application/json',
    `webhook-id: ${id}`,
    'webhook-timestamp: 1700000000',
    'webhook-signature: v1,AAAA',
    'Content-Length: 100',
  ].join('\r\n');

const rejections = () => intake.t.db.select().from(webhookRejections).orderBy(asc(webhookRejections.id));

function expectRefusalHeaders(headers: Record<string, string>) {
  expect(headers['content-type']).toBe('application/json');
  expect(headers['cache-control']).toBe('no-store, no-transform');
  expect(headers['x-correlation-id']).toMatch(/^[0-9a-f-]{36}$/);
}

describe('a webhook body that does not arrive', () => {
  it(
    'stalled on the intake listener: answered the JSON 408 at the bound and recorded',
    async () => {
      const { answer, socket } = await rawPost(head('evt_stalled'), '{"a":1');
      socket.destroy();
      expect(answer.status).toBe(408);
      expectRefusalHeaders(answer.headers);
      expect(JSON.parse(answer.body)).toEqual({ error: REASON });
      expect(answer.after).toBeGreaterThanOrEqual(BOUND_MS - 50);
      expect(answer.after).toBeLessThan(BOUND_MS + SLACK_MS);
      const rows = await rejections();
      expect(rows.map((r) => [r.status, r.reason, r.eventId, r.contentLength, r.remote])).toEqual([
        [408, REASON, 'evt_stalled', 100, '127.0.0.1'],
      ]);
    },
    TEST_MS,
  );

  it(
    'trickling on the intake listener: each byte does not keep it alive past the bound',
    async () => {
      let timer: ReturnType<typeof setInterval> | undefined;
      const { answer, socket } = await rawPost(head('evt_trickle'), '{', (s) => {
        // A byte every 200 ms, never finishing (100 bytes would take 20 s).
        timer = setInterval(() => s.writable && s.write(' '), 200);
      });
      clearInterval(timer);
      socket.destroy();
      expect(answer.status).toBe(408);
      expectRefusalHeaders(answer.headers);
      expect(JSON.parse(answer.body).error).toMatch(
        /^the body did not arrive within 1\.5 s: \d+ of the 100 bytes of Content-Length came; /,
      );
      expect(answer.after).toBeLessThan(BOUND_MS + SLACK_MS);
      const rows = await rejections();
      expect(rows.map((r) => [r.status, r.eventId])).toEqual([
        [408, 'evt_stalled'],
        [408, 'evt_trickle'],
      ]);
    },
    TEST_MS,
  );

  it(
    'stalled on the console route (its body reader, through answerWebhook): the same 408, recorded',
    async () => {
      const stalled = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode('{"a":1'));
          // and nothing more, never closed
        },
      });
      const request = new Request('http://localhost/hooks/payment-events', {
        method: 'POST',
        body: stalled,
        headers: { 'content-type': 'application/json', 'content-length': '100', 'webhook-id': 'evt_route' },
        duplex: 'half',
      } as RequestInit);
      const started = Date.now();
      const answer = await answerWebhook(intake.deps, {
        integration: 'payment-events',
        headers: webhookHeaders(request.headers.entries()),
        readBody: (limit) => readBodyUpTo(request, limit, { timeoutMs: BOUND_MS }),
        remote: null,
      });
      expect(Date.now() - started).toBeLessThan(BOUND_MS + SLACK_MS);
      expect(answer.status).toBe(408);
      expectRefusalHeaders(answer.headers);
      expect(JSON.parse(answer.body)).toEqual({ error: REASON });
      const rows = await rejections();
      expect(rows.at(-1)).toMatchObject({ status: 408, reason: REASON, eventId: 'evt_route', contentLength: 100 });
    },
    TEST_MS,
  );

  it(
    'a sender gone before the bound is not answered or recorded as a 408',
    async () => {
      const before = (await rejections()).length;
      const socket = connect(server.port, '127.0.0.1');
      await new Promise<void>((resolve) => socket.on('connect', resolve));
      socket.write(`${head('evt_gone')}\r\n\r\n{"a":1`);
      await new Promise((r) => setTimeout(r, 200));
      socket.destroy();
      await new Promise((r) => setTimeout(r, BOUND_MS + 500));
      expect((await rejections()).slice(before).filter((r) => r.status === 408)).toEqual([]);
    },
    TEST_MS,
  );
});
