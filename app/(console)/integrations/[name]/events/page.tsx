import Link from 'next/link';
import { notFound } from 'next/navigation';
import { ConfirmAction } from '@/components/common/confirm-action';
import { EmptyState } from '@/components/common/empty-state';
import { IgnoredParams } from '@/components/common/ignored-params';
import { RelativeTime } from '@/components/common/relative-time';
import { DismissEventDialog } from '@/components/events/dismiss-event-dialog';
import { AddWebhookSecret } from '@/components/events/webhook-secrets';
import { Badge } from '@/components/ui/badge';
import { Card, CardContent, CardHeader, CardTitle } from '@/components/ui/card';
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from '@/components/ui/table';
import { requireUser } from '@/lib/auth/guards';
import { hasRole } from '@/lib/auth/roles';
import { loadEnv } from '@/lib/env';
import { EVENT_STATUSES, eventCounts, listEvents, listRejections, ZEventFilter } from '@/lib/platform/intake/events-read';
import { listWebhookSecrets } from '@/lib/platform/intake/secrets';
import { parseSearchParams } from '@/lib/platform/params';
import { getDb } from '@/lib/server/db';
import { segmentName } from '@/lib/server/params';
import { getRegistry } from '@/lib/server/registry';
import { replayEventsAction, revokeWebhookSecretAction } from './actions';

export const metadata = { title: 'Events' };
export const dynamic = 'force-dynamic';

const STATUS_VARIANT = {
  pending: 'warning',
  processed: 'success',
  stale: 'secondary',
  failed: 'destructive',
  dismissed: 'outline',
} as const;

export default async function EventsPage({
  params,
  searchParams,
}: {
  params: Promise<{ name: string }>;
  searchParams: Promise<Record<string, string | string[] | undefined>>;
}) {
  const user = await requireUser();
  const name = segmentName((await params).name);
  const def = getRegistry().get(name);
  if (!def?.events) notFound();
  const { data: filter, problems, kept } = parseSearchParams(ZEventFilter, await searchParams);
  const db = getDb();
  const [counts, page, rejections, secrets] = await Promise.all([
    eventCounts(db, name, { anyTrigger: !def.execute }),
    listEvents(db, name, filter, def.events),
    listRejections(db, name),
    hasRole(user.role, 'admin') ? listWebhookSecrets(db, name) : Promise.resolve(null),
  ]);
  const isOperator = hasRole(user.role, 'operator');
  const filtered = Boolean(filter.status || filter.type || filter.q);
  const endpoint = `${loadEnv().APP_URL.replace(/\/$/, '')}/hooks/${encodeURIComponent(name)}`;
  const base = `/integrations/${encodeURIComponent(name)}/events`;
  const { before: _before, ...keptWithoutCursor } = kept;
  const nextHref = page.nextBefore ? `${base}?${new URLSearchParams({ ...keptWithoutCursor, before: String(page.nextBefore) })}` : null;

  return (
    <div className="flex flex-col gap-4">
      <IgnoredParams problems={problems} />
      <div className="grid gap-3 sm:grid-cols-2 lg:grid-cols-5">
        {[
          ['Received', counts.received],
          ['Duplicates answered', counts.duplicates],
          ['Refused', counts.rejected],
          ['Pending', counts.byStatus.pending],
          ['Failed', counts.byStatus.failed],
        ].map(([label, value]) => (
          <Card key={label}>
            <CardHeader className="pb-1">
              <CardTitle className="text-sm font-medium text-muted-foreground">{label}</CardTitle>
            </CardHeader>
            <CardContent className="text-2xl font-semibold" data-testid={`events-${String(label).toLowerCase().replace(/\s+/g, '-')}`}>
              {value}
              {label === 'Failed' && counts.byStatus.dismissed > 0 ? (
                <div className="text-xs font-normal text-muted-foreground" data-testid="events-dismissed">
                  {counts.byStatus.dismissed} dismissed
                </div>
              ) : null}
            </CardContent>
          </Card>
        ))}
      </div>

      {counts.waitingWithoutRun > 0 ? (
        <div
          role="status"
          data-testid="events-waiting-without-run"
          className="flex flex-wrap items-center gap-3 rounded-md border border-warning bg-warning/10 p-3 text-sm"
        >
          <p className="flex-1">
            {counts.waitingWithoutRun} pending event{counts.waitingWithoutRun === 1 ? ' waits' : 's wait'} with no run queued to apply{' '}
            {counts.waitingWithoutRun === 1 ? 'it' : 'them'}: their event run was cancelled. Nothing applies{' '}
            {counts.waitingWithoutRun === 1 ? 'it' : 'them'} until you replay {counts.waitingWithoutRun === 1 ? 'it' : 'them'} (or the next
            delivery queues a run).
          </p>
          {isOperator ? (
            <ConfirmAction<{ replayed: number }>
              label="Replay waiting events"
              title="Replay the pending events no run will apply?"
              description="They are applied, in order, by an event run (retries and breaker as for every run; at most 1 000 at once). An event already processed, or a version already applied, is recorded “already applied” and not applied twice. The replay is recorded in the audit trail."
              confirmLabel="Replay"
              action={replayEventsAction.bind(null, { integration: name, filter: { status: 'pending' } })}
              successMessage="Replay queued."
            />
          ) : null}
        </div>
      ) : null}

      <Card>
        <CardHeader>
          <CardTitle className="text-base">Endpoint</CardTitle>
        </CardHeader>
        <CardContent className="flex flex-col gap-3 text-sm">
          <p>
            Senders POST to <code className="break-all rounded bg-muted px-1">{endpoint}</code> with{' '}
            {def.events.scheme === 'standard-webhooks'
              ? 'Standard Webhooks signatures (webhook-id, webhook-timestamp, webhook-signature)'
              : 'an HMAC-SHA256 signature of "timestamp.body"'}
            , within {def.events.toleranceSeconds ?? 300} s of their timestamp.
          </p>
          {secrets ? (
            <>
              {secrets.length === 0 ? (
                <p className="text-destructive">No signing secret is active: every delivery is refused until you add one.</p>
              ) : (
                <ul className="flex flex-col gap-2">
                  {secrets.map((s) => (
                    <li key={s.id} className="flex flex-wrap items-center gap-2" data-testid={`webhook-secret-${s.label}`}>
                      <Badge variant="success">active</Badge>
                      <span className="font-medium">{s.label}</span>
                      <span className="text-xs text-muted-foreground">
                        added <RelativeTime value={s.createdAt} /> by {s.createdBy}
                      </span>
                      <ConfirmAction
                        label="Revoke"
                        title={`Revoke signing secret "${s.label}"?`}
                        description="Deliveries signed with it are refused (401) within 5 seconds. Move the sender to another active secret first."
                        confirmLabel="Revoke"
                        destructive
                        action={revokeWebhookSecretAction.bind(null, { integration: name, id: s.id })}
                        successMessage={`Signing secret "${s.label}" revoked.`}
                      />
                    </li>
                  ))}
                </ul>
              )}
              <div>
                <AddWebhookSecret integration={name} activeSecrets={secrets.length} />
              </div>
            </>
          ) : (
            <p className="text-muted-foreground">Signing secrets are managed by admins; their values are never shown.</p>
          )}
        </CardContent>
      </Card>

      {/* Keyed by the filter: Clear, Back and Forward re-render without a page load (see Runs). */}
      <form
        // Back to a filtered page loads it again: without this Chromium restores the controls'
        // last values there, so the form claimed a filter the list (from the address) did not have.
        autoComplete="off"
        key={`filters?${new URLSearchParams(kept).toString()}`}
        method="get"
        className="flex flex-wrap items-end gap-2"
        aria-label="Filter events"
      >
        <label className="grid gap-1 text-sm">
          Status
          <select name="status" defaultValue={filter.status ?? ''} className="h-9 rounded-md border bg-background px-2">
            <option value="">any</option>
            {EVENT_STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label className="grid gap-1 text-sm">
          Type
          <input
            name="type"
            defaultValue={filter.type ?? ''}
            className="h-9 rounded-md border bg-background px-2"
            placeholder="payment.succeeded"
          />
        </label>
        <label className="grid gap-1 text-sm">
          Event id or key
          <input name="q" defaultValue={filter.q ?? ''} className="h-9 rounded-md border bg-background px-2" />
        </label>
        <button type="submit" className="h-9 rounded-md border px-3 text-sm">
          Filter
        </button>
        {filtered ? (
          <Link href={base} className="h-9 px-2 text-sm underline">
            Clear
          </Link>
        ) : null}
        {isOperator && filtered && filter.status !== 'dismissed' && page.rows.length > 0 ? (
          <ConfirmAction<{ replayed: number }>
            label="Replay all matching"
            title="Replay every matching event?"
            description="Each matching event that is not dismissed, nor pending with a run queued to apply it, goes back to pending and is applied again, in order, by an event run (retries and breaker as for every run; at most 1 000 at once). An event already processed, or a version already applied, is recorded “already applied” and not applied twice. The replay is recorded in the audit trail."
            confirmLabel="Replay"
            action={replayEventsAction.bind(null, { integration: name, filter: { status: filter.status, type: filter.type, q: filter.q } })}
            successMessage="Replay queued."
          />
        ) : null}
      </form>

      {page.rows.length === 0 ? (
        <EmptyState title={filtered ? 'No event matches these filters' : 'No event received yet'}>
          {filtered ? 'Clear the filters to see every event.' : `Events appear here once a sender POSTs signed deliveries to ${endpoint}.`}
        </EmptyState>
      ) : (
        <Table stacked>
          <TableHeader>
            <TableRow>
              <TableHead>Received</TableHead>
              <TableHead>Event</TableHead>
              <TableHead>Order</TableHead>
              <TableHead>State</TableHead>
              <TableHead>Payload</TableHead>
              <TableHead className="text-right">Action</TableHead>
            </TableRow>
          </TableHeader>
          <TableBody>
            {page.rows.map((e) => (
              <TableRow key={e.id} data-testid={`event-${e.eventId}`}>
                <TableCell data-label="Received" className="text-xs">
                  <RelativeTime value={e.receivedAt} />
                  {e.duplicates > 0 ? (
                    <div className="text-muted-foreground">
                      +{e.duplicates} duplicate{e.duplicates === 1 ? '' : 's'}
                    </div>
                  ) : null}
                </TableCell>
                <TableCell data-label="Event">
                  <div className="font-mono text-xs">{e.eventId}</div>
                  <div className="text-sm">{e.eventType}</div>
                </TableCell>
                <TableCell data-label="Order" className="text-xs">
                  {e.orderingKey ? (
                    <>
                      <span className="font-mono">{e.orderingKey}</span>
                      {e.version !== null ? <> v{e.version}</> : null}
                    </>
                  ) : (
                    '—'
                  )}
                </TableCell>
                <TableCell data-label="State" className="text-xs">
                  <Badge variant={STATUS_VARIANT[e.status]}>{e.status}</Badge>
                  {e.replays > 0 ? <span className="ml-1 text-muted-foreground">replayed {e.replays}×</span> : null}
                  {e.outcome ? <div className="mt-1 max-w-xs text-muted-foreground">{e.outcome}</div> : null}
                  {e.status === 'dismissed' ? (
                    <div className="mt-1 max-w-xs" data-testid={`event-${e.eventId}-dismissal`}>
                      Dismissed by {e.dismissedBy ?? 'unknown'}
                      {e.dismissedAt ? (
                        <>
                          {' '}
                          <RelativeTime value={e.dismissedAt} />
                        </>
                      ) : null}
                      : <span className="whitespace-pre-wrap break-words">{e.dismissReason}</span>
                      <div className="text-muted-foreground">Not applied; never replayed.</div>
                    </div>
                  ) : null}
                  {e.runId ? (
                    <div>
                      <Link className="underline" href={`/runs/${e.runId}`}>
                        run
                      </Link>
                      {e.processedAt ? (
                        <>
                          {' '}
                          · done <RelativeTime value={e.processedAt} />
                        </>
                      ) : null}
                    </div>
                  ) : null}
                </TableCell>
                <TableCell data-label="Payload">
                  <details>
                    <summary className="cursor-pointer text-xs underline">show</summary>
                    <pre className="mt-1 max-h-64 max-w-md overflow-auto whitespace-pre-wrap break-all rounded bg-muted p-2 text-xs">
                      {JSON.stringify(e.payload, null, 2)}
                    </pre>
                  </details>
                </TableCell>
                <TableCell data-label="Action" className="space-x-2 text-right">
                  {isOperator && e.status !== 'dismissed' && (e.status !== 'pending' || counts.waitingWithoutRun > 0) ? (
                    <ConfirmAction<{ replayed: number }>
                      label="Replay"
                      title={`Replay event ${e.eventId}?`}
                      description="It goes back to pending and is applied again by an event run. An event already processed, or a version already applied, is recorded “already applied” and not applied twice; an older version is recorded stale. Recorded in the audit trail."
                      confirmLabel="Replay"
                      action={replayEventsAction.bind(null, { integration: name, eventIds: [e.eventId] })}
                      successMessage="Replay queued."
                    />
                  ) : null}
                  {isOperator && e.status === 'failed' ? <DismissEventDialog integration={name} eventId={e.eventId} /> : null}
                </TableCell>
              </TableRow>
            ))}
          </TableBody>
        </Table>
      )}
      {nextHref ? (
        <Link href={nextHref} className="self-start text-sm underline">
          Older events
        </Link>
      ) : null}

      <section className="flex flex-col gap-2">
        <h2 className="text-base font-semibold">Refused deliveries</h2>
        {counts.rejectedByReason.length ? (
          <p className="text-sm text-muted-foreground">
            {counts.rejectedByReason.map((r) => `${r.count} × ${r.status} ${r.reason}`).join(' · ')}
          </p>
        ) : null}
        {rejections.length === 0 ? (
          <EmptyState title="No delivery refused">
            Deliveries with a bad signature, a stale timestamp, a wrong format or a known event id with another payload are listed here.
          </EmptyState>
        ) : (
          <Table stacked>
            <TableHeader>
              <TableRow>
                <TableHead>When</TableHead>
                <TableHead>Answer</TableHead>
                <TableHead>Reason</TableHead>
                <TableHead>Event id</TableHead>
                <TableHead>From</TableHead>
              </TableRow>
            </TableHeader>
            <TableBody>
              {rejections.map((r) => (
                <TableRow key={r.id}>
                  <TableCell data-label="When" className="text-xs">
                    <RelativeTime value={r.receivedAt} />
                  </TableCell>
                  <TableCell data-label="Answer">{r.status}</TableCell>
                  <TableCell data-label="Reason">{r.reason}</TableCell>
                  <TableCell data-label="Event id" className="font-mono text-xs">
                    {r.eventId ?? '—'}
                  </TableCell>
                  <TableCell data-label="From" className="text-xs">
                    {r.remote ?? '—'}
                    {r.contentLength !== null ? ` · ${r.contentLength} bytes` : ''}
                  </TableCell>
                </TableRow>
              ))}
            </TableBody>
          </Table>
        )}
      </section>
    </div>
  );
}
