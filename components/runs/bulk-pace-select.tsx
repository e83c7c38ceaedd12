import { Label } from '@/components/ui/label';
import { Select } from '@/components/ui/select';
import { BULK_PACE_PRESETS, DEFAULT_BULK_PACE_PER_MINUTE } from './bulk-pace';

/** The pace a bulk retry starts at, in runs per minute per integration: Retry selected and Retry all matching. */
export function BulkPaceSelect({ id, value, onChange }: { id: string; value: number; onChange: (runsPerMinute: number) => void }) {
  return (
    <div className="flex items-center gap-2 text-sm">
      <Label htmlFor={id}>Pace</Label>
      <Select id={id} value={String(value)} onChange={(e) => onChange(Number(e.target.value))}>
        {BULK_PACE_PRESETS.map((n) => (
          <option key={n} value={String(n)}>
            {n} per minute per integration{n === DEFAULT_BULK_PACE_PER_MINUTE ? ' (default)' : ''}
          </option>
        ))}
      </Select>
    </div>
  );
}
