import { Badge } from '@/components/ui/badge';
import type { IntegrationState } from '@/lib/platform/read-models/inventory';

const STATES: Record<IntegrationState, { label: string; variant: 'success' | 'warning' | 'destructive' | 'secondary' | 'outline' }> = {
  healthy: { label: 'Healthy', variant: 'success' },
  new: { label: 'No runs yet', variant: 'outline' },
  failing: { label: 'Failing', variant: 'destructive' },
  breaker_open: { label: 'Breaker open', variant: 'destructive' },
  credentials_failing: { label: 'Credentials failing', variant: 'destructive' },
  paused: { label: 'Paused', variant: 'warning' },
  orphaned: { label: 'Orphaned', variant: 'secondary' },
};

export const STATE_LABELS = Object.fromEntries(Object.entries(STATES).map(([k, v]) => [k, v.label])) as Record<IntegrationState, string>;

export function StateBadge({ state }: { state: IntegrationState }) {
  const s = STATES[state];
  return <Badge variant={s.variant}>{s.label}</Badge>;
}
