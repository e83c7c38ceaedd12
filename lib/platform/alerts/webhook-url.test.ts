import { describe, expect, it } from 'vitest';
import { channelRedactor } from './transports';
import { maskedWebhookUrl, maskUrlsInText, maskUrlsInValue, webhookUrlSecrets } from './webhook-url';

describe('maskedWebhookUrl', () => {
  it('keeps the host and the plain words of the path, and masks a token and all that follows it', () => {
    const cases: [string, string][] = [
      ['https://hooks.example.com/services/T000/B000/XXXXXXXX', 'https://hooks.example.com/services/…'],
      ['https://hooks.slack.com/services/T024BE7LD/B01ABCDEF/xoxbAbCdEfGh1234567890', 'https://hooks.slack.com/services/…'],
      ['https://discord.com/api/webhooks/112233445566778899/aBc-DeF_ghI', 'https://discord.com/api/webhooks/…'],
      ['https://chat.example.com/hooks/xk4j9qhw3bfmzp1r7tn5yd8ucs', 'https://chat.example.com/hooks/…'],
      // The first segment is no exception.
      ['https://hooks.zapier.com/3f9a2c71-5b8e-4d0a-9c6f-1e2d3c4b5a69/catch', 'https://hooks.zapier.com/…'],
      ['https://ntfy.example.com/Jx8pQ2mZ', 'https://ntfy.example.com/…'],
      // Lowercase letters only, but random: four consonants in a row.
      ['https://hooks.example.com/in/qkzjxwvhprtsbmnl', 'https://hooks.example.com/in/…'],
      ['https://hooks.example.com/in/ABCDEFGH', 'https://hooks.example.com/in/…'],
      ['https://hooks.example.com/in/a1b2c3d4', 'https://hooks.example.com/in/…'],
      // What is plainly no secret stays, so the list still says where alerts go.
      ['https://ops.example.com/api/v1/alerts/junction-events', 'https://ops.example.com/api/v1/alerts/junction-events'],
      ['http://127.0.0.1:9/ops', 'http://127.0.0.1:9/ops'],
      ['https://hooks.example.com/', 'https://hooks.example.com/'],
      ['https://hooks.example.com/incoming_webhooks/alerts.json', 'https://hooks.example.com/incoming_webhooks/alerts.json'],
    ];
    for (const [url, shown] of cases) expect(maskedWebhookUrl(url), url).toBe(shown);
  });

  it('masks every query value, a name that is no plain name, a fragment and a user name or password', () => {
    const cases: [string, string][] = [
      ['https://ops.example.com/alerts?token=abc', 'https://ops.example.com/alerts?token=***'],
      [
        'https://chat.example.com/v1/spaces/AAAAbcd123/messages?key=AIzaSyDdI0hCZtE6vySjMm&token=x%3Dy',
        'https://chat.example.com/v1/spaces/…?key=***&token=***',
      ],
      ['https://fn.example.net/api/alert?code=Zm9vYmFy%3D%3D&channel=ops', 'https://fn.example.net/api/alert?code=***&channel=***'],
      ['https://h.example.com/a?sig=s3cr3t&empty=&flag', 'https://h.example.com/a?sig=***&empty=&***'],
      ['https://h.example.com/a?k9Xq2=1', 'https://h.example.com/a?***=***'],
      ['https://h.example.com/a#access_token=abc', 'https://h.example.com/a#***'],
      ['https://ops:0ldPassw0rd@hooks.example.com/in', 'https://***@hooks.example.com/in'],
      ['https://t0ken@hooks.example.com/in', 'https://***@hooks.example.com/in'],
    ];
    for (const [url, shown] of cases) expect(maskedWebhookUrl(url), url).toBe(shown);
  });

  it('shows nothing of what is not an http(s) URL', () => {
    expect(maskedWebhookUrl('not a url with s3cr3t-t0ken')).toBe('***');
    expect(maskedWebhookUrl('ftp://files.example.com/s3cr3t-t0ken')).toBe('***');
  });

  it('never shows a masked part, in any of the example URLs', () => {
    const token = 'Tk9fQ2xlYXJseV9zZWNyZXQ';
    for (const url of [
      `https://hooks.example.com/services/T000/B000/${token}`,
      `https://hooks.example.com/${token}`,
      `https://hooks.example.com/in?token=${token}`,
      `https://hooks.example.com/in?key=${encodeURIComponent(token)}`,
      `https://hooks.example.com/in?${token}`,
      `https://hooks.example.com/in#${token}`,
      `https://user:${token}@hooks.example.com/in`,
    ]) {
      expect(maskedWebhookUrl(url), url).not.toContain(token);
      expect(
        webhookUrlSecrets(url).some((s) => s.includes(token)),
        url,
      ).toBe(true);
    }
  });
});

describe('a webhook delivery error', () => {
  it('is scrubbed of the URL parts the console masks, when the receiver quotes the path', () => {
    const url = 'https://hooks.example.com/services/T0001/B0002/Xq9ZpL2mN4vR8sT1?sig=Zm9vYmFyYmF6cXV4';
    const redactor = channelRedactor({ id: 'c', name: 'hook', type: 'webhook', url, hmacSecret: null });
    const said = redactor.scrub(
      'receiver answered HTTP 404 Not Found: no hook at /services/T0001/B0002/Xq9ZpL2mN4vR8sT1?sig=Zm9vYmFyYmF6cXV4',
    );
    expect(said).not.toContain('Xq9ZpL2mN4vR8sT1');
    expect(said).not.toContain('Zm9vYmFyYmF6cXV4');
    expect(said).toContain('receiver answered HTTP 404 Not Found: no hook at /services/');
  });
});

describe('URLs in a text or an audit value', () => {
  it('are masked wherever they stand, the rest of the text kept', () => {
    const token = 'Xq9ZpL2mN4vR8sT1';
    const text = `alert channel 'Ops': url is "https://hooks.example.com/services/T1/B2/${token}" but the audit trail's last value is "https://ops.example.com/alerts?token=${token}" (saved by ada)`;
    expect(maskUrlsInText(text)).toBe(
      `alert channel 'Ops': url is "https://hooks.example.com/services/…" but the audit trail's last value is "https://ops.example.com/alerts?token=***" (saved by ada)`,
    );
    expect(maskUrlsInValue({ url: `https://h.example.com/x?k=${token}`, to: ['a@example.com'], n: 3 })).toEqual({
      url: 'https://h.example.com/x?k=***',
      to: ['a@example.com'],
      n: 3,
    });
    expect(JSON.stringify(maskUrlsInValue([`see https://h.example.com/${token}`]))).not.toContain(token);
    expect(maskUrlsInValue(null)).toBeNull();
  });

  it('mask a URL with an upper-case scheme, or with a comma, apostrophe or bracket before its token, whole', () => {
    for (const [url, shown] of [
      ['HTTP://localhost:4400/catcher/webhook/UpperTok123?token=UPSECRET9', 'http://localhost:4400/catcher/webhook/…?token=***'],
      ['http://localhost:4400/catcher/webhook/ops,LEAKEDSECRET999/zz', 'http://localhost:4400/catcher/webhook/…'],
      ["http://localhost:4400/catcher/webhook/ops'QUOTESECRET8", 'http://localhost:4400/catcher/webhook/…'],
      ['https://h.example.com/a(b)/SECRETPART9', 'https://h.example.com/…'],
    ]) {
      expect(maskUrlsInValue(url), url).toBe(shown);
      expect(maskUrlsInText(`url is "${url}" but`), url).toBe(`url is "${shown}" but`);
      expect(maskUrlsInText(`see ${url}, then`), url).not.toMatch(/SECRET|Tok123/);
    }
  });
});
