'use client';

import { useQuery, useQueryClient } from '@tanstack/react-query';
import Link from 'next/link';
import { useRouter } from 'next/navigation';
import { useEffect, useMemo, useRef, useState, useTransition } from 'react';
import { toast } from 'sonner';
import { z } from 'zod';
import { retryRunsAction } from '@/app/(console)/runs/actions';
import { EmptyState } from '@/components/common/empty-state';
import { LinkedIds } from '@/components/common/linked-ids';
import { LivePaused } from '@/components/common/live-paused';
import { RelativeTime } from '@/components/common/relative-time';
import { fetchJson } from '@/components/lib/fetch-json';
import { Button } from '@/components/ui/button';
import { Dialog, DialogClose, DialogContent, DialogDescription, DialogFooter, DialogHeader, DialogTitle } from '@/components/ui/dialog';
import { Progress } from '@/components/ui/progress';
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from '@/components/ui/table';
import type { RunStatus } from '@/db/schema';
import { cautionsFor, type RetryCaution } from '@/lib/platform/read-models/retry-caution';
import { progressText, triggerWords } from '@/lib/platform/read-models/run-text';
import { isActiveRunStatus } from '@/lib/platform/run-status';
import { plural } from '@/lib/platform/words';
import { DEFAULT_BULK_PACE_PER_MINUTE } from './bulk-pace';
import { BulkPaceSelect } from './bulk-pace-select';
import { RetryCautions } from './retry-cautions';
import { RetryDialog } from './retry-dialog';
import { RunDuration } from './run-duration';
import { RunStatusBadge, ZRunStatus } from './status-badge';

export interface RunRow {
  id: string;
  integration: string;
  trigger: string;
  dryRun: boolean;
  status: RunStatus;
  triggeredBy: string;
  retryOf: string | null;
  retriedBy: string | null;
  attemptCount: number;
  maxAttempts: number;
  progressDone: number | null;
  progressTotal: number | null;
  errorMessage: string | null;
  nextAttemptAt: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  hold: string | null;
  bulkOperationId: string | null;
}

/** What GET /api/runs/status answers for each run: what changes while it is active. */
export const ZStatusUpdates = z.object({
  items: z.array(
    z.object({
      id: z.string(),
      status: ZRunStatus,
      attemptCount: z.number(),
      progressDone: z.number().nullable(),
      progressTotal: z.number().nullable(),
      nextAttemptAt: z.string().nullable(),
      finishedAt: z.string().nullable(),
      errorMessage: z.string().nullable(),
      hold: z.string().nullable(),
    }),
  ),
});
type StatusUpdate = z.output<typeof ZStatusUpdates>['items'][number];

/**
 * Retry is offered on a failed or cancelled run that nobody retried yet (retry the newest run of a
 * chain), as the API allows: the retries of a bulk retry cancelled before they started are retried
 * from the list of cancelled runs, not only with the API.
 */
export function retryable(row: Pick<RunRow, 'status' | 'retriedBy' | 'dryRun'>): boolean {
  return (row.status === 'failed' || row.status === 'cancelled') && !row.retriedBy;
}

export function RunsTable({
  initial,
  canOperate,
  emptyText,
  renderedAt,
  cautions = {},
  showIntegration = true,
}: {
  initial: RunRow[];
  canOperate: boolean;
  emptyText: string;
  /** Per integration, what to know before retrying its runs (retry-caution.ts). */
  cautions?: Readonly<Record<string, readonly RetryCaution[]>>;
  /** False on one integration's page, where every row would name it. */
  showIntegration?: boolean;
  /** The server's clock when it rendered the rows (Date.now()): active runs' durations start from it. */
  renderedAt: number;
}) {
  const router = useRouter();
  const queryClient = useQueryClient();
  const [ticked, setTicked] = useState<Set<string>>(new Set());
  const [confirmBulk, setConfirmBulk] = useState(false);
  const [bulkPace, setBulkPace] = useState(DEFAULT_BULK_PACE_PER_MINUTE);
  const [pending, startTransition] = useTransition();
  const activeIds = useMemo(() => initial.filter((r) => isActiveRunStatus(r.status)).map((r) => r.id), [initial]);

  const live = useQuery({
    queryKey: ['run-status', activeIds],
    enabled: activeIds.length > 0,
    refetchInterval: 2_000,
    queryFn: async (): Promise<StatusUpdate[]> => (await fetchJson(`/api/runs/status?ids=${activeIds.join(',')}`, ZStatusUpdates)).items,
  });
  const updates = new Map((live.data ?? []).map((u) => [u.id, u]));
  const rows = initial.map((r) => ({ ...r, ...(updates.get(r.id) ?? {}) }));
  const finishedKey = (live.data ?? [])
    .filter((u) => !isActiveRunStatus(u.status))
    .map((u) => u.id)
    .join(',');
  useEffect(() => {
    // A run finished: refresh the server-rendered list (retry links, new counts).
    if (finishedKey) router.refresh();
  }, [finishedKey, router]);

  // A run retried from its row (or with Retry selected) loses its Retry button to a "retried →"
  // link once the list is refreshed; focus would fall to the page's body (the dialog gives it back
  // to a button that is then removed or disabled), so it goes to that link instead, in the same row.
  const focusRetriedOf = useRef<string | null>(null);
  useEffect(() => {
    const runId = focusRetriedOf.current;
    if (!runId) return;
    const link = document.querySelector<HTMLElement>(`[data-retried-link="${runId}"]`);
    if (!link) return;
    focusRetriedOf.current = null;
    link.focus();
  }, [initial]);

  const retrySelectable = rows.filter(retryable);
  // Only what is on screen and still retryable counts as selected: a run ticked on another page,
  // or retried by someone else since, must not be retried unseen.
  const selected = new Set(retrySelectable.filter((r) => ticked.has(r.id)).map((r) => r.id));
  // Said in the confirmation: a cancelled run may have been cancelled on purpose.
  const selectedCancelled = retrySelectable.filter((r) => selected.has(r.id) && r.status === 'cancelled').length;
  const toggle = (id: string) => {
    const next = new Set(selected);
    if (next.has(id)) next.delete(id);
    else next.add(id);
    setTicked(next);
  };

  const retrySelected = () =>
    startTransition(async () => {
      const ids = [...selected];
      // The default pace is left to the platform, as before there was a choice.
      const pace = bulkPace === DEFAULT_BULK_PACE_PER_MINUTE ? undefined : { runs: bulkPace, per: '1m' };
      const result = await retryRunsAction({ runIds: ids, pace });
      setConfirmBulk(false);
      if (result.ok) {
        setTicked(new Set());
        setBulkPace(DEFAULT_BULK_PACE_PER_MINUTE);
        // The Retry selected bar is disabled or gone once the list is refreshed: focus goes to the
        // first retried row's "retried →" link rather than to the page's body.
        focusRetriedOf.current = ids[0] ?? null;
        void queryClient.invalidateQueries({ queryKey: ['bulk-operations'] });
        toast.success(
          <span>
            {plural(result.data.runIds.length, 'retry', 'retries')} queued as one bulk operation.{' '}
            <Link className="underline" href="/runs#bulk-operations">
              Follow its progress
            </Link>
          </span>,
        );
        router.refresh();
      } else {
        toast.error(<LinkedIds text={result.error} />);
        // Refused mostly because a run changed meanwhile (retried by someone else): show the list as
        // it is now; a run no longer retryable drops out of the selection, the others stay ticked.
        router.refresh();
      }
    });

  if (rows.length === 0) return <EmptyState title="No runs">{emptyText}</EmptyState>;

  return (
    <div className="flex flex-col gap-2">
      <LivePaused error={activeIds.length > 0 ? live.error : null} what="Live progress of the active runs" />
      {canOperate && retrySelectable.length > 0 ? (
        <div className="flex items-center gap-2 text-sm">
          <Button
            size="sm"
            disabled={selected.size === 0 || pending}
            onClick={() => {
              setBulkPace(DEFAULT_BULK_PACE_PER_MINUTE);
              setConfirmBulk(true);
            }}
          >
            Retry selected ({selected.size})
          </Button>
          <span className="text-muted-foreground">Select failed or cancelled runs to retry them together.</span>
        </div>
      ) : null}
      <Table stacked>
        <TableHeader>
          <TableRow>
            {canOperate ? (
              <TableHead className="w-8">
                <input
                  type="checkbox"
                  aria-label="Select all runs that can be retried"
                  disabled={retrySelectable.length === 0}
                  checked={retrySelectable.length > 0 && retrySelectable.every((r) => selected.has(r.id))}
                  onChange={(e) => setTicked(e.target.checked ? new Set(retrySelectable.map((r) => r.id)) : new Set())}
                />
              </TableHead>
            ) : null}
            <TableHead>Run</TableHead>
            {showIntegration ? <TableHead>Integration</TableHead> : null}
            <TableHead>Status</TableHead>
            <TableHead>Trigger</TableHead>
            <TableHead>Attempts</TableHead>
            <TableHead>Created</TableHead>
            <TableHead>Duration</TableHead>
            {canOperate ? <TableHead className="text-right">Actions</TableHead> : null}
          </TableRow>
        </TableHeader>
        <TableBody>
          {rows.map((row) => (
            <TableRow key={row.id} data-state={selected.has(row.id) ? 'selected' : undefined} data-testid={`run-row-${row.id}`}>
              {canOperate ? (
                <TableCell data-label={retryable(row) ? 'Select' : undefined}>
                  {retryable(row) ? (
                    <input
                      type="checkbox"
                      aria-label={`Select run ${row.id.slice(0, 8)}`}
                      checked={selected.has(row.id)}
                      onChange={() => toggle(row.id)}
                    />
                  ) : null}
                </TableCell>
              ) : null}
              <TableCell data-label="Run">
                <Link href={`/runs/${row.id}`} className="font-mono text-xs hover:underline">
                  {row.id.slice(0, 8)}
                </Link>
              </TableCell>
              {showIntegration ? (
                <TableCell data-label="Integration">
                  <Link href={`/integrations/${encodeURIComponent(row.integration)}`} className="hover:underline">
                    {row.integration}
                  </Link>
                </TableCell>
              ) : null}
              <TableCell className="min-w-40" data-label="Status">
                <RunStatusBadge status={row.status} dryRun={row.dryRun} hold={row.hold} />
                {row.status === 'running' && row.progressTotal ? (
                  <div className="mt-1 flex items-center gap-2 text-xs text-muted-foreground">
                    <Progress
                      value={row.progressDone ?? 0}
                      max={row.progressTotal}
                      label={`Progress of run ${row.id.slice(0, 8)}`}
                      className="w-24"
                    />
                    {progressText(row.progressDone, row.progressTotal)}
                  </div>
                ) : row.status === 'running' && row.progressDone !== null ? (
                  <div className="mt-1 text-xs text-muted-foreground tabular-nums">{progressText(row.progressDone, null)}</div>
                ) : null}
                {row.status === 'retrying' || row.status === 'deferred' ? (
                  <div className="mt-1 text-xs text-muted-foreground">
                    next attempt <RelativeTime value={row.nextAttemptAt} />
                  </div>
                ) : null}
                {row.status === 'failed' && row.errorMessage ? (
                  // Three lines, not one: "GET http://…/contacts answer…" hid the status and the reason.
                  <div className="mt-1 line-clamp-3 max-w-sm text-xs wrap-anywhere text-destructive" title={row.errorMessage}>
                    {row.errorMessage}
                  </div>
                ) : null}
              </TableCell>
              <TableCell className="text-xs" data-label="Trigger">
                {triggerWords(row)}
              </TableCell>
              <TableCell className="tabular-nums" data-label="Attempts">
                {row.attemptCount}/{row.maxAttempts}
              </TableCell>
              <TableCell className="text-xs" data-label="Created">
                <RelativeTime value={row.createdAt} />
              </TableCell>
              <TableCell className="text-xs tabular-nums" data-label="Duration">
                <RunDuration startedAt={row.startedAt} finishedAt={row.finishedAt} renderedAt={renderedAt} />
              </TableCell>
              {canOperate ? (
                <TableCell className="text-right" data-label={retryable(row) || row.retriedBy ? 'Actions' : undefined}>
                  {retryable(row) ? (
                    <RetryDialog
                      runId={row.id}
                      ageDays={(Date.now() - new Date(row.createdAt).getTime()) / 86_400_000}
                      after="refresh"
                      disabled={pending}
                      triggerLabel={`Retry run ${row.id.slice(0, 8)}`}
                      cautions={cautionsFor(cautions, [row])}
                      onRetried={() => {
                        focusRetriedOf.current = row.id;
                      }}
                    />
                  ) : row.retriedBy ? (
                    <Link href={`/runs/${row.retriedBy}`} className="text-xs hover:underline" data-retried-link={row.id}>
                      retried →
                    </Link>
                  ) : null}
                </TableCell>
              ) : null}
            </TableRow>
          ))}
        </TableBody>
      </Table>
      <Dialog open={confirmBulk} onOpenChange={setConfirmBulk}>
        <DialogContent>
          <DialogHeader>
            <DialogTitle>
              Retry {plural(selected.size, 'run')}
              {selectedCancelled > 0 ? ` (${selectedCancelled} of them cancelled)` : ''}?
            </DialogTitle>
            <DialogDescription>
              Each selected run starts again as a new run with the same input, linked to the one it retries. They start at most {bulkPace}{' '}
              per minute per integration, and not at all while an integration&apos;s breaker is open (they wait, queued behind it).
              {selected.size > 4 * bulkPace
                ? ` With ${selected.size} runs the last ones start in about ${Math.ceil(selected.size / bulkPace)} minutes; you can cancel what has not started or change the pace on its card.`
                : ''}
            </DialogDescription>
          </DialogHeader>
          <RetryCautions
            cautions={cautionsFor(
              cautions,
              retrySelectable.filter((r) => selected.has(r.id)),
            )}
          />
          <BulkPaceSelect id="bulk-retry-pace" value={bulkPace} onChange={setBulkPace} />
          <DialogFooter>
            <DialogClose asChild>
              <Button variant="outline">Cancel</Button>
            </DialogClose>
            <Button disabled={pending} onClick={retrySelected}>
              {pending ? 'Starting…' : `Retry ${plural(selected.size, 'run')}`}
            </Button>
          </DialogFooter>
        </DialogContent>
      </Dialog>
    </div>
  );
}
