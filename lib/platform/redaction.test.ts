import { describe, expect, it } from 'vitest';
import { channelRedactor } from './alerts/transports';
import { REDACTED, SecretRedactor } from './redaction';

describe('SecretRedactor', () => {
  const secret = 'sk+live/Q x&z"9';

  it('replaces a secret in every form it is sent in, and keeps the rest of the text', () => {
    const redactor = new SecretRedactor([secret]);
    const sent = [
      secret,
      encodeURIComponent(secret),
      new URLSearchParams({ v: secret }).toString().slice(2),
      JSON.stringify(secret).slice(1, -1),
      JSON.stringify(JSON.stringify(secret).slice(1, -1)).slice(1, -1),
      Buffer.from(secret).toString('base64'),
      Buffer.from(secret).toString('base64url'),
    ];
    for (const form of sent) expect(redactor.scrub(`refused key '${form}' for client 7`)).toBe(`refused key '${REDACTED}' for client 7`);
  });

  it('replaces the longest value first, so a secret inside a longer one leaves nothing of it', () => {
    const redactor = new SecretRedactor(['abcd1234']).add('abcd1234-efgh-ijkl');
    expect(redactor.scrub('x abcd1234-efgh-ijkl y abcd1234 z')).toBe(`x ${REDACTED} y ${REDACTED} z`);
  });

  it('ignores blank values and values shorter than 8 characters, which would make messages unreadable', () => {
    const redactor = new SecretRedactor(['', '        ', 'wrong', undefined, null]);
    expect(redactor.empty).toBe(true);
    expect(redactor.scrub('unknown client or wrong secret')).toBe('unknown client or wrong secret');
  });

  it('treats regular-expression characters in a value literally', () => {
    const redactor = new SecretRedactor(['a.b*c(d)']);
    expect(redactor.scrub('a.b*c(d) and axbbbc(d)')).toBe(`${REDACTED} and axbbbc(d)`);
  });

  it('scrubs strings and keys inside JSON values and leaves other values alone', () => {
    const redactor = new SecretRedactor(['tok-12345']);
    expect(redactor.scrubJson({ url: '/x?key=tok-12345', n: 3, ok: true, list: ['tok-12345', null], 'tok-12345': 1 })).toEqual({
      url: `/x?key=${REDACTED}`,
      n: 3,
      ok: true,
      list: [REDACTED, null],
      [REDACTED]: 1,
    });
  });

  it('matches values added after the first scrub (tokens obtained during an attempt)', () => {
    const redactor = new SecretRedactor();
    expect(redactor.scrub('Bearer sbx_first-token')).toBe('Bearer sbx_first-token');
    redactor.add('sbx_first-token');
    expect(redactor.scrub('Bearer sbx_first-token')).toBe(`Bearer ${REDACTED}`);
  });

  it('scrubs an error in place: message and stack, keeping its class', () => {
    class StaleThing extends Error {}
    const error = new StaleThing('refused: value sk-live-0042 too long');
    const scrubbed = new SecretRedactor(['sk-live-0042']).scrubError(error);
    expect(scrubbed).toBe(error);
    expect(scrubbed).toBeInstanceOf(StaleThing);
    expect(scrubbed.message).toBe(`refused: value ${REDACTED} too long`);
    expect(scrubbed.stack).not.toContain('sk-live-0042');
    expect(scrubbed.stack).toContain(REDACTED);
    // Not an Error, a frozen one, or nothing to scrub: returned as it is, never thrown from.
    expect(new SecretRedactor(['sk-live-0042']).scrubError('sk-live-0042')).toBe('sk-live-0042');
    const frozen = Object.freeze(new Error('sk-live-0042'));
    expect(new SecretRedactor(['sk-live-0042']).scrubError(frozen)).toBe(frozen);
    expect(new SecretRedactor().scrubError(error)).toBe(error);
    // A failed statement: its causes and parameters too.
    const cause = new Error('value sk-live-0042 refused');
    const failed = Object.assign(new Error('Failed query: insert\nparams: sk-live-0042,3', { cause }), { params: ['sk-live-0042', 3] });
    new SecretRedactor(['sk-live-0042']).scrubError(failed);
    expect([failed.message, cause.message, cause.stack, failed.params]).toEqual([
      `Failed query: insert\nparams: ${REDACTED},3`,
      `value ${REDACTED} refused`,
      expect.not.stringContaining('sk-live-0042'),
      [REDACTED, 3],
    ]);
  });
});

describe('channelRedactor', () => {
  it('scrubs a Slack URL whole, its path and its last segment (the token), which receivers quote', () => {
    const redactor = channelRedactor({
      id: 'c1',
      name: 'team',
      type: 'slack',
      url: 'https://hooks.slack.com/services/T0001/B0002/XyZsecret123',
    });
    expect(redactor.scrub('no_service for https://hooks.slack.com/services/T0001/B0002/XyZsecret123')).toBe(`no_service for ${REDACTED}`);
    expect(redactor.scrub('POST /services/T0001/B0002/XyZsecret123: 404')).toBe(`POST ${REDACTED}: 404`);
    expect(redactor.scrub("token 'XyZsecret123' revoked")).toBe(`token '${REDACTED}' revoked`);
  });

  it("scrubs a webhook's HMAC key and an SMTP password", () => {
    expect(
      channelRedactor({ id: 'c2', name: 'hook', type: 'webhook', url: 'https://example.com/in', hmacSecret: 'hmac-key-77' }).scrub(
        'bad key hmac-key-77',
      ),
    ).toBe(`bad key ${REDACTED}`);
    const email = channelRedactor({
      id: 'c3',
      name: 'mail',
      type: 'email',
      to: ['ops@example.com'],
      from: 'junction@example.com',
      smtp: { host: 'smtp.example.com', port: 587, secure: false, user: 'alerts', password: 'smtp-pw-99' },
    });
    expect(email.scrub('535 auth failed for alerts/smtp-pw-99')).toBe(`535 auth failed for alerts/${REDACTED}`);
  });
});
