import Link from 'next/link';
import { z } from 'zod';
import { EmptyState } from '@/components/common/empty-state';
import { IgnoredParams } from '@/components/common/ignored-params';
import { LiveRefresh } from '@/components/common/live-refresh';
import { PageHeader } from '@/components/common/page-header';
import { RelativeTime } from '@/components/common/relative-time';
import { FailingReasons } from '@/components/integrations/failing-reasons';
import { STATE_LABELS, StateBadges } from '@/components/integrations/state-badge';
import { RunStatusBadge } from '@/components/runs/status-badge';
import { Badge } from '@/components/ui/badge';
import { Button } from '@/components/ui/button';
import { Input } from '@/components/ui/input';
import { Select } from '@/components/ui/select';
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from '@/components/ui/table';
import { requireUser } from '@/lib/auth/guards';
import { parseSearchParams, ZUrlText } from '@/lib/platform/params';
import { FAILING_STATES, inState, type IntegrationState, type InventoryRow } from '@/lib/platform/read-models/inventory';
import { fingerprint, integrationsParts } from '@/lib/platform/read-models/live-fingerprint';
import { BREAKER_BADGE, breakerPhase } from '@/lib/platform/resilience/breaker-text';
import { scheduleText } from '@/lib/platform/triggers/trigger-text';
import { plural } from '@/lib/platform/words';
import { getInventory } from '@/lib/server/queries';

export const metadata = { title: 'Integrations' };
export const dynamic = 'force-dynamic';

const STATES = Object.keys(STATE_LABELS) as [IntegrationState, ...IntegrationState[]];
/** Filters on several states: `any_failing` is what the Overview's Failing card counts (and links to). */
const STATE_GROUPS = {
  // Short: a native select is as wide as its longest option (see Runs), and it must fit a phone.
  any_failing: { label: 'Failing or credentials failing', states: FAILING_STATES },
} as const satisfies Record<string, { label: string; states: readonly IntegrationState[] }>;
type StateGroup = keyof typeof STATE_GROUPS;
const STATE_FILTERS = [...STATES, ...(Object.keys(STATE_GROUPS) as StateGroup[])] as [
  IntegrationState | StateGroup,
  ...(IntegrationState | StateGroup)[],
];
const ZInventoryParams = z.object({
  q: ZUrlText(200).optional(),
  state: z.enum(STATE_FILTERS, { error: `must be one of ${STATE_FILTERS.join(', ')}` }).optional(),
});

function statesOf(filter: IntegrationState | StateGroup): readonly IntegrationState[] {
  return filter in STATE_GROUPS ? STATE_GROUPS[filter as StateGroup].states : [filter as IntegrationState];
}

export default async function IntegrationsPage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  await requireUser();
  const { data, problems } = parseSearchParams(ZInventoryParams, await searchParams);
  const { q, state } = data;
  // The live check's fingerprint covers every integration, searched or not (one the search hides
  // may change into view); read before the searched list, so a change in between is not missed.
  const everything = q ? await getInventory() : null;
  const all = await getInventory(q);
  const rendered = fingerprint(integrationsParts(everything ?? all));
  const rows = state ? all.filter((r) => inState(r, statesOf(state))) : all;
  const now = new Date();
  return (
    <div className="flex flex-col gap-4">
      <PageHeader
        title="Integrations"
        description="Every registered integration, its state and its latest run."
        actions={<LiveRefresh view="integrations" rendered={rendered} />}
      />
      <IgnoredParams problems={problems} />
      {/* Keyed by the filter: Clear, Back and Forward re-render without a page load (see Runs). */}
      <form
        // Back to a filtered page loads it again: without this Chromium restores the controls'
        // last values there, so the form claimed a filter the list (from the address) did not have.
        autoComplete="off"
        key={`filters?${q}|${state ?? ''}`}
        className="flex flex-wrap items-end gap-2"
        role="search"
      >
        <Input name="q" defaultValue={q} placeholder="Search name or description" aria-label="Search integrations" className="w-64" />
        <Select name="state" defaultValue={state ?? ''} aria-label="Filter by state">
          <option value="">All states</option>
          {STATES.map((s) => (
            <option key={s} value={s}>
              {STATE_LABELS[s]}
            </option>
          ))}
          {(Object.keys(STATE_GROUPS) as StateGroup[]).map((g) => (
            <option key={g} value={g}>
              {STATE_GROUPS[g].label}
            </option>
          ))}
        </Select>
        <Button type="submit" variant="outline">
          Filter
        </Button>
        {q || state ? (
          <Button asChild variant="ghost">
            <Link href="/integrations">Clear</Link>
          </Button>
        ) : null}
      </form>
      {rows.length === 0 ? (
        <EmptyState title={all.length === 0 && !q ? 'No integrations registered' : 'No integration matches these filters'}>
          {all.length === 0 && !q
            ? 'Add one in lib/integrations/ and list it in lib/integrations/index.ts; the worker registers it at start-up.'
            : 'Clear the filters to see every integration.'}
        </EmptyState>
      ) : (
        <Table stacked>
          <TableHeader>
            <TableRow>
              <TableHead>Integration</TableHead>
              <TableHead>State</TableHead>
              <TableHead>Breaker</TableHead>
              <TableHead>Schedule</TableHead>
              <TableHead>Next run</TableHead>
              <TableHead>Last run</TableHead>
              <TableHead className="text-right">24 h success</TableHead>
            </TableRow>
          </TableHeader>
          <TableBody>
            {rows.map((row) => {
              const schedule = scheduleText(row.schedule, row.timezone);
              return (
                <TableRow key={row.name}>
                  <TableCell data-label="Integration">
                    <Link href={`/integrations/${encodeURIComponent(row.name)}`} className="font-medium hover:underline">
                      {row.name}
                    </Link>
                    <div className="max-w-xs truncate text-xs text-muted-foreground">{row.description}</div>
                  </TableCell>
                  <TableCell data-label="State">
                    <StateBadges state={row.state} health={row.health} />
                    <FailingReasons reasons={row.failingReasons} className="mt-1 max-w-xs text-xs" />
                  </TableCell>
                  <TableCell data-label="Breaker" className="text-xs">
                    <BreakerCell row={row} now={now} />
                  </TableCell>
                  <TableCell data-label="Schedule" className="text-xs">
                    {schedule.words}
                  </TableCell>
                  <TableCell data-label="Next run" className="text-xs">
                    {row.paused || !row.registered ? (
                      <span className="text-muted-foreground">—</span>
                    ) : (
                      <RelativeTime value={schedule.next} />
                    )}
                  </TableCell>
                  <TableCell data-label="Last run" className="text-xs">
                    {row.lastRun ? (
                      <Link href={`/runs/${row.lastRun.id}`} className="flex items-center gap-2 hover:underline">
                        <RunStatusBadge status={row.lastRun.status} />
                        <RelativeTime value={row.lastRun.finishedAt ?? row.lastRun.createdAt} />
                      </Link>
                    ) : (
                      <span className="text-muted-foreground">never</span>
                    )}
                  </TableCell>
                  <TableCell data-label="24 h success" className="text-right tabular-nums">
                    {row.successRate24h === null ? (
                      <span className="text-muted-foreground">—</span>
                    ) : (
                      <span title={`${row.succeeded24h} of ${row.finished24h} finished runs succeeded`}>
                        {Math.round(row.successRate24h * 100)}%
                      </span>
                    )}
                  </TableCell>
                </TableRow>
              );
            })}
          </TableBody>
        </Table>
      )}
    </div>
  );
}

/** The external system's breaker as the integration's page shows it, in one line: shared breakers read the same on every row. */
function BreakerCell({ row, now }: { row: InventoryRow; now: Date }) {
  const phase = breakerPhase({ state: row.breakerState, forcedOpen: row.breakerForcedOpen, openUntil: row.breakerOpenUntil }, now);
  const badge = BREAKER_BADGE[phase];
  return (
    <div className="flex flex-wrap items-center gap-x-2 gap-y-1">
      <Badge variant={badge.variant}>{badge.text}</Badge>
      {phase === 'closed' && row.breakerFailures > 0 ? (
        <span className="text-muted-foreground">{plural(row.breakerFailures, 'consecutive failure')}</span>
      ) : null}
      {phase === 'cooling_down' ? (
        <span className="text-muted-foreground">
          {row.breakerForcedOpen ? 'by an operator, ' : ''}until <RelativeTime value={row.breakerOpenUntil} />
        </span>
      ) : null}
      {phase === 'held_open' ? <span className="text-muted-foreground">until reset</span> : null}
      {phase === 'trial_allowed' ? <span className="text-muted-foreground">next request is the trial</span> : null}
    </div>
  );
}
