import Link from 'next/link';
import { z } from 'zod';
import { ChannelForm } from '@/components/alerts/channel-form';
import { describeIncident } from '@/components/alerts/incident-summary';
import { ConfirmAction } from '@/components/common/confirm-action';
import { EmptyState } from '@/components/common/empty-state';
import { IgnoredParams } from '@/components/common/ignored-params';
import { PageHeader } from '@/components/common/page-header';
import { RelativeTime } from '@/components/common/relative-time';
import { exactTime } from '@/components/common/time-format';
import { Badge } from '@/components/ui/badge';
import { Button } from '@/components/ui/button';
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from '@/components/ui/card';
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from '@/components/ui/table';
import { cn } from '@/components/ui/utils';
import { requireUser } from '@/lib/auth/guards';
import { hasRole } from '@/lib/auth/roles';
import { alertHistory, listChannels, type ChannelView } from '@/lib/platform/alerts';
import { parseSearchParams, ZTimeIdCursor, ZUrlText } from '@/lib/platform/params';
import { getDb } from '@/lib/server/db';
import { sendTestAlertAction } from './actions';

export const metadata = { title: 'Alerts' };
export const dynamic = 'force-dynamic';

const STATUS_VARIANT = { delivered: 'success', partial: 'warning', undelivered: 'destructive', pending: 'outline' } as const;

const ZAlertsParams = z.object({ integration: ZUrlText(100).optional(), before: ZTimeIdCursor('alert').optional() });

/** A Slack webhook URL is a credential: only its host is shown, e.g. `hooks.slack.com/…`. */
function slackTarget(url: ChannelView['slackUrl']): string {
  if (!url?.set) return 'no webhook URL set';
  return url.host ? `${url.host}/…` : 'webhook URL set';
}

export default async function AlertsPage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const user = await requireUser();
  const { data, problems } = parseSearchParams(ZAlertsParams, await searchParams);
  const { integration } = data;
  const before = data.before ? { createdAt: data.before.at, id: data.before.id } : undefined;
  const db = getDb();
  const [channels, history] = await Promise.all([
    listChannels(db),
    alertHistory(db, { integration: integration || undefined, before, limit: 30 }),
  ]);
  const channelNames = new Map(channels.map((c) => [c.id, c.name]));
  const isAdmin = hasRole(user.role, 'admin');
  const renderedAt = Date.now();
  const canOperate = hasRole(user.role, 'operator');
  return (
    <div className="flex flex-col gap-6">
      <PageHeader
        title="Alerts"
        description="Where alerts go, and every alert with its delivery attempts. One alert per incident; a recovery message once it has stayed clear for the recovery hold (a system that flaps stays one incident)."
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
                    <TableCell data-label="Target" className="max-w-xs truncate text-xs">
                      {c.type === 'email' ? `${c.to?.join(', ')} via ${c.smtpUrl}` : c.type === 'slack' ? slackTarget(c.slackUrl) : c.url}
                      {c.hmacSecret?.set ? (
                        <Badge variant="outline" className="ml-2">
                          signed
                        </Badge>
                      ) : null}
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
                              url: c.type === 'slack' ? '' : (c.url ?? ''),
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
        <div className="flex items-center justify-between">
          <h2 className="text-lg font-semibold">Alert history{integration ? ` for ${integration}` : ''}</h2>
          {integration ? (
            <Link href="/alerts" className="text-sm hover:underline">
              All integrations
            </Link>
          ) : null}
        </div>
        {history.items.length === 0 ? (
          before ? (
            <EmptyState title="No older alerts">
              This is past the oldest alert{integration ? ` of ${integration}` : ''}.{' '}
              <Link href={integration ? `/alerts?${new URLSearchParams({ integration })}` : '/alerts'} className="underline">
                Go to the newest
              </Link>
              .
            </EmptyState>
          ) : integration ? (
            <EmptyState title={`No alerts for ${integration}`}>
              No alert names an integration called {integration}.{' '}
              <Link href="/alerts" className="underline">
                See the alerts of every integration
              </Link>
              .
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
                    <p className="break-words">{a.message.text}</p>
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
            href={`/alerts?${new URLSearchParams({ ...(integration ? { integration } : {}), before: `${history.next.createdAt.toISOString()}|${history.next.id}` }).toString()}`}
          >
            Older alerts →
          </Link>
        ) : null}
      </section>
    </div>
  );
}
