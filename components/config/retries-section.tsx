import { FieldError } from '@/components/common/field-error';
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from '@/components/ui/card';
import { Input } from '@/components/ui/input';
import { Label } from '@/components/ui/label';
import type { SectionProps } from './schedule-section';

type TextField = 'retryDelays' | 'retryBudget' | 'breakerFailures' | 'breakerCooldown' | 'attemptTimeout';

const FIELDS: { key: TextField; label: string; placeholder?: string; inputMode?: 'decimal' | 'numeric' }[] = [
  { key: 'retryDelays', label: 'Retry delays', placeholder: '30s, 2m, 5m' },
  {
    key: 'retryBudget',
    label: 'Retry budget (% of attempts in the last hour; empty = none)',
    placeholder: 'e.g. 20',
    inputMode: 'decimal',
  },
  { key: 'breakerFailures', label: 'Breaker opens after (consecutive failures)', inputMode: 'numeric' },
  { key: 'breakerCooldown', label: 'Breaker cooldown', placeholder: '1m' },
  { key: 'attemptTimeout', label: 'Attempt time limit (1s to 3h)', placeholder: '1h' },
];

/** Retry delays, retry budget, the circuit breaker's threshold and cooldown, and an attempt's time limit. */
export function RetriesSection({ state, set, err, disabled }: SectionProps) {
  return (
    <Card>
      <CardHeader>
        <CardTitle>Retries and circuit breaker</CardTitle>
        <CardDescription>
          Delays between attempts (attempts = delays + 1); the breaker opens after consecutive failures of the external system; an attempt
          still running at its time limit is stopped and retried after the next delay (a change applies from the next attempt).
        </CardDescription>
      </CardHeader>
      <CardContent className="grid gap-4 md:grid-cols-2">
        {FIELDS.map(({ key, label, placeholder, inputMode }) => (
          <div key={key} className="grid gap-1.5">
            <Label htmlFor={key}>{label}</Label>
            <Input
              id={key}
              inputMode={inputMode}
              value={state[key]}
              disabled={disabled}
              onChange={(e) => set(key, e.target.value)}
              placeholder={placeholder}
              aria-invalid={Boolean(err(key))}
              aria-describedby={`${key}-error`}
            />
            <FieldError id={`${key}-error`} message={err(key)} />
          </div>
        ))}
      </CardContent>
    </Card>
  );
}
