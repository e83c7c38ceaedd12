import { Badge } from '@/components/ui/badge';
import { PROBLEM_STATES, type IntegrationState } from '@/lib/platform/read-models/inventory';

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

/**
 * An integration's state, and under a pause what the pause does not stop: "Paused" with "Breaker
 * open" or "Failing" beside it, so pausing a failing integration does not make it read as quiet.
 */
export function StateBadges({ state, health }: { state: IntegrationState; health: IntegrationState }) {
  const hidden = health !== state && PROBLEM_STATES.includes(health);
  return (
    <span className="inline-flex flex-wrap items-center gap-1">
      <StateBadge state={state} />
      {hidden ? <StateBadge state={health} /> : null}
    </span>
  );
}
