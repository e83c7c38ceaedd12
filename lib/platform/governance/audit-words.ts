import { parseDuration } from '../duration';
import { describeMappingChange } from '../mapping/diff';
import { clip, paceWords, plural } from '../words';

/**
 * Audit rows in words for the console's History and Audit pages: "Retried run 1a2b3c4d as run
 * 5e6f7a8b", "Test alert sent to Ops webhook", instead of "action action: dry run" beside raw JSON
 * like {"runId":...}. A sentence is a list of parts so the page can render the links (runs, alerts,
 * bulk operations) and code (expressions) without this module knowing React.
 */

export type AuditPart = { text: string } | { text: string; href: string } | { code: string };

export interface AuditEntryLike {
  kind: string;
  fieldName: string;
  integration?: string | null;
  oldValue: unknown;
  newValue: unknown;
}

/** Every action the code records has a label here and a case in describeAction (audit-words.test.ts checks). */
export const ACTION_LABELS: Record<string, string> = {
  run_now: 'Run now',
  dry_run: 'Dry-run',
  retry: 'Retry',
  bulk_retry: 'Bulk retry',
  bulk_cancel: 'Bulk retry cancelled',
  bulk_pace: 'Bulk retry pace changed',
  cancel: 'Run cancelled',
  pause: 'Paused',
  resume: 'Resumed',
  breaker_reset: 'Breaker reset',
  breaker_open: 'Breaker opened by hand',
  alert_test: 'Test alert',
  audit_check: 'Full audit check requested',
  secrets_reencrypt: 'Secrets re-encrypted',
  slack_urls_sealed: 'Slack webhook URLs sealed',
  revert: 'Configuration reverted',
  drift_kept: 'Values written outside the console kept',
  register: 'Registered',
  api_token_create: 'API token created',
  api_token_revoke: 'API token revoked',
  'events.replay': 'Events replayed',
  'events.dismiss': 'Failed event dismissed',
  'webhook_secret.added': 'Signing secret added',
  'webhook_secret.revoked': 'Signing secret revoked',
};

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function shortId(id: string): string {
  return UUID.test(id) ? id.slice(0, 8) : id;
}

function runLink(id: unknown): AuditPart {
  return typeof id === 'string' && UUID.test(id) ? { text: `run ${shortId(id)}`, href: `/runs/${id}` } : { text: 'a run' };
}

function text(value: string): AuditPart {
  return { text: value };
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : typeof value === 'number' || typeof value === 'boolean' ? String(value) : undefined;
}

/** A bulk retry's pace as the audit stores it ({ runs: 20, per: '1h' }), in words: "at most 20 per hour". */
function paceText(value: unknown): string | undefined {
  const p = value as { runs?: unknown; per?: unknown } | undefined;
  const runs = p ? str(p.runs) : undefined;
  const per = p ? str(p.per) : undefined;
  if (!runs || !per) return undefined;
  try {
    return `at most ${paceWords(Number(runs), parseDuration(per))}`;
  } catch {
    return `at most ${runs} per ${per}`;
  }
}

function reason(details: Record<string, unknown>): AuditPart[] {
  const r = str(details.reason);
  return r ? [text(`, reason: “${clip(r, 200)}”`)] : [];
}

function exact(iso: unknown): string | undefined {
  if (typeof iso !== 'string') return undefined;
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? undefined : `${d.toISOString().replace('T', ' ').slice(0, 16)} UTC`;
}

/** The "What" of an audit row: a short label, e.g. "Dry-run", "settings.batchSize", "secret clientId". */
export function describeAuditField(kind: string, field: string): string {
  if (kind === 'action') return ACTION_LABELS[field] ?? field.replace(/_/g, ' ').replace(/^./, (c) => c.toUpperCase());
  if (field.startsWith('secret.')) return `secret ${field.slice(7)}`;
  if (kind === 'user' && field.startsWith('user.')) {
    const rest = field.slice(5);
    const dot = rest.lastIndexOf('.');
    return dot > 0 ? `${rest.slice(0, dot)}: ${rest.slice(dot + 1)}` : rest;
  }
  if (field.startsWith('channel.')) {
    const rest = field.slice(8);
    const dot = rest.lastIndexOf('.');
    return dot > 0 ? `alert channel ${rest.slice(0, dot)}: ${rest.slice(dot + 1)}` : `alert channel ${rest}`;
  }
  return field;
}

function quoted(value: unknown): string {
  const v = str(value);
  return v ? `“${v}”` : '(no label)';
}

/** The first few of a list, then "and N more" out of `total`: "a, b, c and 7 more". */
function firstFew<T>(items: readonly T[], total: number, each: (item: T) => AuditPart[], shown = 5): AuditPart[] {
  const parts: AuditPart[] = [];
  items.slice(0, shown).forEach((item, i) => parts.push(...(i === 0 ? [] : [text(', ')]), ...each(item)));
  const more = total - Math.min(items.length, shown);
  if (more > 0) parts.push(text(` and ${more} more`));
  return parts;
}

/** "Replayed 3 events (evt_1, evt_2, evt_3) in 1 run: run 1a2b3c4d", or "… matching status failed …". */
function replayWords(d: Record<string, unknown>): AuditPart[] {
  const count = typeof d.count === 'number' ? d.count : 0;
  const eventIds = Array.isArray(d.eventIds) ? d.eventIds.filter((e): e is string => typeof e === 'string') : [];
  const runIds = Array.isArray(d.runIds) ? d.runIds.filter((r): r is string => typeof r === 'string') : [];
  const parts: AuditPart[] = [text(`Replayed ${plural(count, 'event')}`)];
  if (eventIds.length) parts.push(text(' ('), ...firstFew(eventIds, count, (e) => [{ code: e }]), text(')'));
  else if (d.filter && typeof d.filter === 'object') {
    const f = d.filter as Record<string, unknown>;
    const terms = [
      str(f.status) && `status ${str(f.status)}`,
      str(f.type) && `type ${str(f.type)}`,
      str(f.q) && `id or ordering key containing “${str(f.q)}”`,
    ].filter(Boolean);
    parts.push(text(terms.length ? ` matching ${terms.join(', ')}` : ' (every event of the integration)'));
  }
  if (runIds.length) {
    parts.push(text(` in ${plural(runIds.length, 'run')}`));
    const pace = paceText(d.pace);
    if (runIds.length > 1 && pace) parts.push(text(`, ${pace}`));
    parts.push(text(': '), ...firstFew(runIds, runIds.length, (r) => [runLink(r)]));
  }
  parts.push(...reason(d));
  return parts;
}

/** Sentences for an operator action's details, with links to the runs it started or touched. */
export function describeAction(action: string, value: unknown): AuditPart[] {
  const d = value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
  switch (action) {
    case 'run_now':
      return [text('Started '), runLink(d.runId), ...(d.trigger === 'api' ? [text(' over the API')] : []), ...reason(d)];
    case 'dry_run':
      return [text('Started a dry-run, '), runLink(d.runId), text(' (nothing is sent or committed)'), ...reason(d)];
    case 'retry':
      return [text('Retried '), runLink(d.retryOf), text(' as '), runLink(d.runId), ...reason(d)];
    case 'bulk_retry': {
      const runs = Array.isArray(d.runs) ? (d.runs as { runId?: unknown; retryOf?: unknown }[]) : [];
      const pace = paceText(d.pace);
      const parts: AuditPart[] = [text(`Queued ${plural(runs.length, 'retry', 'retries')}`)];
      if (pace) parts.push(text(`, ${pace}`));
      runs.slice(0, 5).forEach((r, i) => parts.push(text(i === 0 ? ': ' : ', '), runLink(r.retryOf), text(' → '), runLink(r.runId)));
      if (runs.length > 5) parts.push(text(` and ${runs.length - 5} more`));
      parts.push(...reason(d));
      return parts;
    }
    case 'bulk_pace': {
      const at = paceText;
      const id = str(d.bulkOperationId);
      const parts: AuditPart[] = [
        text('Changed the pace of '),
        id && UUID.test(id) ? { text: `bulk retry ${shortId(id)}`, href: `/runs?bulk=${id}` } : text('a bulk retry'),
      ];
      if (at(d.previous)) parts.push(text(` from ${at(d.previous)}`));
      if (at(d.pace)) parts.push(text(` to ${at(d.pace)}`));
      if (typeof d.held === 'number') parts.push(text(` for the ${plural(d.held, 'retry', 'retries')} still held`));
      return parts;
    }
    case 'bulk_cancel': {
      const n = typeof d.cancelled === 'number' ? d.cancelled : 0;
      return [text(`Cancelled ${plural(n, 'queued retry', 'queued retries')} of a bulk retry`)];
    }
    case 'cancel':
      return [
        text('Cancelled '),
        runLink(d.runId),
        ...(str(d.previousStatus) ? [text(` while it was ${str(d.previousStatus)}`)] : []),
        ...reason(d),
      ];
    case 'pause':
      return [text('Paused the schedule: no scheduled run starts until it is resumed')];
    case 'resume': {
      const missed = typeof d.missed === 'number' ? d.missed : 0;
      const parts: AuditPart[] = [text(`Resumed the schedule; ${plural(missed, 'scheduled run')} missed while paused`)];
      if (d.runId) parts.push(text(', caught up with '), runLink(d.runId));
      else if (missed > 0) parts.push(text(d.resumePolicy === 'run_once' ? ', none started' : ', skipped'));
      return parts;
    }
    case 'breaker_reset':
      return [
        text(`Reset the breaker ${str(d.key) ?? ''}`.trimEnd()),
        ...(str(d.previousState) ? [text(` (it was ${str(d.previousState)})`)] : []),
      ];
    case 'breaker_open': {
      const until = exact(d.until);
      return [text(`Opened the breaker ${str(d.key) ?? ''}`.trimEnd()), text(until ? ` until ${until}` : ' until someone resets it')];
    }
    case 'audit_check':
      return [text('Asked for the full audit check against the signed anchors now, instead of at its next scheduled time')];
    case 'alert_test':
      return [text('Sent a test alert to channel '), { text: str(d.channel) ?? 'a channel', href: '/alerts' }];
    case 'secrets_reencrypt':
      return [
        text(
          `Re-encrypted ${plural(Number(d.integrationSecrets ?? 0), 'integration secret')} and ${plural(Number(d.channelSecrets ?? 0), 'channel secret')}${str(d.keyId) ? ` under key ${str(d.keyId)}` : ''}`,
        ),
      ];
    case 'slack_urls_sealed': {
      const channels = Array.isArray(d.channels) ? d.channels.map(String) : [];
      return [text(`Moved the webhook URL of ${plural(channels.length, 'Slack channel')} into sealed storage: ${channels.join(', ')}`)];
    }
    case 'api_token_create': {
      const expires = exact(d.expiresAt);
      return [
        text(`Created API token ${str(d.name) ?? ''} with the ${str(d.role) ?? 'viewer'} role${expires ? `, expiring ${expires}` : ''}`),
      ];
    }
    case 'api_token_revoke':
      return [text(`Revoked API token ${str(d.name) ?? ''}`.trimEnd()), ...reason(d)];
    case 'revert': {
      const fields = Array.isArray(d.fields) ? d.fields.filter((f): f is string => typeof f === 'string') : [];
      const to = exact(d.to);
      return [text(`Reverted ${fields.length ? fields.join(', ') : 'the configuration'}${to ? ` to the values of ${to}` : ''}`)];
    }
    case 'drift_kept': {
      const fields = Array.isArray(d.fields) ? d.fields.filter((f): f is string => typeof f === 'string') : [];
      return [
        text(
          `Kept the value${fields.length === 1 ? '' : 's'} of ${fields.length ? fields.join(', ') : 'the configuration'} written outside the console as the audited configuration`,
        ),
      ];
    }
    case 'events.replay':
      return replayWords(d);
    case 'events.dismiss':
      return [
        text(`Dismissed failed event ${str(d.eventId) ?? ''}${d.eventType ? ` (${str(d.eventType)})` : ''}: it will not be applied`),
        ...reason(d),
      ];
    case 'webhook_secret.added':
      return [
        text(`Added signing secret ${quoted(d.label)}`),
        ...(d.generated === true ? [text(' (generated by Junction; its value was shown once)')] : []),
      ];
    case 'register':
      return [
        text(
          d.source === 'recorded'
            ? 'Recorded the configuration in force as its baseline (registered before registrations were audited): the configuration check compares fields never saved since with it'
            : 'Registered with the defaults its code gives: the configuration check compares fields never saved since with them',
        ),
      ];
    case 'webhook_secret.revoked':
      return [text(`Revoked signing secret ${quoted(d.label)}: deliveries signed with it are refused`)];
    default: {
      // An action this module does not know yet: its details as "key value" pairs, runs linked
      // ("run 1a2b3c4d" for runId, "retryOf run 1a2b3c4d" for retryOfRunId).
      const parts: AuditPart[] = [];
      for (const [key, v] of Object.entries(d)) {
        if (parts.length) parts.push(text('; '));
        if (/runid$/i.test(key) && typeof v === 'string') {
          const name = key.replace(/RunId$|Id$/, '');
          parts.push(...(/^run$/i.test(name) ? [] : [text(`${name} `)]), runLink(v));
        } else parts.push(text(`${key} ${str(v) ?? JSON.stringify(v)}`));
      }
      return parts;
    }
  }
}

/**
 * A configuration change in sentences when there is a better way to read it than old → new:
 * mappings (a structural diff per field) and secrets (set or replaced, never a value). Null means
 * "show old → new".
 */
export function describeConfigChange(entry: AuditEntryLike, defaults?: { mapping?: unknown }): string[] | null {
  if (entry.fieldName === 'mapping') {
    const before = entry.oldValue ?? defaults?.mapping ?? null;
    const sentences = describeMappingChange(before, entry.newValue);
    if (entry.oldValue == null && defaults?.mapping && entry.newValue != null)
      return sentences.length ? ['compared with the built-in default:', ...sentences] : ['same as the built-in default'];
    return sentences.length ? sentences : ['no change in the fields (only their formatting)'];
  }
  // Secrets (integration and channel ones) are audited as a marker, never a value.
  const next = entry.newValue;
  if (next && typeof next === 'object' && !Array.isArray(next) && Object.keys(next).length === 1) {
    const marker = next as { replaced?: unknown; set?: unknown; removed?: unknown };
    if (marker.replaced === true) return ['secret value replaced (values are never shown)'];
    if (marker.set === true) return ['secret value set (values are never shown)'];
    if (marker.removed === true) return ['secret value removed'];
  }
  return null;
}
