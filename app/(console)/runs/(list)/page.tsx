import Link from 'next/link';
import { FieldError } from '@/components/common/field-error';
import { IgnoredParams } from '@/components/common/ignored-params';
import { IntegrationSelect } from '@/components/common/integration-select';
import { PageHeader } from '@/components/common/page-header';
import { exactTime } from '@/components/common/time-format';
import { BulkOperations } from '@/components/runs/bulk-operations';
import { RetryMatching } from '@/components/runs/retry-matching';
import { RunsTable } from '@/components/runs/runs-table';
import { Button } from '@/components/ui/button';
import { Input } from '@/components/ui/input';
import { Select } from '@/components/ui/select';
import { runStatusEnum, runTriggerEnum } from '@/db/schema';
import { requireUser } from '@/lib/auth/guards';
import { hasRole } from '@/lib/auth/roles';
import { parseSearchParams, ZInstant } from '@/lib/platform/params';
import { integrationFilterNames } from '@/lib/platform/read-models/integration-names';
import { listInventory } from '@/lib/platform/read-models/inventory';
import { cautionsFor, retryCautions } from '@/lib/platform/read-models/retry-caution';
import { countRetryableRuns, listRuns, reversedTimeRange, ZRunFilter } from '@/lib/platform/read-models/run-queries';
import { ACTIVE_RUN_STATUSES } from '@/lib/platform/run-status';
import { BULK_LIMIT } from '@/lib/platform/triggers/bulk';
import { listBulkOperations } from '@/lib/platform/triggers/triggers';
import { getDb } from '@/lib/server/db';

export const metadata = { title: 'Runs' };
export const dynamic = 'force-dynamic';

/**
 * A time as a datetime-local input shows it, in UTC: `2026-11-30T08:00`, with seconds and
 * milliseconds only when it has them. The page reads it back as UTC (no offset: parseInstant).
 */
function datetimeLocalValue(at: Date | undefined): string {
  if (!at) return '';
  return at
    .toISOString()
    .slice(0, 23)
    .replace(/(?:\.000)$/, '')
    .replace(/T(\d\d:\d\d):00$/, 'T$1');
}

/** A search param's first value as an instant, when it is one. */
function instantParam(value: string | string[] | undefined): Date | undefined {
  const parsed = ZInstant.safeParse(Array.isArray(value) ? value[0] : value);
  return parsed.success ? parsed.data : undefined;
}

export default async function RunsPage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const user = await requireUser();
  const params = await searchParams;
  // A reversed range (To before From) is said at the To field, with both times kept for fixing,
  // and the list is shown without it: not "No run matches", which reads as "none in that range".
  const [rangeFrom, rangeTo] = [instantParam(params.from), instantParam(params.to)];
  const reversedRange = reversedTimeRange(rangeFrom, rangeTo);
  const db = getDb();
  // An integration that does not exist (`crm_sync` for `crm-sync`) is said with the name it
  // probably meant and left out, not shown as "No runs" under a select that reads "All integrations".
  const integrationNames = await integrationFilterNames(db, { list: 'runs' });
  const {
    data: filter,
    problems,
    kept: cleaned,
  } = parseSearchParams(ZRunFilter, reversedRange ? { ...params, from: undefined, to: undefined } : params, {
    known: { integration: { what: 'integration', names: integrationNames } },
  });
  const [shownFrom, shownTo] = reversedRange ? [rangeFrom, rangeTo] : [filter.from, filter.to];
  const raw: Record<string, string | undefined> = cleaned;
  const [page, integrations, bulk] = await Promise.all([listRuns(db, cleaned), listInventory(db), listBulkOperations(db, { limit: 5 })]);
  const now = new Date();
  const cautions = Object.fromEntries(integrations.map((row) => [row.name, retryCautions(row, now)]));
  // "Retry all matching": a list of failed or cancelled runs with more of them than this page shows.
  const canOperate = hasRole(user.role, 'operator');
  const retryStatus = filter.status === 'failed' || filter.status === 'cancelled' ? filter.status : null;
  const matchingFilter =
    canOperate && retryStatus && filter.retried !== 'only' && !reversedRange
      ? {
          integration: filter.integration,
          status: retryStatus,
          trigger: filter.trigger,
          dryRun: filter.dryRun,
          retried: filter.retried,
          bulk: filter.bulk,
          from: filter.from?.toISOString(),
          to: filter.to?.toISOString(),
        }
      : null;
  // On a first page with no next one the list holds every match: nothing more to offer, and no
  // count to pay for (a filter few runs match reads the whole range once already, in listRuns).
  const matching =
    matchingFilter && (page.next || cleaned.after)
      ? await countRetryableRuns(db, { ...matchingFilter, from: filter.from, to: filter.to }, BULK_LIMIT + 1)
      : 0;
  const retryableShown = page.items.filter((r) => (r.status === 'failed' || r.status === 'cancelled') && !r.retriedBy);
  const nextHref = page.next ? `/runs?${new URLSearchParams({ ...cleaned, after: page.next }).toString()}` : null;
  const filtered = Boolean(reversedRange) || Object.keys(cleaned).some((k) => k !== 'after' && k !== 'limit');
  return (
    <div className="flex flex-col gap-4">
      <PageHeader title="Runs" description="Every requested execution, newest first. Active runs update live." />
      <IgnoredParams problems={problems} />
      {/*
        Keyed by the address: a select keeps the option it showed when the page re-renders with
        another defaultValue (Clear, Back, Forward), so the form would name a filter the list lacks.
        Prefixed: the table below is keyed by the same address, and twin keys leave stale elements.
      */}
      <form
        // Back to a filtered page loads it again: without this Chromium restores the controls'
        // last values there, so the form claimed a filter the list (from the address) did not have.
        autoComplete="off"
        key={`filters?${new URLSearchParams(cleaned).toString()}`}
        className="flex flex-wrap items-end gap-2"
        aria-label="Filter runs"
      >
        {filter.retried ? <input type="hidden" name="retried" value={filter.retried} /> : null}
        {filter.bulk ? <input type="hidden" name="bulk" value={filter.bulk} /> : null}
        <IntegrationSelect integrations={integrations} defaultValue={filter.integration ?? ''} />
        {/*
          One width for every label, whichever is chosen, that fits a 360 px phone: a native select is
          as wide as its longest option, and "active (queued, running, retrying, deferred)" made it
          345 px. The four active statuses are the next four options.
        */}
        <Select name="status" defaultValue={filter.status ?? ''} aria-label="Status" className="w-48">
          <option value="">Any status</option>
          <option value="active" title={ACTIVE_RUN_STATUSES.join(', ')}>
            active (not finished)
          </option>
          {runStatusEnum.enumValues.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </Select>
        <Select name="trigger" defaultValue={filter.trigger ?? ''} aria-label="Trigger">
          <option value="">Any trigger</option>
          {runTriggerEnum.enumValues.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </Select>
        <Select name="dryRun" defaultValue={filter.dryRun ?? ''} aria-label="Dry-runs">
          <option value="">Real and dry-runs</option>
          <option value="exclude">Real runs only</option>
          <option value="only">Dry-runs only</option>
        </Select>
        {/*
          Chromium makes each part of a date-time input (day, month, year, hours, minutes, AM/PM) a
          tab stop: behind one disclosure they cost one Tab until someone wants a time range.
        */}
        <details className="group relative" open={Boolean(shownFrom || shownTo)}>
          <summary
            className={`flex h-9 cursor-pointer list-none items-center rounded-md border bg-card px-3 text-sm ${reversedRange ? 'border-destructive text-destructive' : ''}`}
          >
            {reversedRange
              ? 'Time: reversed range, not applied'
              : shownFrom || shownTo
                ? `Time: ${shownFrom ? exactTime(shownFrom) : 'any'} – ${shownTo ? exactTime(shownTo) : 'now'}`
                : 'Time range'}
          </summary>
          <div className="mt-2 flex flex-wrap gap-2">
            {/*
              UTC, like every exact time in the console. The value carries seconds and milliseconds
              when the link did (the Overview's count starts at an exact instant), so step="any":
              the default step of 60 s would make such a value invalid and block the form.
            */}
            <label className="flex flex-col gap-1 text-xs text-muted-foreground">
              From (UTC)
              <Input type="datetime-local" step="any" name="from" defaultValue={datetimeLocalValue(shownFrom)} className="w-60" />
            </label>
            <label className="flex flex-col gap-1 text-xs text-muted-foreground">
              To (UTC)
              <Input
                type="datetime-local"
                step="any"
                name="to"
                defaultValue={datetimeLocalValue(shownTo)}
                className="w-60"
                aria-invalid={Boolean(reversedRange)}
                aria-describedby={reversedRange ? 'runs-to-error' : undefined}
              />
            </label>
          </div>
          {reversedRange ? (
            <div className="mt-1 max-w-[30rem]">
              <FieldError id="runs-to-error" message={`${reversedRange} The list below is not filtered by time until then.`} />
            </div>
          ) : null}
        </details>
        <Button type="submit" variant="outline">
          Filter
        </Button>
        {filtered ? (
          <Button asChild variant="ghost">
            <Link href="/runs">Clear</Link>
          </Button>
        ) : null}
      </form>
      {filter.bulk ? (
        <p className="text-sm text-muted-foreground" data-testid="bulk-filter">
          Retries of bulk retry {filter.bulk.slice(0, 8)}
        </p>
      ) : null}
      {/* Each sibling's key prefixed: with no bulk retry and no filter both were '', and React
          kept a frozen copy of the first bulk retry's card beside the live one. */}
      <BulkOperations
        key={`bulk:${bulk.map((b) => `${b.id}:${b.status}`).join(',')}`}
        initial={JSON.parse(JSON.stringify(bulk))}
        canOperate={canOperate}
      />
      {matchingFilter && matching > retryableShown.length ? (
        <RetryMatching
          key={`retry-matching?${new URLSearchParams(cleaned).toString()}:${matching}`}
          filter={matchingFilter}
          count={matching}
          limit={BULK_LIMIT}
          cautions={
            matchingFilter.integration
              ? (cautions[matchingFilter.integration] ?? [])
              : cautionsFor(
                  cautions,
                  retryableShown.map((r) => ({ id: '', integration: r.integration })),
                )
          }
        />
      ) : null}
      <RunsTable
        renderedAt={Date.now()}
        // Another page or filter is another list: nothing ticked on the last one stays selected.
        key={`runs?${new URLSearchParams(cleaned).toString()}`}
        initial={JSON.parse(JSON.stringify(page.items))}
        canOperate={canOperate}
        cautions={cautions}
        emptyText={
          filtered
            ? 'No run matches these filters. Clear them to see every run.'
            : 'No runs yet. Start one from an integration page with Run now.'
        }
      />
      <div className="flex justify-between text-sm">
        {raw.after ? (
          <Link
            href={`/runs?${new URLSearchParams(Object.fromEntries(Object.entries(cleaned).filter(([k]) => k !== 'after'))).toString()}`}
            className="hover:underline"
          >
            ← Newest
          </Link>
        ) : (
          <span />
        )}
        {nextHref ? (
          <Link href={nextHref} className="hover:underline">
            Older runs →
          </Link>
        ) : null}
      </div>
    </div>
  );
}
