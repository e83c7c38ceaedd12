import Link from 'next/link';
import { notFound } from 'next/navigation';
import { ConfirmAction } from '@/components/common/confirm-action';
import { LiveRefresh } from '@/components/common/live-refresh';
import { RelativeTime } from '@/components/common/relative-time';
import { exactTime } from '@/components/common/time-format';
import { RunsTable } from '@/components/runs/runs-table';
import { Badge } from '@/components/ui/badge';
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from '@/components/ui/card';
import { requireUser } from '@/lib/auth/guards';
import { hasRole } from '@/lib/auth/roles';
import { getBreakerView } from '@/lib/platform/read-models/inventory';
import { auditCheckedAt, fingerprint, integrationParts } from '@/lib/platform/read-models/live-fingerprint';
import { retryCautions } from '@/lib/platform/read-models/retry-caution';
import { listRuns } from '@/lib/platform/read-models/run-queries';
import { BREAKER_BADGE, breakerPhase, reopenText } from '@/lib/platform/resilience/breaker-text';
import { isActiveRunStatus } from '@/lib/platform/run-status';
import { missedWhilePaused } from '@/lib/platform/triggers/resume-policy';
import { resumeText, scheduleText } from '@/lib/platform/triggers/trigger-text';
import { asSentence } from '@/lib/platform/words';
import { getDb } from '@/lib/server/db';
import { segmentName } from '@/lib/server/params';
import { getInventoryRow } from '@/lib/server/queries';
import { runNowAction } from '../../runs/actions';
import { openBreakerAction, pauseAction, resetBreakerAction, resumeAction } from '../actions';

export const dynamic = 'force-dynamic';

export default async function IntegrationPage({ params }: { params: Promise<{ name: string }> }) {
  const user = await requireUser();
  const name = segmentName((await params).name);
  const db = getDb();
  const row = await getInventoryRow(name);
  if (!row) notFound();
  const [breaker, runs, missed, checkedAt] = await Promise.all([
    getBreakerView(db, { key: row.breakerKey }),
    listRuns(db, { integration: name, limit: 20 }),
    missedWhilePaused(db, { integration: name }),
    auditCheckedAt(db),
  ]);
  const canOperate = hasRole(user.role, 'operator') && row.registered;
  const running = row.lastRun && isActiveRunStatus(row.lastRun.status);
  const schedule = scheduleText(row.schedule, row.timezone).words;
  const canEditConfig = hasRole(user.role, 'admin');
  const phase = breakerPhase(breaker, new Date());
  const threshold = breaker.failureThresholds[name];
  return (
    <div className="flex flex-col gap-6">
      {/* The header, state and failing reasons above come from the layout: a refresh re-renders them too. */}
      <LiveRefresh
        view="integration"
        integration={name}
        rendered={fingerprint(integrationParts(row, breaker, runs.items, checkedAt))}
        className="-mt-2 self-end"
      />
      <div className="grid gap-4 lg:grid-cols-3">
        <Card className="lg:col-span-2">
          <CardHeader>
            <CardTitle>Actions</CardTitle>
            <CardDescription>
              Schedule: {schedule}
              {row.paused ? ' — paused: scheduled runs do not start; Run now still works.' : ''}
            </CardDescription>
            {row.paused && row.schedule ? (
              <p className="text-sm" data-testid="resume-outlook">
                {resumeText(missed, { canEditConfig })}
              </p>
            ) : null}
            {row.credentialsError ? (
              <p role="alert" className="rounded-md bg-destructive/10 p-2 text-sm text-destructive">
                Credentials failing since <RelativeTime value={row.credentialsFailingSince} />: {asSentence(row.credentialsError)} Fix them
                under{' '}
                <Link href={`/integrations/${encodeURIComponent(row.name)}/credentials`} className="font-medium underline">
                  Credentials
                </Link>
                ; runs fail until a token can be had.
              </p>
            ) : null}
          </CardHeader>
          <CardContent className="flex flex-wrap gap-2">
            {canOperate ? (
              <>
                <ConfirmAction<{ runId: string }>
                  label="Run now"
                  title={`Run ${name} now?`}
                  description={
                    running
                      ? 'Its last run is still active: this run waits in the queue until that one ends, then talks to the external system for real.'
                      : 'It talks to the external system for real: records are exported or imported as on a scheduled run.'
                  }
                  confirmLabel="Run now"
                  variant="default"
                  action={runNowAction.bind(null, { integration: name, dryRun: false })}
                  successMessage="Run started."
                  runLinkLabel="Follow it"
                />
                <ConfirmAction<{ runId: string }>
                  label="Dry-run"
                  title={`Dry-run ${name}?`}
                  description="Reads go to the external system; every write is captured instead of sent, database changes are rolled back, the cursor stays put and no alert is sent."
                  confirmLabel="Start dry-run"
                  action={runNowAction.bind(null, { integration: name, dryRun: true })}
                  successMessage="Dry-run started."
                  runLinkLabel="Read its plan"
                />
                {/* Keyed: should the state change under an open dialog, it closes rather than becoming the other action. */}
                {row.paused ? (
                  <ConfirmAction
                    key="resume"
                    focusGroup="pause-resume"
                    label="Resume"
                    title={`Resume ${name}?`}
                    description={
                      row.schedule
                        ? resumeText(missed, { canEditConfig })
                        : 'This integration has no schedule: resuming only lifts the pause.'
                    }
                    confirmLabel="Resume"
                    action={resumeAction.bind(null, { integration: name })}
                    successMessage="Resumed"
                  />
                ) : (
                  <ConfirmAction
                    key="pause"
                    focusGroup="pause-resume"
                    label="Pause"
                    title={`Pause ${name}?`}
                    description="Scheduled runs stop until you resume. Runs already queued or running continue; Run now stays available."
                    confirmLabel="Pause"
                    destructive
                    action={pauseAction.bind(null, { integration: name })}
                    successMessage="Paused"
                  />
                )}
              </>
            ) : (
              <p className="text-sm text-muted-foreground">
                {row.registered
                  ? 'You can read everything here; running and pausing need the operator role.'
                  : 'Orphaned integrations cannot run: their handler is no longer registered.'}
              </p>
            )}
          </CardContent>
        </Card>
        <Card data-testid="breaker-card">
          <CardHeader>
            <CardTitle className="flex items-center gap-2">
              Circuit breaker
              <Badge variant={BREAKER_BADGE[phase].variant}>{BREAKER_BADGE[phase].text}</Badge>
            </CardTitle>
            <CardDescription>
              Key <code>{breaker.key}</code>
              {breaker.integrations.length > 1 ? `, shared with ${breaker.integrations.filter((n) => n !== name).join(', ')}` : ''}
            </CardDescription>
          </CardHeader>
          <CardContent className="flex flex-col gap-2 text-sm">
            <div>Consecutive failures: {breaker.consecutiveFailures}</div>
            {phase === 'held_open' ? <div>Held open by an operator until reset: no request is sent.</div> : null}
            {phase === 'cooling_down' && breaker.openUntil ? (
              <div>
                {breaker.forcedOpen ? 'Opened by an operator' : 'Open'} until {exactTime(breaker.openUntil)}: no request is sent until then;
                after that, a trial request is allowed on the next run.
              </div>
            ) : null}
            {phase === 'trial_allowed' ? (
              <div>A trial request is allowed on the next run: if it succeeds the breaker closes, if it fails the breaker opens again.</div>
            ) : null}
            {breaker.lastError ? (
              <div className="text-xs text-muted-foreground">
                Last error <RelativeTime value={breaker.lastFailureAt} />: {breaker.lastError}
              </div>
            ) : null}
            {canOperate ? (
              <div className="mt-2 flex gap-2">
                {breaker.state !== 'closed' ? (
                  <ConfirmAction
                    key="reset-breaker"
                    focusGroup="breaker"
                    label="Reset breaker"
                    title="Reset the breaker?"
                    description={`Requests to this system resume at once for ${breaker.integrations.join(', ') || name}; deferred runs start.${threshold ? ` ${reopenText(threshold)}` : ''}`}
                    confirmLabel="Reset breaker"
                    action={resetBreakerAction.bind(null, { key: breaker.key })}
                    successMessage="Breaker reset"
                  />
                ) : (
                  <ConfirmAction
                    key="open-breaker"
                    focusGroup="breaker"
                    label="Open breaker"
                    title="Open the breaker?"
                    description={`No request reaches this system until you reset it: runs of ${breaker.integrations.join(', ') || name} are deferred, not failed.`}
                    confirmLabel="Open breaker"
                    destructive
                    action={openBreakerAction.bind(null, { key: breaker.key })}
                    successMessage="Breaker opened"
                  />
                )}
              </div>
            ) : null}
          </CardContent>
        </Card>
      </div>
      <section className="flex flex-col gap-2">
        <div className="flex items-center justify-between">
          <h2 className="text-lg font-semibold">Recent runs</h2>
          <Link href={`/runs?integration=${encodeURIComponent(name)}`} className="text-sm hover:underline">
            All runs →
          </Link>
        </div>
        <RunsTable
          renderedAt={Date.now()}
          initial={JSON.parse(JSON.stringify(runs.items))}
          canOperate={canOperate}
          emptyText="This integration has not run yet. Use Run now or Dry-run above."
          // What to know before retrying here, as on the Runs page and the run's own page: an open
          // breaker, refused credentials, a last run that failed too, a pause.
          cautions={{ [name]: retryCautions(row, new Date()) }}
          showIntegration={false}
        />
      </section>
    </div>
  );
}
