import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PaymentProvider } from './payment-provider';

const secret = `whsec_${Buffer.alloc(24, 5).toString('base64')}`;
const received: { id: string; valid: boolean; body: string }[] = [];
let failFirst = 0;
let url = '';
const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString();
    let valid = true;
    try {
      new Webhook(secret).verify(body, req.headers as Record<string, string>);
    } catch {
      valid = false;
    }
    received.push({ id: String(req.headers['webhook-id']), valid, body });
    if (!valid) return res.writeHead(401).end();
    if (failFirst > 0) {
      failFirst--;
      return res.writeHead(503).end();
    }
    res.writeHead(200).end('{}');
  });
});
beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/payment-events`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('payment provider stand-in', () => {
  it('signs each delivery, retries until 2xx and numbers events per payment', async () => {
    received.length = 0;
    failFirst = 2;
    const p = new PaymentProvider({ targetUrl: url, secret, retryDelaysMs: [20, 40] });
    const paid = p.paymentSucceeded({ invoiceNumber: 'INV-1', amount: '10.00', currency: 'EUR' });
    const refund = p.paymentRefunded({
      paymentId: paid.data.payment_id as string,
      invoiceNumber: 'INV-1',
      amount: '10.00',
      currency: 'EUR',
    });
    await p.drained(5_000);
    expect(paid.data.sequence).toBe(1);
    expect(refund.data.sequence).toBe(2);
    expect(p.snapshot()).toMatchObject({ events: 2, accepted: 2, pending: 0, byStatus: { '200': 2, '503': 2 } });
    expect(received.every((r) => r.valid)).toBe(true);
    p.stop();
  });

  it('injects bad signatures, stale timestamps and duplicates, and still delivers everything', async () => {
    received.length = 0;
    const p = new PaymentProvider({
      targetUrl: url,
      secret,
      retryDelaysMs: [10],
      seed: 3,
      faults: { badSignature: 0.3, staleTimestamp: 0.3, duplicate: 0.5, outOfOrder: 0.5 },
      holdBackMs: 30,
    });
    for (let i = 0; i < 40; i++) p.paymentSucceeded({ invoiceNumber: `INV-${i}`, amount: '1.00', currency: 'EUR' });
    await p.drained(10_000);
    const s = p.snapshot();
    expect(s.accepted).toBe(40);
    expect(s.injected.badSignature).toBeGreaterThan(0);
    expect(s.injected.staleTimestamp).toBeGreaterThan(0);
    expect(s.injected.duplicate).toBeGreaterThan(0);
    expect(s.duplicatesAnswered).toBe(s.injected.duplicate);
    expect(received.filter((r) => !r.valid).length).toBe(s.injected.badSignature + s.injected.staleTimestamp);
    p.stop();
  });
});
