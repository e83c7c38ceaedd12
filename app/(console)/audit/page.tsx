import Link from 'next/link';
import { z } from 'zod';
import { AuditChange, describeAuditField } from '@/components/audit/audit-value';
import { ConfirmAction } from '@/components/common/confirm-action';
import { EmptyState } from '@/components/common/empty-state';
import { IgnoredParams } from '@/components/common/ignored-params';
import { IntegrationSelect } from '@/components/common/integration-select';
import { LiveRefresh } from '@/components/common/live-refresh';
import { PageHeader } from '@/components/common/page-header';
import { RelativeTime } from '@/components/common/relative-time';
import { Badge } from '@/components/ui/badge';
import { Button } from '@/components/ui/button';
import { Input } from '@/components/ui/input';
import { Select } from '@/components/ui/select';
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from '@/components/ui/table';
import { requireUser } from '@/lib/auth/guards';
import { hasRole } from '@/lib/auth/roles';
import { maskUrlsInText, maskUrlsInValue } from '@/lib/platform/alerts';
import { auditChainStatus, changesSince, latestChangeBefore, type AuditChainStatus } from '@/lib/platform/governance/audit';
import { parseSearchParams, ZAuditCursor, ZUrlText } from '@/lib/platform/params';
import { integrationFilterNames } from '@/lib/platform/read-models/integration-names';
import { listInventory } from '@/lib/platform/read-models/inventory';
import { auditParts, fingerprint } from '@/lib/platform/read-models/live-fingerprint';
import { getDb } from '@/lib/server/db';
import { getRegistry } from '@/lib/server/registry';
import { requestAuditCheckAction } from './actions';

export const metadata = { title: 'Audit' };
export const dynamic = 'force-dynamic';

const KIND_LABELS: Record<string, string> = { config: 'configuration', action: 'operator action', user: 'user' };

const WINDOWS = { '1h': 3_600_000, '24h': 86_400_000, '7d': 7 * 86_400_000, '30d': 30 * 86_400_000, '365d': 365 * 86_400_000 } as const;
type AuditWindow = keyof typeof WINDOWS;
const WINDOW_LABELS: Record<AuditWindow, string> = {
  '1h': 'Last hour',
  '24h': 'Last 24 hours',
  '7d': 'Last 7 days',
  '30d': 'Last 30 days',
  '365d': 'Last year',
};

const ZAuditParams = z.object({
  window: z.enum(Object.keys(WINDOWS) as [keyof typeof WINDOWS, ...(keyof typeof WINDOWS)[]]).default('24h'),
  before: ZAuditCursor.optional(),
  integration: ZUrlText(100).optional(),
  actor: ZUrlText(200).optional(),
  kind: z.enum(['config', 'action', 'user']).optional(),
});

/** A channel's URL field in the trail (`channel.<name>.url`). */
const CHANNEL_URL = /^channel\..+\.url$/;

export default async function AuditPage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const user = await requireUser();
  const db = getDb();
  // A name no integration and no audit row has (a typo) is said and left out, not read as an empty trail.
  const integrationNames = await integrationFilterNames(db, { list: 'audit' });
  const { data: sp, problems } = parseSearchParams(ZAuditParams, await searchParams, {
    known: { integration: { what: 'integration', names: integrationNames } },
  });
  const { window, before } = sp;
  const filters = {
    integration: sp.integration || undefined,
    actor: sp.actor?.trim() || undefined,
    kind: sp.kind,
  };
  // The live fingerprint read first: a change landing between it and the page's reads refreshes once more, never is missed.
  const live = await auditParts(db);
  const since = new Date(Date.now() - WINDOWS[window]);
  const [trail, chain, integrations] = await Promise.all([
    changesSince(db, { since, ...filters, before, limit: 100 }),
    auditChainStatus(db),
    listInventory(db),
  ]);
  const registry = getRegistry();
  /** A breaker action's integrations: those sharing its key now (the row records the key only). */
  const breakerUsers = (r: { fieldName: string; newValue: unknown }): string[] => {
    if (r.fieldName !== 'breaker_reset' && r.fieldName !== 'breaker_open') return [];
    const key = (r.newValue as { key?: unknown } | null)?.key;
    return typeof key === 'string' ? integrations.filter((i) => i.breakerKey === key).map((i) => i.name) : [];
  };
  // Only from a failed check: a passing one replaced the findings of the one before.
  // An alert channel's webhook URL may carry a token (webhook-url.ts): whole for admins only, as on
  // the Alerts page; everyone else reads its rows and the findings quoting one with URLs masked.
  const isAdmin = hasRole(user.role, 'admin');
  const rows = isAdmin
    ? trail
    : trail.map((r) =>
        CHANNEL_URL.test(r.fieldName) ? { ...r, oldValue: maskUrlsInValue(r.oldValue), newValue: maskUrlsInValue(r.newValue) } : r,
      );
  const found = chain.full && !chain.full.ok ? chain.full.configDrift : [];
  const drift = isAdmin ? found : found.map(maskUrlsInText);
  const last = rows.length === 100 ? rows[rows.length - 1] : null;
  const params = Object.fromEntries(Object.entries({ window, ...filters }).filter((e): e is [string, string] => Boolean(e[1])));
  // A list that ends inside its window says where the trail goes on: the change before it and the
  // window that holds it (the demo's history is days old; the default window is a day). Looked up
  // without a person or kind filter only: those match no index, and one matching nothing would
  // read the whole trail to say so; then the wider windows are offered instead.
  const lookBack = last === null && window !== '365d';
  const olderAt =
    lookBack && filters.actor === undefined && filters.kind === undefined
      ? await latestChangeBefore(db, { until: since, integration: filters.integration })
      : undefined;
  const windowHref = (w: AuditWindow) => `/audit?${new URLSearchParams({ ...params, window: w }).toString()}`;
  const older = lookBack ? <OlderChanges window={window} olderAt={olderAt} href={windowHref} /> : null;
  return (
    <div className="flex flex-col gap-4">
      <PageHeader
        title="Audit trail"
        description="Every configuration change and operator action: who, when, old and new value, correlation id. Append-only in the database and hash-chained."
        actions={
          // One left-aligned column, like the heading and the filters it sits between (the header wraps it below the description).
          <div className="flex flex-col items-start gap-1">
            <div className="flex flex-wrap items-center gap-2">
              {chain.trailProblem ? (
                <Badge variant="destructive" data-testid="chain-status">
                  Chain broken
                </Badge>
              ) : drift.length > 0 ? (
                <Badge variant="destructive" data-testid="chain-status">
                  Config changed outside the console
                </Badge>
              ) : (
                <Badge variant="success" data-testid="chain-status">
                  Chain intact · {chain.rows.toLocaleString('en-US')} rows verified
                </Badge>
              )}
              {isAdmin ? (
                // Not only after the schedule: once drifted configuration is put back, say.
                <ConfirmAction
                  label={chain.checkRequested || chain.checkRunning ? 'Checking…' : 'Check now'}
                  title="Run the full audit check now?"
                  description="The worker recomputes the whole trail, compares it with the signed anchors and the configuration in force, and records what it finds."
                  confirm={false}
                  action={requestAuditCheckAction.bind(null, {})}
                  successMessage="Full check requested: its result shows here within a few seconds"
                />
              ) : null}
            </div>
            <span className="text-xs text-muted-foreground" data-testid="chain-anchors">
              {chain.full ? (
                <>
                  Full check against the signed anchors {chain.full.ok ? 'passed' : 'FAILED'} <RelativeTime value={chain.full.at} />
                </>
              ) : (
                'No full check against the signed anchors yet'
              )}
              {chain.anchor ? (
                <>
                  {' '}
                  · last anchor #{chain.anchor.seq} <RelativeTime value={chain.anchor.at} />
                </>
              ) : null}
            </span>
            {chain.checkRequested || chain.checkRunning ? (
              <span className="text-xs text-muted-foreground" data-testid="check-requested" role="status">
                <CheckProgress requested={chain.checkRequested} running={chain.checkRunning} />
              </span>
            ) : null}
            <LiveRefresh view="audit" rendered={fingerprint(live)} />
          </div>
        }
      />
      {chain.trailProblem ? (
        <p role="alert" className="rounded-md bg-destructive/10 p-3 text-sm text-destructive">
          {chain.trailProblem}. Someone with rights on the database (the table owner or a superuser) changed the audit trail behind the
          append-only trigger; investigate before trusting it, and keep the anchor directory as it is.
        </p>
      ) : null}
      {drift.length > 0 ? (
        <div role="alert" className="rounded-md bg-destructive/10 p-3 text-sm text-destructive" data-testid="config-drift">
          <p>
            The last full check found configuration that differs from what the audit trail says was saved: it was changed in the database,
            not through the console, so no audit row records it and History does not show it.
          </p>
          <ul className="my-2 list-disc pl-5 wrap-anywhere">
            {drift.map((message) => (
              <li key={message}>{message}</li>
            ))}
          </ul>
          <p>
            Find out who wrote to the database directly, then put the audited configuration back through the console, which records it: open
            the integration&apos;s History page at its newest change (or its original configuration, when it was never changed) and revert
            to it, which also puts fields never saved (&ldquo;registered with&rdquo; above) back to their registered values; pause or resume
            it, set the secret again, or save the alert channel with its audited values. For a user, set the role or the enabled flag the
            trail names on Users (when Users already shows the changed value, choose the audited one); revoke an API token or a signing
            secret the trail says was revoked; a channel or user the trail never recorded was inserted directly: delete that row (the trail
            holds nothing of it to keep), and make it through the console if it is wanted. Make any change you want to keep through the
            console afterwards; the next full check confirms it.
          </p>
        </div>
      ) : null}
      <IgnoredParams problems={problems} />
      {/* Keyed by the filter: Back and Forward re-render without a page load (see Runs). */}
      <form
        // Back to a filtered page loads it again: without this Chromium restores the controls'
        // last values there, so the form claimed a filter the list (from the address) did not have.
        autoComplete="off"
        key={`filters?${new URLSearchParams(params).toString()}`}
        className="flex flex-wrap items-end gap-2"
        aria-label="Filter the audit trail"
      >
        <Select name="window" defaultValue={window} aria-label="Time window">
          {(Object.keys(WINDOWS) as AuditWindow[]).map((w) => (
            <option key={w} value={w}>
              {WINDOW_LABELS[w]}
            </option>
          ))}
        </Select>
        <IntegrationSelect integrations={integrations} defaultValue={filters.integration ?? ''} />
        <Input
          name="actor"
          defaultValue={filters.actor ?? ''}
          placeholder="Person (any part of the e-mail)"
          aria-label="Person"
          className="w-56"
        />
        <Select name="kind" defaultValue={filters.kind ?? ''} aria-label="Kind">
          <option value="">Every kind</option>
          <option value="config">Configuration</option>
          <option value="action">Operator actions</option>
          <option value="user">Users and roles</option>
        </Select>
        <Button type="submit" variant="outline">
          Filter
        </Button>
      </form>
      {rows.length === 0 ? (
        <EmptyState title="Nothing changed in this window">{older ?? 'Clear the filters to see every change.'}</EmptyState>
      ) : (
        <Table stacked>
          <TableHeader>
            <TableRow>
              <TableHead>When</TableHead>
              <TableHead>Who</TableHead>
              <TableHead>Integration</TableHead>
              <TableHead>What</TableHead>
              <TableHead>Change</TableHead>
              <TableHead>Correlation id</TableHead>
            </TableRow>
          </TableHeader>
          <TableBody>
            {rows.map((r) => (
              <TableRow key={r.id}>
                <TableCell className="text-xs whitespace-nowrap" data-label="When">
                  <RelativeTime value={r.changedAt} />
                </TableCell>
                {/* An address breaks after its '@' ("oscar.operator@ / junction.local"), not at its last letter. */}
                <TableCell className="text-xs wrap-anywhere" data-label="Who">
                  {r.changedBy.includes('@') ? (
                    <>
                      {r.changedBy.slice(0, r.changedBy.indexOf('@') + 1)}
                      <wbr />
                      {r.changedBy.slice(r.changedBy.indexOf('@') + 1)}
                    </>
                  ) : (
                    r.changedBy
                  )}
                </TableCell>
                <TableCell className="text-xs" data-label="Integration">
                  {r.integration ? (
                    <Link href={`/integrations/${encodeURIComponent(r.integration)}/history`} className="hover:underline">
                      {r.integration}
                    </Link>
                  ) : breakerUsers(r).length > 0 ? (
                    // A breaker belongs to an external system, not one integration: the ones sharing it.
                    breakerUsers(r).map((name, i) => (
                      <span key={name}>
                        {i > 0 ? ', ' : ''}
                        <Link href={`/integrations/${encodeURIComponent(name)}`} className="hover:underline">
                          {name}
                        </Link>
                      </span>
                    ))
                  ) : (
                    '—'
                  )}
                </TableCell>
                <TableCell className="text-xs" data-label="What">
                  <Badge variant="outline">{KIND_LABELS[r.kind] ?? r.kind}</Badge> {describeAuditField(r.kind, r.fieldName)}
                </TableCell>
                <TableCell className="max-w-md text-xs wrap-anywhere" data-label="Change">
                  <AuditChange
                    entry={r}
                    defaultMapping={r.fieldName === 'mapping' && r.integration ? registry.get(r.integration)?.mapping?.defaults : undefined}
                  />
                </TableCell>
                <TableCell className="font-mono text-xs text-muted-foreground" data-label="Correlation id" title={r.correlationId}>
                  {r.correlationId.slice(0, 8)}
                </TableCell>
              </TableRow>
            ))}
          </TableBody>
        </Table>
      )}
      {rows.length > 0 && older ? <div className="self-end text-sm text-muted-foreground">{older}</div> : null}
      {last ? (
        <Link
          className="self-end text-sm hover:underline"
          href={`/audit?${new URLSearchParams({ ...params, before: `${last.id}|${last.changedAt.toISOString()}` }).toString()}`}
        >
          Older changes →
        </Link>
      ) : null}
    </div>
  );
}

/**
 * Where the trail goes on past a list that ended inside its window: the change before it and the
 * narrowest window holding that change; none (`null`): nothing older matches; not looked up
 * (`undefined`): the wider windows.
 */
function OlderChanges({
  window,
  olderAt,
  href,
}: {
  window: AuditWindow;
  olderAt: Date | null | undefined;
  href: (w: AuditWindow) => string;
}) {
  const keys = Object.keys(WINDOWS) as AuditWindow[];
  const wider = keys.slice(keys.indexOf(window) + 1);
  if (olderAt === null) return <span data-testid="older-changes">Nothing older matches these filters.</span>;
  if (olderAt === undefined) {
    return (
      <span data-testid="older-changes">
        Look further back:{' '}
        {wider.map((w, i) => (
          <span key={w}>
            {i > 0 ? ' · ' : ''}
            <Link href={href(w)} className="underline">
              {WINDOW_LABELS[w]}
            </Link>
          </span>
        ))}
      </span>
    );
  }
  const holding = wider.find((w) => Date.now() - olderAt.getTime() <= WINDOWS[w]);
  return (
    <span data-testid="older-changes">
      The change before {window === '1h' ? 'the last hour' : WINDOW_LABELS[window].replace('Last', 'the last')} was{' '}
      <RelativeTime value={olderAt} />
      {holding ? (
        <>
          :{' '}
          <Link href={href(holding)} className="underline">
            show the {WINDOW_LABELS[holding].replace('Last ', 'last ')}
          </Link>
        </>
      ) : (
        ', more than a year ago: the History page of each integration lists all of its changes'
      )}
      .
    </span>
  );
}

/**
 * A requested check and one running now. A check counts from its start (its transaction's time,
 * which it records as the time it checked): one that started before the request does not serve it,
 * and the worker runs another once it ends.
 */
function CheckProgress({
  requested,
  running,
}: {
  requested: AuditChainStatus['checkRequested'];
  running: AuditChainStatus['checkRunning'];
}) {
  const started = running?.since ? (
    <>
      {' '}
      (started <RelativeTime value={running.since} />)
    </>
  ) : null;
  if (!requested) return <>A full check is running now{started}; its result shows here when it ends.</>;
  const asked = (
    <>
      Full check requested by {requested.by} <RelativeTime value={requested.at} />
    </>
  );
  if (!running) return <>{asked}: a worker runs it within seconds. If this stays, no worker started with JUNCTION_AUDIT_KEY is running.</>;
  if (!running.since)
    return <>{asked}. A full check is running now; if it started before the request, the requested one follows as soon as it ends.</>;
  if (running.since >= requested.at)
    return (
      <>
        {asked}: running now{started}; its result shows here when it ends.
      </>
    );
  return (
    <>
      {asked}. A check that started before it is running now{started}; the requested one follows as soon as it ends.
    </>
  );
}
