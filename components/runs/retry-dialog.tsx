'use client';

import Link from 'next/link';
import { useRouter } from 'next/navigation';
import { useState, useTransition } from 'react';
import { toast } from 'sonner';
import { retryRunAction } from '@/app/(console)/runs/actions';
import { LinkedIds } from '@/components/common/linked-ids';
import { Button } from '@/components/ui/button';
import { Dialog, DialogContent, DialogDescription, DialogFooter, DialogHeader, DialogTitle, DialogTrigger } from '@/components/ui/dialog';
import { Label } from '@/components/ui/label';
import { Textarea } from '@/components/ui/textarea';
import type { RetryCaution } from '@/lib/platform/read-models/retry-caution';
import { RetryCautions } from './retry-cautions';

/**
 * Retry with an optional reason (stored on the new run and in the audit trail); warns about old
 * runs and an integration still in trouble. The one retry confirmation of the console: the run page and every row of the Runs table
 * open this same dialog. `after`: open the new run (run page) or stay and refresh (a list).
 */
export function RetryDialog({
  runId,
  ageDays,
  after = 'open',
  disabled = false,
  triggerLabel,
  onRetried,
  cautions = [],
}: {
  runId: string;
  ageDays: number;
  /** What to know first: the integration's breaker open, its last run failed too (retry-caution.ts). */
  cautions?: readonly RetryCaution[];
  after?: 'open' | 'refresh';
  disabled?: boolean;
  /** Accessible name of the trigger when "Retry" alone is ambiguous (a list of runs). */
  triggerLabel?: string;
  /** Called once the retry started (a list uses it to move focus off the trigger it then removes). */
  onRetried?: (newRunId: string) => void;
}) {
  const router = useRouter();
  const [open, setOpen] = useState(false);
  const [reason, setReason] = useState('');
  const [pending, start] = useTransition();
  const reasonId = `retry-reason-${runId}`;
  const retry = () =>
    start(async () => {
      const result = await retryRunAction({ runId, reason: reason.trim() || undefined });
      setOpen(false);
      if (result.ok) {
        setReason('');
        onRetried?.(result.data.runId);
        toast.success(
          <span>
            Retry started as run{' '}
            <Link className="font-mono underline" href={`/runs/${result.data.runId}`}>
              {result.data.runId.slice(0, 8)}
            </Link>
            .{' '}
            <Link className="underline" href={`/runs/${result.data.runId}`}>
              Open the new run
            </Link>
          </span>,
        );
        if (after === 'open') router.push(`/runs/${result.data.runId}`);
        else router.refresh();
      } else if (typeof result.details?.existingRetryId === 'string') {
        toast.error(
          <span>
            <LinkedIds text={result.error} />{' '}
            <Link className="underline" href={`/runs/${result.details.existingRetryId}`}>
              Open that retry
            </Link>
          </span>,
        );
      } else toast.error(<LinkedIds text={result.error} />);
      // Refused: the run most likely changed meanwhile (retried by someone else); show it as it is.
      if (!result.ok) router.refresh();
    });
  return (
    <Dialog open={open} onOpenChange={setOpen}>
      <DialogTrigger asChild>
        <Button size="sm" variant={after === 'open' ? 'default' : 'outline'} disabled={disabled || pending} aria-label={triggerLabel}>
          Retry
        </Button>
      </DialogTrigger>
      <DialogContent>
        <DialogHeader>
          <DialogTitle>Retry run {runId.slice(0, 8)}?</DialogTitle>
          <DialogDescription>
            A new run starts with the same input, linked to this one. A run is retried once: later retries start from the new run.
            {ageDays > 7
              ? ` This run is ${Math.floor(ageDays)} days old: the external system and the data may have moved on since; check that redoing it is still wanted.`
              : ''}
          </DialogDescription>
        </DialogHeader>
        <RetryCautions cautions={cautions} />
        <div className="grid gap-1.5">
          <Label htmlFor={reasonId}>Reason (optional, kept with the run and in the audit trail)</Label>
          <Textarea
            id={reasonId}
            maxLength={500}
            value={reason}
            onChange={(e) => setReason(e.target.value)}
            placeholder="e.g. CRM maintenance is over"
          />
        </div>
        <DialogFooter>
          <Button variant="outline" onClick={() => setOpen(false)}>
            Cancel
          </Button>
          <Button disabled={pending} onClick={retry}>
            {pending ? 'Starting…' : ageDays > 7 ? 'Retry the old run' : 'Retry run'}
          </Button>
        </DialogFooter>
      </DialogContent>
    </Dialog>
  );
}
