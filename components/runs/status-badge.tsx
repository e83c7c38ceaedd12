import { z } from 'zod';
import { Badge } from '@/components/ui/badge';
import type { RunStatus } from '@/db/schema';
import { ACTIVE_RUN_STATUSES, TERMINAL_RUN_STATUSES } from '@/lib/platform/run-status';

const VARIANT: Record<RunStatus, 'success' | 'warning' | 'destructive' | 'secondary' | 'outline' | 'default'> = {
  queued: 'outline',
  running: 'default',
  retrying: 'warning',
  deferred: 'warning',
  succeeded: 'success',
  failed: 'destructive',
  cancelled: 'secondary',
};

const LABEL: Record<RunStatus, string> = {
  queued: 'Queued',
  running: 'Running',
  retrying: 'Retrying',
  deferred: 'Deferred (circuit open)',
  succeeded: 'Succeeded',
  failed: 'Failed',
  cancelled: 'Cancelled',
};

export function RunStatusBadge({ status, dryRun, hold }: { status: RunStatus; dryRun?: boolean; hold?: string | null }) {
  const label =
    status === 'queued' && hold === 'breaker'
      ? 'Queued behind breaker'
      : status === 'queued' && hold === 'pace'
        ? 'Queued (bulk pace)'
        : LABEL[status];
  return (
    <span className="inline-flex items-center gap-1">
      <Badge variant={status === 'queued' && hold === 'breaker' ? 'warning' : VARIANT[status]}>{label}</Badge>
      {dryRun ? <Badge variant="outline">dry-run</Badge> : null}
    </span>
  );
}

/** A run status as the API sends it: one of the platform's statuses (active or terminal). */
export const ZRunStatus = z.enum([...ACTIVE_RUN_STATUSES, ...TERMINAL_RUN_STATUSES]);
