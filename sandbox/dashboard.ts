import type { Booking } from './accounting-api';
import type { CaughtEmail, CaughtMessage } from './catchers';
import type { FaultsSnapshot } from './faults';
import { escapeHtml } from './http';
import type { RequestCountsSnapshot } from './request-counts';

/**
 * `GET /`: one page for a person running the demo: what each stand-in received (recent bookings,
 * alert messages, e-mails), request counts and the faults in force. Refreshes itself every 5 s.
 */

export interface DashboardData {
  url: string;
  smtpPort: number;
  seed: number;
  clientIds: string[];
  tokenTtlSeconds: number;
  tokensIssued: number;
  contactCount: number;
  crmApiKeyRequired: boolean;
  faults: FaultsSnapshot;
  requests: RequestCountsSnapshot;
  bookings: {
    total: number;
    duplicates: { reference: string; count: number }[];
    replays: number;
    reversals: { total: number; bookingsReversed: number };
    replacements: { total: number; bookingsReplaced: number };
    openTwice: { record: string; bookings: string[] }[];
    recent: Booking[];
  };
  messages: CaughtMessage[];
  emails: CaughtEmail[];
  pendingFailures: Record<string, { remaining: number; status: number }>;
}

const e = (value: unknown) => escapeHtml(value === null || value === undefined ? '' : String(value));

function table(headers: string[], rows: string[][], empty: string): string {
  if (rows.length === 0) return `<p class="empty">${e(empty)}</p>`;
  return `<table><thead><tr>${headers.map((h) => `<th>${e(h)}</th>`).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

function clip(text: string, max = 160): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function describeFaults(data: DashboardData): string[][] {
  return Object.entries(data.faults.systems).map(([system, s]) => {
    const c = s.config;
    const parts: string[] = [];
    if (c) {
      if (c.down) parts.push('down');
      if (s.outageUntil) parts.push(`outage for ${s.outageRemainingSeconds} s more`);
      if (c.errorRate > 0) parts.push(`${Math.round(c.errorRate * 100)} % errors`);
      if (c.timeoutRate > 0) parts.push(`${Math.round(c.timeoutRate * 100)} % timeouts`);
      if (c.latencyMs > 0) parts.push(`+${c.latencyMs} ms`);
      if (c.rateLimit?.everyN) parts.push(`429 every ${c.rateLimit.everyN}th request`);
      if (c.rateLimit?.burst) parts.push(`429 beyond ${c.rateLimit.burst} per ${c.rateLimit.retryAfterSeconds} s`);
      if (c.echoCredentials) parts.push(`${c.echoCredentials.status} echoing the credentials received`);
      if (c.clockAheadSeconds) parts.push(`changes stamped ${c.clockAheadSeconds} s ahead`);
      if (c.clockBehindSeconds) parts.push(`clock ${c.clockBehindSeconds} s behind`);
      if (c.unparseableUpdatedAt) parts.push(`updated_at ${c.unparseableUpdatedAt.as} for ${c.unparseableUpdatedAt.ids.join(', ')}`);
    }
    const injected = Object.entries(s.injected)
      .filter(([, n]) => n > 0)
      .map(([kind, n]) => `${kind} ${n}`)
      .join(', ');
    return [
      e(system),
      parts.length ? e(parts.join(', ')) : '<span class="ok">none</span>',
      e(s.requestsSinceConfig),
      injected ? e(injected) : '0',
    ];
  });
}

export function renderDashboard(data: DashboardData): string {
  const requestRows = Object.entries(data.requests).map(([system, c]) => [
    e(system),
    e(c.total),
    e(
      Object.entries(c.byStatus)
        .map(([status, n]) => `${status}: ${n}`)
        .join(', ') || '—',
    ),
    e(c.aborted),
  ]);
  const bookingRows = data.bookings.recent.map((b) => [
    e(b.id),
    e(b.reference),
    e(b.entry.date),
    e(`${b.entry.grossAmount} ${b.entry.currency}`),
    e(b.entry.customerName),
    e(b.bookedAt),
    b.reversedBy ? e(b.reversedBy) : '—',
  ]);
  const messageRows = [...data.messages]
    .slice(-25)
    .reverse()
    .map((m) => [
      e(m.receivedAt),
      e(`${m.kind}/${m.name}`),
      e(m.refused ? `${m.status} (${m.refused})` : m.status),
      `<code>${e(clip(m.body))}</code>`,
    ]);
  const emailRows = [...data.emails]
    .slice(-25)
    .reverse()
    .map((m) => [e(m.receivedAt), e(m.from), e(m.to.join(', ')), e(m.subject), `<code>${e(clip(m.text))}</code>`]);
  const failures = Object.entries(data.pendingFailures);
  const duplicates = data.bookings.duplicates;

  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta http-equiv="refresh" content="5"><title>Junction sandbox</title>
<style>
body{font-family:system-ui,sans-serif;margin:0 auto;max-width:1100px;padding:24px;color:#18181b;background:#fafafa}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px}
table{border-collapse:collapse;width:100%;background:#fff;font-size:13px}th,td{border:1px solid #e4e4e7;padding:5px 8px;text-align:left;vertical-align:top}
th{background:#f4f4f5}code{font-size:12px;word-break:break-all}.empty{color:#71717a}.ok{color:#15803d}.warn{color:#b91c1c;font-weight:600}
.muted{color:#52525b;font-size:13px}
</style></head><body>
<h1>Junction sandbox</h1>
<p class="muted">Stand-ins for the external systems at <code>${e(data.url)}</code>; SMTP catcher on port ${e(data.smtpPort)}; seed ${e(data.seed)}.
OAuth2 clients: ${e(data.clientIds.join(', '))} (tokens last ${e(data.tokenTtlSeconds)} s, ${e(data.tokensIssued)} issued). CRM: ${e(data.contactCount)} contacts${data.crmApiKeyRequired ? ', X-Api-Key required' : ', no API key needed'}.</p>

<h2>Faults in force</h2>
${table(['system', 'faults', 'requests since set', 'injected since start'], describeFaults(data), '')}
<p class="muted">PUT /_admin/faults/&lt;system&gt; sets, DELETE clears, POST /_admin/reset clears everything received.</p>

<h2>Requests</h2>
${table(['system', 'total', 'answers', 'client gave up'], requestRows, '')}

<h2>Accounting: recent bookings (${e(data.bookings.total)} in all, ${e(data.bookings.replays)} idempotent replays, ${e(data.bookings.reversals.total)} reversals undoing ${e(data.bookings.reversals.bookingsReversed)}, ${e(data.bookings.replacements.bookingsReplaced)} replaced by a newer version)</h2>
${
  duplicates.length
    ? `<p class="warn">Booked more than once: ${e(
        duplicates
          .slice(0, 20)
          .map((d) => `${d.reference} ×${d.count}`)
          .join(', '),
      )}</p>`
    : ''
}
${
  data.bookings.openTwice.length
    ? `<p class="warn">More than one booking open (counted twice in the ledger): ${e(
        data.bookings.openTwice
          .slice(0, 20)
          .map((o) => `${o.record}: ${o.bookings.join(', ')}`)
          .join('; '),
      )}</p>`
    : ''
}
${table(['id', 'reference', 'date', 'gross', 'customer', 'booked at', 'undone by'], bookingRows, 'Nothing booked yet.')}

<h2>Alert catchers: webhook and Slack messages</h2>
${failures.length ? `<p class="warn">Failing next: ${e(failures.map(([name, f]) => `${name} ×${f.remaining} (${f.status})`).join(', '))}</p>` : ''}
${table(['received', 'catcher', 'answered', 'body'], messageRows, 'No messages yet.')}

<h2>E-mails</h2>
${table(['received', 'from', 'to', 'subject', 'text'], emailRows, 'No e-mails yet.')}
</body></html>`;
}
