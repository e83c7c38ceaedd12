import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { verifySignature } from './signature';

const secret = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
const other = `whsec_${Buffer.alloc(32, 9).toString('base64')}`;
const body = '{"type":"payment.succeeded"}';
// The real clock: the package's own verify() read it, whatever `now` it was given.
const now = Math.floor(Date.now() / 1000) * 1000;

function signed(ageSeconds: number, signers: string[] = [secret], payload = body) {
  const at = new Date(now - ageSeconds * 1000);
  return {
    'webhook-id': 'evt_1',
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': signers.map((s) => new Webhook(s).sign('evt_1', at, payload)).join(' '),
  };
}

const verify = (headers: Record<string, string>, toleranceSeconds?: number, secrets = [secret]) =>
  verifySignature({ scheme: 'standard-webhooks', toleranceSeconds }, secrets, Buffer.from(body), headers, now);

describe('Standard Webhooks verification', () => {
  it("honours a toleranceSeconds above 300 (the package's own window refused such deliveries as stale)", () => {
    expect(verify(signed(400), 900)).toEqual({ ok: true, signedAt: new Date(now - 400_000) });
    expect(verify(signed(-400), 900)).toMatchObject({ ok: true });
    expect(verify(signed(901), 900)).toEqual({ ok: false, reason: 'stale timestamp' });
    expect(verify(signed(-901), 900)).toEqual({ ok: false, reason: 'timestamp in the future' });
  });

  it('keeps the default 300 s window and a smaller one', () => {
    expect(verify(signed(299))).toMatchObject({ ok: true });
    expect(verify(signed(301))).toEqual({ ok: false, reason: 'stale timestamp' });
    expect(verify(signed(61), 60)).toEqual({ ok: false, reason: 'stale timestamp' });
  });

  it('refuses another secret, another body or another id, and accepts any of several signatures', () => {
    expect(verify(signed(10, [other]))).toEqual({ ok: false, reason: 'bad signature' });
    expect(verify(signed(10, [secret], '{"type":"payment.refunded"}'))).toEqual({ ok: false, reason: 'bad signature' });
    expect(verify({ ...signed(10), 'webhook-id': 'evt_2' })).toEqual({ ok: false, reason: 'bad signature' });
    expect(verify({ ...signed(10), 'webhook-signature': 'v1,' })).toEqual({ ok: false, reason: 'bad signature' });
    expect(verify({ ...signed(10), 'webhook-signature': signed(10)['webhook-signature'].replace('v1,', 'v2,') })).toEqual({
      ok: false,
      reason: 'bad signature',
    });
    // The sender's rotation (two signatures), and ours (two secrets, one malformed).
    expect(verify(signed(10, [other, secret]))).toMatchObject({ ok: true });
    expect(verify(signed(10, [other]), undefined, ['whsec_!!', secret, other])).toMatchObject({ ok: true });
  });
});
