import { describe, expect, it } from 'vitest';
import { describeAction, describeAuditField, describeConfigChange, type AuditPart } from './audit-words';

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
});
