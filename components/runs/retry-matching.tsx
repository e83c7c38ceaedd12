'use client';

import { useQueryClient } from '@tanstack/react-query';
import Link from 'next/link';
import { useRouter } from 'next/navigation';
import { useState, useTransition } from 'react';
import { toast } from 'sonner';
import { retryMatchingAction } from '@/app/(console)/runs/actions';
import { LinkedIds } from '@/components/common/linked-ids';
import { Button } from '@/components/ui/button';
import { Dialog, DialogClose, DialogContent, DialogDescription, DialogFooter, DialogHeader, DialogTitle } from '@/components/ui/dialog';
import type { RunTrigger } from '@/db/schema';
import type { RetryCaution } from '@/lib/platform/read-models/retry-caution';
import { plural } from '@/lib/platform/words';
import { DEFAULT_BULK_PACE_PER_MINUTE } from './bulk-pace';
import { BulkPaceSelect } from './bulk-pace-select';
import { RetryCautions } from './retry-cautions';

/** The Runs list's filter a "Retry all matching" retries (as the page's address has it). */
export interface RetryMatchingFilter {
  integration?: string;
  status: 'failed' | 'cancelled';
  trigger?: RunTrigger;
  dryRun?: 'only' | 'exclude';
  retried?: 'exclude';
  bulk?: string;
  /** ISO 8601 instants. */
  from?: string;
  to?: string;
}

/** The filter in words, for the confirmation: "failed runs of crm-sync, trigger manual, …". */
export function filterWords(f: RetryMatchingFilter): string {
  const parts = [`${f.status} runs${f.integration ? ` of ${f.integration}` : ' of every integration'}`];
  if (f.trigger) parts.push(`trigger ${f.trigger}`);
  if (f.dryRun === 'only') parts.push('dry-runs only');
  if (f.dryRun === 'exclude') parts.push('real runs only');
  if (f.from) parts.push(`created at or after ${f.from}`);
  if (f.to) parts.push(`created at or before ${f.to}`);
  if (f.bulk) parts.push(`retries of bulk retry ${f.bulk.slice(0, 8)}`);
  return parts.join(', ');
}

/**
 * "Retry all N matching": every run the filtered list matches (failed or cancelled) that nobody
 * retried yet, as one bulk retry, oldest first and at most `limit`. `count` is counted up to
 * limit + 1: more than `limit` is said as such.
 */
export function RetryMatching({
  filter,
  count,
  limit,
  cautions,
}: {
  filter: RetryMatchingFilter;
  count: number;
  limit: number;
  cautions: readonly RetryCaution[];
}) {
  const router = useRouter();
  const queryClient = useQueryClient();
  const [open, setOpen] = useState(false);
  const [pace, setPace] = useState(DEFAULT_BULK_PACE_PER_MINUTE);
  const [pending, startTransition] = useTransition();
  const capped = count > limit;
  const taken = Math.min(count, limit);
  const label = capped ? `Retry the oldest ${limit} of more than ${limit} matching` : `Retry all ${count} matching`;

  const retry = () =>
    startTransition(async () => {
      const result = await retryMatchingAction({
        ...filter,
        // The default pace is left to the platform, as Retry selected does.
        pace: pace === DEFAULT_BULK_PACE_PER_MINUTE ? undefined : { runs: pace, per: '1m' },
      });
      setOpen(false);
      if (result.ok) {
        setPace(DEFAULT_BULK_PACE_PER_MINUTE);
        void queryClient.invalidateQueries({ queryKey: ['bulk-operations'] });
        if (result.data.queued === 0) toast.info('No matching run is left to retry: they were retried meanwhile.');
        else
          toast.success(
            <span>
              {plural(result.data.queued, 'retry', 'retries')} queued as one bulk operation.{' '}
              <Link className="underline" href="/runs#bulk-operations">
                Follow its progress
              </Link>
            </span>,
          );
      } else {
        toast.error(<LinkedIds text={result.error} />);
      }
      router.refresh();
    });

  return (
    <div className="flex items-center gap-2 text-sm">
      <Button
        size="sm"
        variant="outline"
        disabled={pending}
        onClick={() => {
          setPace(DEFAULT_BULK_PACE_PER_MINUTE);
          setOpen(true);
        }}
      >
        {label}
      </Button>
      <span className="text-muted-foreground">Every {filter.status} run this filter matches, not only this page.</span>
      <Dialog open={open} onOpenChange={setOpen}>
        <DialogContent>
          <DialogHeader>
            <DialogTitle>{capped ? `Retry the oldest ${limit} matching runs?` : `Retry all ${plural(count, 'matching run')}?`}</DialogTitle>
            <DialogDescription>
              Retries the {filter.status} runs nobody has retried yet that match: <strong>{filterWords(filter)}</strong>. They are taken
              oldest first, at most {limit}
              {capped ? ` (more than ${limit} match: retry again for the rest)` : ''}; runs retried meanwhile are skipped. Each starts again
              as a new run with the same input, linked to the one it retries. They start at most {pace} per minute per integration, and not
              at all while an integration&apos;s breaker is open (they wait, queued behind it).
              {taken > 4 * pace
                ? ` With ${taken} runs the last ones start in about ${Math.ceil(taken / pace)} minutes; you can cancel what has not started or change the pace on its card.`
                : ''}
            </DialogDescription>
          </DialogHeader>
          <RetryCautions cautions={cautions} />
          <BulkPaceSelect id="retry-matching-pace" value={pace} onChange={setPace} />
          <DialogFooter>
            <DialogClose asChild>
              <Button variant="outline">Cancel</Button>
            </DialogClose>
            <Button disabled={pending} onClick={retry}>
              {pending ? 'Starting…' : capped ? `Retry the oldest ${limit}` : `Retry ${plural(count, 'run')}`}
            </Button>
          </DialogFooter>
        </DialogContent>
      </Dialog>
    </div>
  );
}
