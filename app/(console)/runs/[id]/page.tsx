import Link from 'next/link';
import { notFound } from 'next/navigation';
import { ConfirmAction } from '@/components/common/confirm-action';
import { PageHeader } from '@/components/common/page-header';
import { RelativeTime } from '@/components/common/relative-time';
import { RetryDialog } from '@/components/runs/retry-dialog';
import { RunLive } from '@/components/runs/run-live';
import { runSnapshot } from '@/components/runs/run-snapshot';
import { RunStatusBadge } from '@/components/runs/status-badge';
import { Badge } from '@/components/ui/badge';
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from '@/components/ui/card';
import { Progress } from '@/components/ui/progress';
import { requireUser } from '@/lib/auth/guards';
import { hasRole } from '@/lib/auth/roles';
import type { LogGap, StoredLogLine } from '@/lib/platform/log';
import { cautionsFor, retryCautions } from '@/lib/platform/read-models/retry-caution';
import { getRunDetail } from '@/lib/platform/read-models/run-queries';
import { elapsedText, planSummary, progressText, triggerWords } from '@/lib/platform/read-models/run-text';
import { isActiveRunStatus } from '@/lib/platform/run-status';
import { getDb } from '@/lib/server/db';
import { getInventoryRow } from '@/lib/server/queries';
import { cancelRunAction } from '../actions';

export const metadata = { title: 'Run' };
export const dynamic = 'force-dynamic';

export default async function RunPage({ params }: { params: Promise<{ id: string }> }) {
  const user = await requireUser();
  const { id } = await params;
  const detail = await getRunDetail(getDb(), { id });
  if (!detail) notFound();
  const { run, attempts, retries } = detail;
  const active = isActiveRunStatus(run.status);
  const canOperate = hasRole(user.role, 'operator');
  const plan = run.plan ?? [];
  const retryOffered = canOperate && (run.status === 'failed' || run.status === 'cancelled') && retries.length === 0;
  const integration = retryOffered ? await getInventoryRow(run.integration) : null;
  const cautions = integration ? cautionsFor({ [run.integration]: retryCautions(integration, new Date()) }, [run]) : [];
  return (
    <div className="flex flex-col gap-6">
      <PageHeader
        title={
          <span className="flex flex-wrap items-center gap-3">
            Run <span className="font-mono text-lg">{run.id.slice(0, 8)}</span>
            <RunStatusBadge status={run.status} dryRun={run.dryRun} hold={run.hold} />
            <RunLive
              runId={run.id}
              active={active}
              rendered={runSnapshot(run)}
              settling={!active && attempts.some((a) => a.outcome === 'running')}
            />
          </span>
        }
        description={
          <>
            <Link href={`/integrations/${encodeURIComponent(run.integration)}`} className="hover:underline">
              {run.integration}
            </Link>{' '}
            · {triggerWords(run)} · created <RelativeTime value={run.createdAt} />
          </>
        }
        actions={
          canOperate ? (
            <>
              {retryOffered ? (
                <RetryDialog runId={run.id} ageDays={(Date.now() - run.createdAt.getTime()) / 86_400_000} cautions={cautions} />
              ) : null}
              {active ? (
                <ConfirmAction
                  label="Cancel"
                  title="Cancel this run?"
                  description="A queued run will not start; a running attempt is told to stop, and no further attempts are made."
                  confirmLabel="Cancel run"
                  dismissLabel="Keep the run"
                  destructive
                  action={cancelRunAction.bind(null, { runId: run.id })}
                  successMessage="Run cancelled"
                />
              ) : null}
            </>
          ) : null
        }
      />

      <Card>
        <CardContent className="grid gap-4 pt-5 text-sm sm:grid-cols-2 lg:grid-cols-4">
          <div>
            <div className="text-xs text-muted-foreground">Correlation id</div>
            <code className="break-all text-xs" data-testid="correlation-id">
              {run.correlationId}
            </code>
          </div>
          <div>
            <div className="text-xs text-muted-foreground">Attempts used</div>
            {run.attemptCount} of {run.maxAttempts}
            {/* An attempt deferred by the breaker, handed back by a stopping worker or interrupted hands its number back: listed below, not counted. */}
            {attempts.length > run.attemptCount ? (
              <div className="text-xs text-muted-foreground" data-testid="uncounted-attempts">
                {attempts.length - run.attemptCount} more not counted (deferred, handed back or interrupted)
              </div>
            ) : null}
            {run.nextAttemptAt && active ? (
              <div className="text-xs text-muted-foreground">
                next <RelativeTime value={run.nextAttemptAt} />
              </div>
            ) : null}
          </div>
          <div>
            <div className="text-xs text-muted-foreground">Started · finished</div>
            <RelativeTime value={run.startedAt} /> · <RelativeTime value={run.finishedAt} />
          </div>
          <div>
            <div className="text-xs text-muted-foreground">Progress</div>
            {run.progressTotal ? (
              <div className="flex items-center gap-2">
                <Progress value={run.progressDone ?? 0} max={run.progressTotal} label="Run progress" className="w-32" />
                <span className="tabular-nums">{progressText(run.progressDone, run.progressTotal)}</span>
              </div>
            ) : run.progressDone !== null ? (
              <span className="tabular-nums">{progressText(run.progressDone, null)}</span>
            ) : (
              <span className="text-muted-foreground">—</span>
            )}
          </div>
          {run.retryOf ? (
            <div>
              <div className="text-xs text-muted-foreground">Retry of</div>
              <Link href={`/runs/${run.retryOf}`} className="hover:underline">
                run {run.retryOf.slice(0, 8)}
              </Link>
            </div>
          ) : null}
          {retries.length > 0 ? (
            <div>
              <div className="text-xs text-muted-foreground">Retried as</div>
              {retries.map((r) => (
                <Link key={r.id} href={`/runs/${r.id}`} className="mr-2 hover:underline">
                  run {r.id.slice(0, 8)} ({r.status})
                </Link>
              ))}
            </div>
          ) : null}
          {run.reason ? (
            <div className="sm:col-span-2">
              <div className="text-xs text-muted-foreground">Reason</div>
              {run.reason}
            </div>
          ) : null}
        </CardContent>
      </Card>

      {run.errorMessage ? (
        // A cancellation is not a failure: said as what stopped it, without the failure's red.
        <Card className={run.status === 'cancelled' ? undefined : 'border-destructive/40'}>
          <CardHeader>
            <CardTitle>{run.status === 'cancelled' ? 'Why it stopped' : 'What failed'}</CardTitle>
            <CardDescription>
              {run.status === 'cancelled'
                ? 'Cancelled before it finished, not failed; its attempts below say what each one did.'
                : run.errorClass === 'PermanentError'
                  ? 'A permanent error: retrying will not help until the cause is fixed.'
                  : 'The last error of the run.'}
            </CardDescription>
          </CardHeader>
          <CardContent>
            <pre tabIndex={0} className="overflow-x-auto rounded-md bg-muted p-3 text-xs whitespace-pre-wrap">
              {run.errorMessage}
            </pre>
          </CardContent>
        </Card>
      ) : null}

      {run.dryRun ? (
        <Card>
          <CardHeader>
            <CardTitle>Dry-run plan</CardTitle>
            <CardDescription>Mutating requests captured instead of sent. Reads went through; nothing was committed.</CardDescription>
          </CardHeader>
          <CardContent className="flex flex-col gap-3">
            {plan.length === 0 ? (
              <p className="text-sm text-muted-foreground">
                {active ? 'The dry-run is still running.' : 'The run would not have changed anything.'}
              </p>
            ) : (
              <>
                <ul className="list-disc pl-5 text-sm" data-testid="plan-summary">
                  {planSummary(plan).map((line) => (
                    <li key={line}>{line}</li>
                  ))}
                </ul>
                {plan.slice(0, 50).map((p, i) => (
                  <details key={i} className="rounded-md border p-2 text-xs">
                    <summary className="cursor-pointer font-mono">
                      {p.method} {p.url}
                    </summary>
                    <pre tabIndex={0} className="mt-2 max-h-80 overflow-auto rounded bg-muted p-2">
                      {JSON.stringify(p.body, null, 2)}
                    </pre>
                  </details>
                ))}
                {plan.length > 50 ? <p className="text-xs text-muted-foreground">…and {plan.length - 50} more requests.</p> : null}
              </>
            )}
          </CardContent>
        </Card>
      ) : null}

      {run.result ? (
        <Card>
          <CardHeader>
            <CardTitle>Result</CardTitle>
          </CardHeader>
          <CardContent>
            <pre tabIndex={0} className="max-h-96 overflow-auto rounded-md bg-muted p-3 text-xs">
              {JSON.stringify(run.result, null, 2)}
            </pre>
          </CardContent>
        </Card>
      ) : null}

      <section className="flex flex-col gap-3">
        <h2 className="text-lg font-semibold">Attempts</h2>
        {attempts.length === 0 ? <p className="text-sm text-muted-foreground">No attempt has started yet.</p> : null}
        <ol className="flex flex-col gap-3">
          {attempts.map((a) => (
            <li key={a.id}>
              <Card>
                <CardHeader className="flex-row flex-wrap items-center gap-3">
                  <CardTitle>Attempt {a.number}</CardTitle>
                  <Badge
                    variant={
                      a.outcome === 'succeeded'
                        ? 'success'
                        : a.outcome === 'failed'
                          ? 'destructive'
                          : a.outcome === 'deferred' || a.outcome === 'interrupted'
                            ? 'warning'
                            : 'outline'
                    }
                  >
                    {a.outcome === 'deferred' ? 'deferred (circuit open)' : a.outcome}
                  </Badge>
                  <span className="text-xs text-muted-foreground">
                    started <RelativeTime value={a.startedAt} /> · {elapsedText(a.startedAt, a.finishedAt)}
                    {a.worker ? ` · ${a.worker}` : ''}
                  </span>
                </CardHeader>
                <CardContent className="flex flex-col gap-2">
                  {a.resumedFrom !== null && a.resumedFrom !== undefined ? (
                    <p className="text-sm">
                      resumed from checkpoint <code className="break-all text-xs">{JSON.stringify(a.resumedFrom).slice(0, 300)}</code>
                    </p>
                  ) : null}
                  {a.errorMessage ? (
                    <p className="text-sm text-destructive">
                      {a.errorClass ? <code className="mr-2 text-xs">{a.errorClass}</code> : null}
                      {a.errorMessage}
                    </p>
                  ) : null}
                  {a.logs.length > 0 || a.logGap ? (
                    <details open={a.number === attempts.length}>
                      <summary className="cursor-pointer text-xs text-muted-foreground">{a.logs.length} log lines</summary>
                      <pre tabIndex={0} className="mt-2 max-h-80 overflow-auto rounded-md bg-muted p-3 text-xs">
                        {logText(a.logs.slice(0, a.logGap?.before ?? a.logs.length))}
                        {a.logGap ? (
                          <span className="block py-1 italic text-muted-foreground" data-testid="log-gap">
                            {droppedLinesText(a.logGap)}
                          </span>
                        ) : null}
                        {a.logGap ? logText(a.logs.slice(a.logGap.before)) : null}
                      </pre>
                    </details>
                  ) : (
                    <p className="text-xs text-muted-foreground">No log lines.</p>
                  )}
                </CardContent>
              </Card>
            </li>
          ))}
        </ol>
      </section>
    </div>
  );
}

function logText(lines: StoredLogLine[]): string {
  return lines
    .map(
      (l) =>
        `${l.at.toISOString().slice(11, 23)} ${l.level.toUpperCase().padEnd(5)} ${l.message}${l.data ? ` ${JSON.stringify(l.data)}` : ''}`,
    )
    .join('\n');
}

/** "12,345 more lines not kept: 12,000 info, 345 warn" */
function droppedLinesText(gap: LogGap): string {
  const parts = (['debug', 'info', 'warn', 'error'] as const)
    .filter((l) => gap.dropped[l] > 0)
    .map((l) => `${gap.dropped[l].toLocaleString('en')} ${l}`);
  return `… ${gap.total.toLocaleString('en')} more ${gap.total === 1 ? 'line' : 'lines'} not kept${parts.length ? `: ${parts.join(', ')}` : ''} …`;
}
