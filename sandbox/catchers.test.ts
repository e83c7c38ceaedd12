import nodemailer from 'nodemailer';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { readMail, type CaughtEmail, type CaughtMessage } from './catchers';
import { startStandIns, type StandIns } from './stand-ins';

let sandbox: StandIns;

beforeAll(async () => {
  sandbox = await startStandIns({ port: 0, smtpPort: 0, seed: 1, faults: {} });
});

beforeEach(() => sandbox.state.reset());

afterAll(async () => {
  await sandbox.close();
});

function postJson(path: string, body: unknown, headers: Record<string, string> = {}) {
  return fetch(`${sandbox.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
}

describe('webhook and Slack catchers', () => {
  it('records body and headers of each message and lists them as JSON', async () => {
    const res = await postJson('/catcher/webhook/ops', { event: 'breaker.opened' }, { 'webhook-signature': 'v1,abc' });
    expect(res.status).toBe(200);
    await postJson('/catcher/slack/team', { text: 'Breaker open', blocks: [] });
    const list = (await (await fetch(`${sandbox.url}/catcher/messages`)).json()) as { data: CaughtMessage[] };
    expect(list.data.map((m) => [m.kind, m.name, m.status])).toEqual([
      ['webhook', 'ops', 200],
      ['slack', 'team', 200],
    ]);
    expect(list.data[0].json).toEqual({ event: 'breaker.opened' });
    expect(list.data[0].headers['webhook-signature']).toBe('v1,abc');
    const onlyOps = (await (await fetch(`${sandbox.url}/catcher/messages?name=ops`)).json()) as { data: CaughtMessage[] };
    expect(onlyOps.data).toHaveLength(1);
  });

  it('fails the next N requests to a name with the given status, then accepts again', async () => {
    const told = await postJson('/_admin/catcher/ops/fail', { count: 2, status: 503 });
    expect(told.status).toBe(200);
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await postJson('/catcher/webhook/ops', { attempt: i })).status);
    expect(statuses).toEqual([503, 503, 200, 200]);
    expect(sandbox.state.catchers.messages.map((m) => m.status)).toEqual([503, 503, 200, 200]);
    // Other names are unaffected.
    await postJson('/_admin/catcher/other/fail', { count: 1 });
    expect((await postJson('/catcher/slack/team', { text: 'hi' })).status).toBe(200);
    expect((await postJson('/catcher/slack/other', { text: 'hi' })).status).toBe(500);
  });

  it('repeats the path it was called on in a failure told to echo', async () => {
    await postJson('/_admin/catcher/T01-B02-secret-path/fail', { count: 1, status: 403, echo: true });
    const res = await postJson('/catcher/slack/T01-B02-secret-path?token=abc', { text: 'hi' });
    expect(res.status).toBe(403);
    expect(await res.text()).toBe(
      "catcher 'T01-B02-secret-path' was told to fail (403); 0 more to go (request: POST /catcher/slack/T01-B02-secret-path?token=abc)",
    );
  });

  it('refuses an invalid failure order with 400 naming the field', async () => {
    const res = await postJson('/_admin/catcher/ops/fail', { count: 2, status: 200 });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { message: string }).message).toBe(
      "Invalid failure for catcher 'ops': status must be an HTTP error status from 400 to 599",
    );
    const negative = await postJson('/_admin/catcher/ops/fail', { count: -1 });
    expect(((await negative.json()) as { message: string }).message).toMatch(/count must be 0 or more/);
  });

  it('verifies webhook deliveries with a secret it was given, refusing old, tampered and unsigned ones', async () => {
    const secret = 'catcher-shared-secret-01';
    expect((await postJson('/_admin/catcher/signed/verify', { secret })).status).toBe(200);
    const webhook = new Webhook(`whsec_${Buffer.from(secret).toString('base64')}`);
    const body = JSON.stringify({ event: 'incident.opened', attempts: 3 });
    const send = (payload: string, id: string, at: Date, signature = webhook.sign(id, at, payload)) =>
      fetch(`${sandbox.url}/catcher/webhook/signed`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'webhook-id': id,
          'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
          'webhook-signature': signature,
        },
        body: payload,
      });
    expect((await send(body, 'alert-1', new Date())).status).toBe(200);
    const old = await send(body, 'alert-2', new Date(Date.now() - 10 * 60_000));
    expect([old.status, await old.text()]).toEqual([401, "catcher 'signed' refused the delivery: Message timestamp too old"]);
    const now = new Date();
    const tampered = await send(body.replace('3', '1'), 'alert-3', now, webhook.sign('alert-3', now, body));
    expect([tampered.status, await tampered.text()]).toEqual([401, "catcher 'signed' refused the delivery: No matching signature found"]);
    expect((await postJson('/catcher/webhook/signed', { event: 'incident.opened' })).status).toBe(401);
    expect(sandbox.state.catchers.messages.map((m) => [m.status, m.refused])).toEqual([
      [200, null],
      [401, 'Message timestamp too old'],
      [401, 'No matching signature found'],
      [401, 'Missing required headers'],
    ]);
    // Other names, and the same name told to stop, take anything.
    expect((await postJson('/catcher/webhook/other', { event: 'x' })).status).toBe(200);
    expect((await postJson('/_admin/catcher/signed/verify', { secret: null })).status).toBe(200);
    expect((await postJson('/catcher/webhook/signed', { event: 'x' })).status).toBe(200);
    const bad = await postJson('/_admin/catcher/signed/verify', { secret: '' });
    expect(((await bad.json()) as { message: string }).message).toBe(
      "Invalid verification for catcher 'signed': secret must not be empty (null stops verifying)",
    );
  });

  it('answers a Slack payload without text or blocks the way Slack does', async () => {
    const res = await postJson('/catcher/slack/team', { attachments: [] });
    expect(res.status).toBe(400);
    expect(await res.text()).toBe('no_text');
  });
});

describe('SMTP catcher', () => {
  it('receives a mail sent with nodemailer without a login, with its subject and text decoded', async () => {
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: sandbox.smtpPort, secure: false });
    await transport.sendMail({
      from: 'junction@example.com',
      to: ['ops@example.com', 'cfo@example.com'],
      subject: 'Alert: accounting-export failed — Größe',
      text: 'Run 42 failed after 3 attempts.\nSee the console.',
      html: '<p>Run 42 failed</p>',
    });
    transport.close();
    const list = (await (await fetch(`${sandbox.url}/catcher/emails`)).json()) as { data: CaughtEmail[] };
    expect(list.data).toHaveLength(1);
    expect(list.data[0]).toMatchObject({
      from: 'junction@example.com',
      to: ['ops@example.com', 'cfo@example.com'],
      subject: 'Alert: accounting-export failed — Größe',
      user: null,
    });
    expect(list.data[0].text).toBe('Run 42 failed after 3 attempts.\nSee the console.');
  });

  it('accepts any login', async () => {
    const transport = nodemailer.createTransport({
      host: '127.0.0.1',
      port: sandbox.smtpPort,
      secure: false,
      auth: { user: 'alerts', pass: 'whatever' },
    });
    await transport.sendMail({ from: 'a@example.com', to: 'b@example.com', subject: 'Hi', text: 'x' });
    transport.close();
    expect(sandbox.state.catchers.emails.map((e) => e.user)).toEqual(['alerts']);
  });

  it('reads a base64 text part out of a multipart message', () => {
    const raw = [
      'Subject: =?UTF-8?B?w5xiZXI=?= =?UTF-8?Q?_alles?=',
      'Content-Type: multipart/alternative; boundary="b1"',
      '',
      '--b1',
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: base64',
      '',
      Buffer.from('Hällo').toString('base64'),
      '--b1',
      'Content-Type: text/html',
      '',
      '<p>x</p>',
      '--b1--',
    ].join('\r\n');
    expect(readMail(raw)).toEqual({ subject: 'Über alles', text: 'Hällo' });
  });
});
