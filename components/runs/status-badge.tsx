import { Badge } from '@/components/ui/badge';
import type { RunStatus } from '@/db/schema';

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
