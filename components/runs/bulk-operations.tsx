'use client';

import { useQuery, useQueryClient } from '@tanstack/react-query';
import Link from 'next/link';
import { useRouter } from 'next/navigation';
import { useState, useTransition } from 'react';
import { toast } from 'sonner';
import { z } from 'zod';
import { cancelBulkAction, setBulkPaceAction } from '@/app/(console)/runs/actions';
import { ConfirmAction } from '@/components/common/confirm-action';
import { LinkedIds } from '@/components/common/linked-ids';
import { LivePaused } from '@/components/common/live-paused';
import { RelativeTime } from '@/components/common/relative-time';
import { fetchJson } from '@/components/lib/fetch-json';
import { Badge } from '@/components/ui/badge';
import { Button } from '@/components/ui/button';
import { Progress } from '@/components/ui/progress';
import { Select } from '@/components/ui/select';
import { paceWords, plural } from '@/lib/platform/words';
import { BULK_PACE_PRESETS } from './bulk-pace';

const ZCount = z.number().int().nonnegative();

/** A bulk retry as GET /api/bulk-operations answers it (and the page renders it first). */
const ZBulkItem = z.object({
  id: z.string(),
  createdBy: z.string(),
  createdAt: z.string(),
  reason: z.string().nullable(),
  total: ZCount,
  status: z.enum(['active', 'done', 'cancelled']),
  pace: z.object({ runs: z.number(), perMs: z.number() }),
  integrations: z.array(z.string()),
  progress: z.object({
    queued: ZCount,
    behindBreaker: ZCount,
    held: ZCount,
    started: ZCount,
    succeeded: ZCount,
    failed: ZCount,
    cancelled: ZCount,
  }),
});
type BulkItem = z.output<typeof ZBulkItem>;
const ZBulkItems = z.object({ items: z.array(ZBulkItem) });

/**
 * Speeds up or slows down the retries still held (the external system is healthy again, or
 * struggling): the dispatcher follows the new pace from its next turn, no cancel and retry needed.
 */
function ChangePace({ id, pace }: { id: string; pace: BulkItem['pace'] }) {
  const queryClient = useQueryClient();
  const router = useRouter();
  const current = pace.perMs === 60_000 && BULK_PACE_PRESETS.includes(pace.runs) ? String(pace.runs) : '';
  const [choice, setChoice] = useState(current);
  const [pending, start] = useTransition();
  const change = () =>
    start(async () => {
      const runs = Number(choice);
      const result = await setBulkPaceAction({ id, pace: { runs, per: '1m' } });
      if (result.ok) toast.success(`Pace changed to ${runs} per minute per integration for the retries not released yet.`);
      else {
        toast.error(<LinkedIds text={result.error} />);
        // Refused, most likely because the operation ended meanwhile: show it as it is now.
        router.refresh();
      }
      await queryClient.invalidateQueries({ queryKey: ['bulk-operations'] });
    });
  return (
    <div className="flex items-center gap-2">
      <Select
        aria-label={`New pace of bulk retry ${id.slice(0, 8)}`}
        className="h-8 text-xs"
        value={choice}
        onChange={(e) => setChoice(e.target.value)}
      >
        {current ? null : <option value="">{paceWords(pace.runs, pace.perMs)} (current)</option>}
        {BULK_PACE_PRESETS.map((n) => (
          <option key={n} value={String(n)}>
            {n} per minute{String(n) === current ? ' (current)' : ''}
          </option>
        ))}
      </Select>
      <Button size="sm" variant="outline" disabled={pending || choice === '' || choice === current} onClick={change}>
        {pending ? 'Changing…' : 'Change pace'}
      </Button>
    </div>
  );
}

/** Bulk retries as single items with live progress; an operator can change the pace of the retries still held, or cancel what has not started. */
export function BulkOperations({ initial, canOperate }: { initial: BulkItem[]; canOperate: boolean }) {
  const { data, error } = useQuery({
    queryKey: ['bulk-operations'],
    initialData: initial,
    initialDataUpdatedAt: 0,
    refetchInterval: (query) => ((query.state.data ?? []).some((b) => b.status === 'active') ? 2_000 : false),
    queryFn: async (): Promise<BulkItem[]> => (await fetchJson('/api/bulk-operations', ZBulkItems)).items,
  });
  const items = data ?? [];
  if (items.length === 0) return null;
  return (
    <section id="bulk-operations" aria-label="Bulk retries" className="flex flex-col gap-2">
      <h2 className="text-lg font-semibold">Bulk retries</h2>
      <LivePaused error={error} what="Progress of the bulk retries" />
      <ul className="grid gap-2 md:grid-cols-2">
        {items.map((b) => {
          const p = b.progress;
          const finished = p.succeeded + p.failed + p.cancelled;
          return (
            <li key={b.id} className="rounded-lg border bg-card p-3 text-sm" data-testid="bulk-operation">
              <div className="flex flex-wrap items-center gap-2">
                <Link href={`/runs?bulk=${b.id}`} className="font-medium hover:underline">
                  {plural(b.total, 'retry', 'retries')} of {b.integrations.join(', ')}
                </Link>
                <Badge variant={b.status === 'active' ? 'default' : b.status === 'cancelled' ? 'secondary' : 'success'}>{b.status}</Badge>
                <span className="text-xs text-muted-foreground">
                  by {b.createdBy}, <RelativeTime value={b.createdAt} />
                </span>
              </div>
              <Progress value={finished} max={b.total} label={`Bulk retry ${b.id.slice(0, 8)} progress`} className="my-2" />
              <p className="text-xs text-muted-foreground">
                queued {p.queued}
                {/* In progress now, not "started so far": "started 0 · failed 3" read as if none had ever run. */}
                {p.behindBreaker ? ` (${p.behindBreaker} behind an open breaker)` : ''} · running {p.started} · succeeded {p.succeeded} ·{' '}
                {/* Which ones failed is what an operator looks for next: the Runs list filtered to them. */}
                {p.failed ? (
                  <Link href={`/runs?bulk=${b.id}&status=failed`} className="font-medium text-destructive underline">
                    failed {p.failed}
                  </Link>
                ) : (
                  `failed ${p.failed}`
                )}
                {/* Cancelled before they started, their failed runs stay retried: the way to them is here. */}
                {p.cancelled ? (
                  <>
                    {' · '}
                    <Link href={`/runs?bulk=${b.id}&status=cancelled`} className="font-medium underline">
                      cancelled {p.cancelled}
                    </Link>
                  </>
                ) : (
                  ''
                )}{' '}
                · pace {paceWords(b.pace.runs, b.pace.perMs)} per integration
              </p>
              {b.reason ? <p className="text-xs">Reason: {b.reason}</p> : null}
              {canOperate && b.status === 'active' && p.queued > 0 ? (
                <div className="mt-2 flex flex-wrap items-center gap-2">
                  {p.held > 0 ? <ChangePace key={`${b.pace.runs}/${b.pace.perMs}`} id={b.id} pace={b.pace} /> : null}
                  <ConfirmAction
                    label={`Cancel the ${p.queued} not started`}
                    title={`Cancel the ${plural(p.queued, 'retry', 'retries')} not started?`}
                    description={
                      <>
                        {p.queued === 1 ? 'It' : `All ${p.queued}`} will not start; runs already started carry on. The failed runs they
                        retry stay retried: to retry them later, retry the cancelled runs (Runs, status Cancelled, select them and Retry
                        selected).
                      </>
                    }
                    confirmLabel={`Cancel ${plural(p.queued, 'retry', 'retries')}`}
                    dismissLabel="Keep them queued"
                    destructive
                    action={cancelBulkAction.bind(null, { id: b.id })}
                    successMessage="Cancelled the retries that had not started"
                  />
                </div>
              ) : null}
            </li>
          );
        })}
      </ul>
    </section>
  );
}
