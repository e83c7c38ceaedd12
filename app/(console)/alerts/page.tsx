import Link from 'next/link';
import { z } from 'zod';
import { ChannelForm } from '@/components/alerts/channel-form';
import { describeIncident } from '@/components/alerts/incident-summary';
import { ConfirmAction } from '@/components/common/confirm-action';
import { EmptyState } from '@/components/common/empty-state';
import { IgnoredParams } from '@/components/common/ignored-params';
import { IntegrationSelect } from '@/components/common/integration-select';
import { LiveRefresh } from '@/components/common/live-refresh';
import { PageHeader } from '@/components/common/page-header';
import { RelativeTime } from '@/components/common/relative-time';
import { exactTime } from '@/components/common/time-format';
import { Badge } from '@/components/ui/badge';
import { Button } from '@/components/ui/button';
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from '@/components/ui/card';
import { Select } from '@/components/ui/select';
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from '@/components/ui/table';
import { cn } from '@/components/ui/utils';
import { requireUser } from '@/lib/auth/guards';
import { hasRole } from '@/lib/auth/roles';
import { alertHistory, listChannels, webhookUrlsForEditing, type AlertStatus, type ChannelView } from '@/lib/platform/alerts';
import { parseSearchParams, ZTimeIdCursor, ZUrlText } from '@/lib/platform/params';
import { integrationFilterNames } from '@/lib/platform/read-models/integration-names';
import { listInventory } from '@/lib/platform/read-models/inventory';
import { alertsParts, fingerprint } from '@/lib/platform/read-models/live-fingerprint';
import { getDb } from '@/lib/server/db';
import { sendTestAlertAction } from './actions';

/**
 * An alert's text with its lines as sent (Slack, e-mail) and its links into this console as links.
 * Only those: a run's error can quote an address from an external system, which stays text.
 */
function AlertText({ text }: { text: string }) {
  let home: string | null = null;
  try {
    home = new URL(process.env.APP_URL ?? 'http://localhost:3000').origin;
  } catch {
    home = null;
  }
  const ours = (url: string) => URL.canParse(url) && new URL(url).origin === home;
  return (
    <p className="break-words whitespace-pre-line">
      {text.split(/(https?:\/\/[^\s<>"]+)/).map((part, i) =>
        i % 2 === 1 && ours(part) ? (
          <a key={i} href={part} className="underline underline-offset-2">
            {part}
          </a>
        ) : (
          part
        ),
      )}
    </p>
  );
}

export const metadata = { title: 'Alerts' };
export const dynamic = 'force-dynamic';

const STATUS_VARIANT = { delivered: 'success', partial: 'warning', undelivered: 'destructive', pending: 'outline' } as const;

/** The delivery filter: "failed" is every alert some channel did not get (the Overview's Undelivered alerts). */
const DELIVERY: Record<string, { label: string; statuses: readonly AlertStatus[] }> = {
  failed: { label: 'Not delivered everywhere', statuses: ['undelivered', 'partial'] },
  pending: { label: 'Still being delivered', statuses: ['pending'] },
  delivered: { label: 'Delivered', statuses: ['delivered'] },
};
const DELIVERY_KEYS = Object.keys(DELIVERY) as [string, ...string[]];
const EVENTS = { opened: 'Incident opened', updated: 'Incident updated', recovered: 'Recovered', test: 'Test alerts' } as const;
const EVENT_KEYS = Object.keys(EVENTS) as [keyof typeof EVENTS, ...(keyof typeof EVENTS)[]];

const ZAlertsParams = z.object({
  integration: ZUrlText(100).optional(),
  delivery: z.enum(DELIVERY_KEYS, { error: `must be one of ${DELIVERY_KEYS.join(', ')}` }).optional(),
  event: z.enum(EVENT_KEYS, { error: `must be one of ${EVENT_KEYS.join(', ')}` }).optional(),
  before: ZTimeIdCursor('alert').optional(),
});

/** A Slack webhook URL is a credential: only its host is shown, e.g. `hooks.slack.com/…`. */
function slackTarget(url: ChannelView['slackUrl']): string {
  if (!url?.set) return 'no webhook URL set';
  return url.host ? `${url.host}/…` : 'webhook URL set';
}

/** Where a channel delivers, as the list shows it (a Slack URL is a secret: its host only; a webhook's masked). */
function channelTarget(c: ChannelView): string {
  if (c.type === 'email') return `${c.to?.join(', ')} via ${c.smtpUrl}`;
  return c.type === 'slack' ? slackTarget(c.slackUrl) : (c.url ?? '');
}

export default async function AlertsPage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const user = await requireUser();
  const db = getDb();
  // A name neither an integration nor an alert has (a typo) is said and left out, not read as "No alert matches".
  const integrationNames = await integrationFilterNames(db, { list: 'alerts' });
  const { data, problems } = parseSearchParams(ZAlertsParams, await searchParams, {
    known: { integration: { what: 'integration', names: integrationNames } },
  });
  const { integration, delivery, event } = data;
  const before = data.before ? { createdAt: data.before.at, id: data.before.id } : undefined;
  // What the page's live check compares (the newest alerts with their deliveries, the channels),
  // read before what is shown: a change in between makes one refresh too many, never one missed.
  const watched = await alertsParts(db, { integration: integration || undefined });
  const isAdmin = hasRole(user.role, 'admin');
  const [channels, history, integrations, editUrls] = await Promise.all([
    listChannels(db),
    alertHistory(db, {
      integration: integration || undefined,
      status: delivery ? DELIVERY[delivery].statuses : undefined,
      event,
      before,
      limit: 30,
    }),
    listInventory(db),
    // A webhook URL whole (it may carry a token) for the admin's edit form only: read for no one
    // else, so it is in no other role's page or RSC payload; the list shows it masked to everyone.
    isAdmin ? webhookUrlsForEditing(db) : new Map<string, string>(),
  ]);
  // The filters as they stand, for the form's key, the pager and "Clear".
  const filters: Record<string, string> = {
    ...(integration ? { integration } : {}),
    ...(delivery ? { delivery } : {}),
    ...(event ? { event } : {}),
  };
  const filtered = Object.keys(filters).length > 0;
  const filterWords = [integration, delivery ? DELIVERY[delivery].label.toLowerCase() : null, event ? EVENTS[event].toLowerCase() : null]
    .filter(Boolean)
    .join(', ');
  const channelNames = new Map(channels.map((c) => [c.id, c.name]));
  const renderedAt = Date.now();
  const canOperate = hasRole(user.role, 'operator');
  return (
    <div className="flex flex-col gap-6">
      <PageHeader
        title="Alerts"
        description="Where alerts go, and every alert with its delivery attempts. One alert per incident; a recovery message once it has stayed clear for the recovery hold (a system that flaps stays one incident)."
        actions={<LiveRefresh view="alerts" integration={integration || undefined} rendered={fingerprint(watched)} />}
      />
      <IgnoredParams problems={problems} />
      <Card>
        <CardHeader className="flex-row flex-wrap items-center justify-between gap-2">
          <div>
            <CardTitle>Channels</CardTitle>
            <CardDescription>Generic webhook (JSON, optional HMAC signature), Slack-compatible webhook, e-mail over SMTP.</CardDescription>
          </div>
          {isAdmin ? <ChannelForm trigger={<Button size="sm">Add channel</Button>} /> : null}
        </CardHeader>
        <CardContent>
          {channels.length === 0 ? (
            <EmptyState title="No alert channels">
              {isAdmin ? 'Add one so failures reach someone.' : 'An admin needs to add one so failures reach someone.'}
            </EmptyState>
          ) : (
            <Table stacked>
              <TableHeader>
                <TableRow>
                  <TableHead>Name</TableHead>
                  <TableHead>Type</TableHead>
                  <TableHead>Target</TableHead>
                  <TableHead>Status</TableHead>
                  <TableHead>Changed</TableHead>
                  <TableHead className="text-right">Actions</TableHead>
                </TableRow>
              </TableHeader>
              <TableBody>
                {channels.map((c) => (
                  <TableRow key={c.id}>
                    <TableCell data-label="Name" className="font-medium">
                      {c.name}
                    </TableCell>
                    <TableCell data-label="Type">{c.type}</TableCell>
                    <TableCell data-label="Target" className="text-xs">
                      {/* The address is cut, never the badge beside it (nor the cell's label on a phone). */}
                      <div className="flex max-w-xs min-w-0 items-center gap-2">
                        <span className="min-w-0 truncate" title={channelTarget(c)}>
                          {channelTarget(c)}
                        </span>
                        {c.hmacSecret?.set ? (
                          <Badge variant="outline" className="shrink-0">
                            signed
                          </Badge>
                        ) : null}
                      </div>
                    </TableCell>
                    <TableCell data-label="Status">
                      {c.enabled ? <Badge variant="success">enabled</Badge> : <Badge variant="secondary">disabled</Badge>}
                    </TableCell>
                    <TableCell data-label="Changed" className="text-xs">
                      <RelativeTime value={c.updatedAt} /> by {c.updatedBy}
                    </TableCell>
                    <TableCell data-label="Actions" className="text-right">
                      <div className="flex justify-end gap-2">
                        {canOperate ? (
                          <ConfirmAction<{ alertId: string }>
                            label="Send test alert"
                            title={`Send a test alert to ${c.name}?`}
                            description="A test message goes out through the same delivery path as real alerts, with retries; it is recorded below."
                            confirmLabel="Send test"
                            action={sendTestAlertAction.bind(null, { channelId: c.id })}
                            successMessage="Test alert queued: it appears below with its delivery attempts"
                          />
                        ) : null}
                        {isAdmin ? (
                          <ChannelForm
                            trigger={
                              <Button size="sm" variant="ghost">
                                Edit
                              </Button>
                            }
                            initial={{
                              id: c.id,
                              version: c.version,
                              name: c.name,
                              type: c.type,
                              // A Slack URL is a secret: the form starts empty and empty keeps it.
                              url: c.type === 'slack' ? '' : (editUrls.get(c.id) ?? ''),
                              urlSet: Boolean(c.slackUrl?.set),
                              to: c.to?.join(', ') ?? '',
                              from: c.from ?? '',
                              smtpUrl: c.smtpUrl ?? '',
                              enabled: c.enabled,
                              hmacSet: Boolean(c.hmacSecret?.set),
                            }}
                          />
                        ) : null}
                      </div>
                    </TableCell>
                  </TableRow>
                ))}
              </TableBody>
            </Table>
          )}
        </CardContent>
      </Card>

      <section className="flex flex-col gap-3">
        <h2 className="text-lg font-semibold">Alert history{integration ? ` for ${integration}` : ''}</h2>
        {/* Keyed by the filters: a select keeps its option when the page re-renders (see Runs). */}
        <form
          // Back to a filtered page loads it again: without this Chromium restores the controls'
          // last values there, so the form claimed a filter the list (from the address) did not have.
          autoComplete="off"
          key={`filters?${new URLSearchParams(filters).toString()}`}
          className="flex flex-wrap items-end gap-2"
          aria-label="Filter alerts"
        >
          <IntegrationSelect integrations={integrations} defaultValue={integration ?? ''} />
          <Select name="delivery" defaultValue={delivery ?? ''} aria-label="Delivery">
            <option value="">Any delivery</option>
            {DELIVERY_KEYS.map((k) => (
              <option key={k} value={k}>
                {DELIVERY[k].label}
              </option>
            ))}
          </Select>
          <Select name="event" defaultValue={event ?? ''} aria-label="Kind">
            <option value="">Any kind</option>
            {EVENT_KEYS.map((k) => (
              <option key={k} value={k}>
                {EVENTS[k]}
              </option>
            ))}
          </Select>
          <Button type="submit" variant="outline">
            Filter
          </Button>
          {filtered ? (
            <Button asChild variant="ghost">
              <Link href="/alerts">Clear</Link>
            </Button>
          ) : null}
        </form>
        {history.items.length === 0 ? (
          before ? (
            <EmptyState title="No older alerts">
              This is past the oldest alert{filtered ? ` matching ${filterWords}` : ''}.{' '}
              <Link href={filtered ? `/alerts?${new URLSearchParams(filters)}` : '/alerts'} className="underline">
                Go to the newest
              </Link>
              .
            </EmptyState>
          ) : filtered ? (
            <EmptyState title="No alert matches these filters">
              No alert matches {filterWords}.{' '}
              <Link href="/alerts" className="underline">
                Clear the filters
              </Link>{' '}
              to see every alert.
            </EmptyState>
          ) : (
            <EmptyState title="No alerts yet">
              Alerts appear here when a run exhausts its retries, a breaker opens or credentials fail.
            </EmptyState>
          )
        ) : (
          <ul className="flex flex-col gap-3">
            {history.items.map((a) => (
              <li key={a.id}>
                <Card className={cn(a.status === 'undelivered' && 'border-destructive')} data-testid="alert-item">
                  <CardHeader className="flex-row flex-wrap items-center gap-2">
                    <CardTitle className="text-sm">{a.title}</CardTitle>
                    <Badge variant={STATUS_VARIANT[a.status as keyof typeof STATUS_VARIANT] ?? 'outline'}>{a.status}</Badge>
                    <Badge variant="outline">{a.event}</Badge>
                    {a.integration ? (
                      <Link href={`/alerts?integration=${encodeURIComponent(a.integration)}`} className="text-xs hover:underline">
                        {a.integration}
                      </Link>
                    ) : null}
                    <span className="ml-auto text-xs text-muted-foreground">
                      <RelativeTime value={a.createdAt} />
                    </span>
                  </CardHeader>
                  <CardContent className="flex flex-col gap-2 text-sm">
                    <AlertText text={a.message.text} />
                    {a.incident ? (
                      <p className="text-xs text-muted-foreground">
                        <span
                          title={`opened ${exactTime(new Date(a.incident.openedAt))}${a.incident.closedAt ? `, closed ${exactTime(new Date(a.incident.closedAt))}` : ''}`}
                        >
                          {describeIncident(a.incident, renderedAt)}
                        </span>
                        {a.incident.runId ? (
                          <>
                            {' '}
                            ·{' '}
                            <Link href={`/runs/${a.incident.runId}`} className="hover:underline">
                              first failed run
                            </Link>
                          </>
                        ) : null}
                      </p>
                    ) : null}
                    {a.channelIds.length === 0 ? (
                      <p className="text-xs text-destructive">
                        Sent to no channel: no enabled channel was selected for it. Enable a channel above
                        {a.integration ? ` or check ${a.integration}'s alert routing` : ''}.
                      </p>
                    ) : (
                      <ul className="text-xs" aria-label="Delivery attempts">
                        {a.deliveries.map((d) => (
                          <li key={d.id} className={d.status === 'failed' ? 'text-destructive' : ''}>
                            {d.channelName} · attempt {d.attempt} · {d.status}
                            {d.responseCode ? ` (${d.responseCode})` : ''}
                            {d.error ? ` — ${d.error}` : ''}
                            {d.status === 'failed' ? (d.final ? ' · gave up' : ' · will retry') : ''} · <RelativeTime value={d.at} />
                          </li>
                        ))}
                        {a.channelIds
                          .filter((id) => !a.deliveries.some((d) => d.channelId === id))
                          .map((id) => (
                            <li key={id} className="text-muted-foreground">
                              {channelNames.get(id) ?? 'a channel'} · waiting for its first attempt
                            </li>
                          ))}
                      </ul>
                    )}
                  </CardContent>
                </Card>
              </li>
            ))}
          </ul>
        )}
        {history.next ? (
          <Link
            className="self-end text-sm hover:underline"
            href={`/alerts?${new URLSearchParams({ ...filters, before: `${history.next.createdAt.toISOString()}|${history.next.id}` }).toString()}`}
          >
            Older alerts →
          </Link>
        ) : null}
      </section>
    </div>
  );
}
