import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ACTION_LABELS, describeAction, describeAuditField, describeConfigChange, type AuditPart } from './audit-words';

const RUN = '0b7e4c52-1111-4222-8333-444455556666';
const RETRY = '9f1d2e3c-aaaa-4bbb-8ccc-ddddeeeeffff';
const sentence = (parts: AuditPart[]) => parts.map((p) => ('code' in p ? p.code : p.text)).join('');
const links = (parts: AuditPart[]) => parts.filter((p): p is { text: string; href: string } => 'href' in p).map((p) => [p.text, p.href]);

describe('audit rows in words', () => {
  it('labels actions without repeating the word action or showing snake_case', () => {
    expect(describeAuditField('action', 'dry_run')).toBe('Dry-run');
    expect(describeAuditField('action', 'breaker_reset')).toBe('Breaker reset');
    expect(describeAuditField('action', 'something_new')).toBe('Something new');
    expect(describeAuditField('config', 'secret.clientSecret')).toBe('secret clientSecret');
    expect(describeAuditField('user', 'user.vera@junction.local.role')).toBe('vera@junction.local: role');
    expect(describeAuditField('config', 'channel.Ops webhook.url')).toBe('alert channel Ops webhook: url');
  });

  it('writes a retry as a sentence with both runs linked by short id, never raw JSON', () => {
    const parts = describeAction('retry', { runId: RETRY, retryOf: RUN, reason: 'CRM is back' });
    expect(sentence(parts)).toBe('Retried run 0b7e4c52 as run 9f1d2e3c, reason: “CRM is back”');
    expect(links(parts)).toEqual([
      ['run 0b7e4c52', `/runs/${RUN}`],
      ['run 9f1d2e3c', `/runs/${RETRY}`],
    ]);
    expect(sentence(parts)).not.toContain('{');
  });

  it('writes run now, dry-run, cancel, pause, resume, breaker and test-alert actions as sentences', () => {
    expect(sentence(describeAction('dry_run', { runId: RUN, trigger: 'manual' }))).toBe(
      'Started a dry-run, run 0b7e4c52 (nothing is sent or committed)',
    );
    expect(sentence(describeAction('run_now', { runId: RUN, trigger: 'api' }))).toBe('Started run 0b7e4c52 over the API');
    expect(sentence(describeAction('cancel', { runId: RUN, previousStatus: 'queued' }))).toBe('Cancelled run 0b7e4c52 while it was queued');
    expect(sentence(describeAction('cancel', { runId: RUN, previousStatus: 'running', reason: 'ERP freeze' }))).toBe(
      'Cancelled run 0b7e4c52 while it was running, reason: “ERP freeze”',
    );
    expect(sentence(describeAction('pause', null))).toMatch(/^Paused the schedule/);
    expect(sentence(describeAction('resume', { resumePolicy: 'run_once', missed: 2, runId: RUN }))).toBe(
      'Resumed the schedule; 2 scheduled runs missed while paused, caught up with run 0b7e4c52',
    );
    expect(sentence(describeAction('breaker_reset', { key: 'crm-sync', previousState: 'open' }))).toBe(
      'Reset the breaker crm-sync (it was open)',
    );
    expect(sentence(describeAction('breaker_open', { key: 'crm-sync', until: null }))).toBe(
      'Opened the breaker crm-sync until someone resets it',
    );
    expect(links(describeAction('alert_test', { channel: 'Ops webhook', channelId: 'x', alertId: 'y' }))).toEqual([
      ['Ops webhook', '/alerts'],
    ]);
  });

  it('writes API token creation and revocation as sentences, never a value or hash', () => {
    expect(describeAuditField('action', 'api_token_create')).toBe('API token created');
    expect(
      sentence(
        describeAction('api_token_create', {
          name: 'nightly-ci',
          role: 'operator',
          prefix: 'jct_AbCdEf',
          expiresAt: '2027-01-01T00:00:00.000Z',
        }),
      ),
    ).toBe('Created API token nightly-ci with the operator role, expiring 2027-01-01 00:00 UTC');
    expect(sentence(describeAction('api_token_revoke', { name: 'nightly-ci', role: 'operator' }))).toBe('Revoked API token nightly-ci');
  });

  it('summarises a bulk retry: count, pace and the first runs linked', () => {
    const runs = Array.from({ length: 7 }, () => ({ runId: RETRY, retryOf: RUN }));
    const text = sentence(describeAction('bulk_retry', { bulkOperationId: 'b', runs, pace: { runs: 5, per: 'minute' } }));
    expect(text).toMatch(/^Queued 7 retries, at most 5 per minute: run 0b7e4c52 → run 9f1d2e3c/);
    expect(text).toMatch(/and 2 more$/);
  });

  it('says how the pace of a bulk retry changed, from what to what, with a link to its retries', () => {
    const parts = describeAction('bulk_pace', {
      bulkOperationId: RUN,
      previous: { runs: 5, per: '1m' },
      pace: { runs: 20, per: '1h' },
      held: 12,
    });
    // In words, as the bulk card says it: not "per 1h", nor "per 3600 s".
    expect(sentence(parts)).toBe(
      'Changed the pace of bulk retry 0b7e4c52 from at most 5 per minute to at most 20 per hour for the 12 retries still held',
    );
    expect(parts).toContainEqual({ text: 'bulk retry 0b7e4c52', href: `/runs?bulk=${RUN}` });
  });

  it('says a secret was set or replaced, never a value, and diffs a mapping per field', () => {
    expect(
      describeConfigChange({ kind: 'config', fieldName: 'secret.clientSecret', oldValue: { set: true }, newValue: { replaced: true } }),
    ).toEqual(['secret value replaced (values are never shown)']);
    expect(describeConfigChange({ kind: 'config', fieldName: 'schedule', oldValue: '0 1 * * *', newValue: '0 2 * * *' })).toBeNull();
    const f = { target: 'description', expression: 'a', type: 'string', required: false };
    expect(
      describeConfigChange({
        kind: 'config',
        fieldName: 'mapping',
        oldValue: { fields: [f] },
        newValue: { fields: [{ ...f, expression: 'b' }] },
      }),
    ).toEqual(['field `description`: expression `a` → `b`']);
    expect(
      describeConfigChange(
        { kind: 'config', fieldName: 'mapping', oldValue: null, newValue: { fields: [{ ...f, expression: 'b' }] } },
        { mapping: { fields: [f] } },
      ),
    ).toEqual(['compared with the built-in default:', 'field `description`: expression `a` → `b`']);
  });

  it('words an events replay: how many, which events, the runs linked, the pace', () => {
    const runIds = [RUN, RETRY];
    const parts = describeAction('events.replay', {
      count: 7,
      eventIds: ['evt_1', 'evt_2', 'evt_3', 'evt_4', 'evt_5', 'evt_6', 'evt_7'],
      runId: RUN,
      runIds,
      bulkOperationId: 'b',
      pace: { per: '1m', runs: 5 },
    });
    expect(sentence(parts)).toBe(
      'Replayed 7 events (evt_1, evt_2, evt_3, evt_4, evt_5 and 2 more) in 2 runs, at most 5 per minute: run 0b7e4c52, run 9f1d2e3c',
    );
    expect(links(parts)).toEqual([
      ['run 0b7e4c52', `/runs/${RUN}`],
      ['run 9f1d2e3c', `/runs/${RETRY}`],
    ]);
    expect(sentence(describeAction('events.replay', { count: 1, filter: { status: 'failed' }, runId: RUN, runIds: [RUN], pace: {} }))).toBe(
      'Replayed 1 event matching status failed in 1 run: run 0b7e4c52',
    );
    expect(describeAuditField('action', 'events.replay')).toBe('Events replayed');
  });

  it('words a dismissed failed event with its reason', () => {
    expect(
      sentence(
        describeAction('events.dismiss', { eventId: 'evt_9', eventType: 'payment.refunded', reason: 'deleted upstream', failedWith: 'x' }),
      ),
    ).toBe('Dismissed failed event evt_9 (payment.refunded): it will not be applied, reason: “deleted upstream”');
    expect(describeAuditField('action', 'events.dismiss')).toBe('Failed event dismissed');
  });

  it('words signing secrets added and revoked by label, never a value', () => {
    expect(sentence(describeAction('webhook_secret.added', { secretId: 'x', label: 'Stripe 2026', generated: true }))).toBe(
      'Added signing secret “Stripe 2026” (generated by Junction; its value was shown once)',
    );
    expect(sentence(describeAction('webhook_secret.added', { secretId: 'x', label: 'Stripe 2026', generated: false }))).toBe(
      'Added signing secret “Stripe 2026”',
    );
    expect(sentence(describeAction('webhook_secret.revoked', { secretId: 'x', label: 'Stripe 2025' }))).toBe(
      'Revoked signing secret “Stripe 2025”: deliveries signed with it are refused',
    );
    expect(describeAuditField('action', 'webhook_secret.added')).toBe('Signing secret added');
    expect(describeAuditField('action', 'webhook_secret.revoked')).toBe('Signing secret revoked');
  });

  it('links runs of an unknown action without saying "run" twice', () => {
    expect(sentence(describeAction('something_new', { runId: RUN, retryOfRunId: RETRY, count: 2 }))).toBe(
      'run 0b7e4c52; retryOf run 9f1d2e3c; count 2',
    );
  });

  it('has words for every action the code records in the audit trail', () => {
    const root = path.resolve(import.meta.dirname, '../../..');
    const files = ['lib', 'app', 'worker', 'db', 'scripts'].flatMap((dir) =>
      readdirSync(path.join(root, dir), { recursive: true, encoding: 'utf8' })
        .filter((f) => /\.tsx?$/.test(f) && !/\.test\.tsx?$/.test(f))
        .map((f) => path.join(root, dir, f)),
    );
    const literals = (expression: string) => [...expression.matchAll(/'([^']+)'/g)].map((m) => m[1]);
    const recorded = new Set<string>();
    for (const file of files) {
      const source = readFileSync(file, 'utf8');
      // recordAction(db, { ..., action: 'retry' | cond ? 'dry_run' : 'run_now', ... })
      for (const call of source.matchAll(/recordAction\([^]{0,400}?\baction:\s*([^\n]+)/g))
        literals(call[1]).forEach((a) => recorded.add(a));
      // appendAudit(db, { entries: [{ kind: 'action', ..., fieldName: 'revert', ... }] })
      for (const entry of source.matchAll(/kind:\s*'action'[^]{0,200}?fieldName:\s*([^\n,]+)/g))
        literals(entry[1]).forEach((a) => recorded.add(a));
    }
    // The scan finds actions written both ways (else this test would pass on nothing).
    for (const known of ['run_now', 'dry_run', 'bulk_retry', 'events.replay', 'revert', 'api_token_create'])
      expect(recorded).toContain(known);
    for (const action of recorded) {
      expect(ACTION_LABELS, `label for '${action}'`).toHaveProperty([action]);
      // describeAction's default lists an unknown action's details key by key.
      expect(sentence(describeAction(action, { probeDetail: 1 })), `sentence for '${action}'`).not.toContain('probeDetail');
    }
  });
});
