import Link from 'next/link';
import { LiveRefresh } from '@/components/common/live-refresh';
import { PageHeader } from '@/components/common/page-header';
import { FailingReasons } from '@/components/integrations/failing-reasons';
import { StateBadges } from '@/components/integrations/state-badge';
import { SuccessChart } from '@/components/integrations/success-chart';
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from '@/components/ui/card';
import { requireUser } from '@/lib/auth/guards';
import { checkHealth } from '@/lib/platform/read-models/health';
import { FAILING_STATES, inState, type IntegrationState } from '@/lib/platform/read-models/inventory';
import { fingerprint, overviewParts } from '@/lib/platform/read-models/live-fingerprint';
import { awaitingActionFilter, awaitingActionSince, OVERVIEW_DAYS, overviewStats } from '@/lib/platform/read-models/run-queries';
import { lastDays } from '@/lib/platform/read-models/run-text';
import { getDb } from '@/lib/server/db';
import { getInventory } from '@/lib/server/queries';

export const dynamic = 'force-dynamic';

function Stat({ label, value, href, tone }: { label: string; value: number; href: string; tone?: 'bad' | 'warn' }) {
  return (
    <Link href={href} className="rounded-xl border bg-card p-4 hover:bg-accent">
      <div
        className={
          tone === 'bad' && value > 0
            ? 'text-3xl font-semibold text-destructive'
            : tone === 'warn' && value > 0
              ? 'text-3xl font-semibold text-[oklch(0.55_0.14_70)]'
              : 'text-3xl font-semibold'
        }
      >
        {value}
      </div>
      <div className="text-sm text-muted-foreground">{label}</div>
    </Link>
  );
}

export default async function OverviewPage() {
  await requireUser();
  const db = getDb();
  // One clock for the count, the list it links to and the chart's days: the same runs, the same days.
  const now = new Date();
  const since = awaitingActionSince(now);
  const [inventory, stats, health] = await Promise.all([getInventory(), overviewStats(db, { since, now }), checkHealth(db)]);
  // A paused integration with an open breaker or failing counts there too (inState): pausing stops its schedule, not its problems.
  const count = (...states: IntegrationState[]) => inventory.filter((i) => inState(i, states)).length;
  const days = lastDays(OVERVIEW_DAYS, now);
  const checks = [
    ['Database', health.database],
    ['Migrations', health.migrations],
    ['Worker', health.worker],
  ] as const;
  return (
    <div className="flex flex-col gap-6">
      <PageHeader
        title="Overview"
        description="What needs attention across every integration."
        actions={<LiveRefresh view="overview" rendered={fingerprint(overviewParts(inventory, stats))} />}
      />
      <div className="grid grid-cols-2 gap-3 md:grid-cols-4 lg:grid-cols-7">
        <Stat label="Healthy" value={count('healthy')} href="/integrations?state=healthy" />
        <Stat label="Failing" value={count(...FAILING_STATES)} href="/integrations?state=any_failing" tone="bad" />
        <Stat label="Breaker open" value={count('breaker_open')} href="/integrations?state=breaker_open" tone="bad" />
        <Stat label="Paused" value={count('paused')} href="/integrations?state=paused" tone="warn" />
        <Stat
          label="Failed runs awaiting action"
          value={stats.failedAwaitingAction}
          href={`/runs?${new URLSearchParams(awaitingActionFilter(since))}`}
          tone="bad"
        />
        <Stat label="Undelivered alerts" value={stats.undeliveredIncidents} href="/alerts?delivery=failed" tone="bad" />
        <Stat label="Active runs" value={stats.running} href="/runs?status=active" />
      </div>
      <Card>
        <CardHeader>
          <CardTitle>Success rate, last 7 days</CardTitle>
          <CardDescription>Finished runs per day (UTC) that succeeded; dry-runs excluded.</CardDescription>
        </CardHeader>
        <CardContent>
          {inventory.length === 0 ? (
            <p className="text-sm text-muted-foreground">No integrations registered yet.</p>
          ) : (
            <ul className="divide-y">
              {inventory.map((i) => (
                <li key={i.name} className="flex flex-wrap items-center gap-4 py-2">
                  <Link href={`/integrations/${encodeURIComponent(i.name)}`} className="w-48 truncate font-medium hover:underline">
                    {i.name}
                  </Link>
                  <StateBadges state={i.state} health={i.health} />
                  <FailingReasons reasons={i.failingReasons} className="text-xs" />
                  <div className="ml-auto">
                    <SuccessChart
                      days={days.map(
                        (day) => stats.daily.find((d) => d.integration === i.name && d.day === day) ?? { day, finished: 0, succeeded: 0 },
                      )}
                    />
                  </div>
                </li>
              ))}
            </ul>
          )}
        </CardContent>
      </Card>
      <Card>
        <CardHeader>
          <CardTitle>Platform health</CardTitle>
          <CardDescription>What the health check at /api/health reports.</CardDescription>
        </CardHeader>
        <CardContent>
          <ul className="grid gap-2 sm:grid-cols-3">
            {checks.map(([label, check]) => (
              <li key={label} className="rounded-lg border p-3">
                <div className="flex items-center gap-2 text-sm font-medium">
                  <span aria-hidden className={check.ok ? 'size-2 rounded-full bg-success' : 'size-2 rounded-full bg-destructive'} />
                  {label}
                </div>
                <p className="mt-1 text-xs text-muted-foreground">{check.detail}</p>
              </li>
            ))}
          </ul>
        </CardContent>
      </Card>
    </div>
  );
}
