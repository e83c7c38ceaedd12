import { RelativeTime } from '@/components/common/relative-time';
import type { RetryCaution } from '@/lib/platform/read-models/retry-caution';

/** What to know before retrying (retry-caution.ts), in a retry dialog: nothing when all is well. */
export function RetryCautions({ cautions }: { cautions: readonly RetryCaution[] }) {
  if (cautions.length === 0) return null;
  return (
    <ul aria-label="Before you retry" data-testid="retry-cautions" className="flex flex-col gap-1 rounded-md bg-warning/10 p-2 text-sm">
      {cautions.map((c) => (
        <li key={`${c.integration}:${c.kind}`}>
          {c.before}
          {c.at ? <RelativeTime value={c.at} /> : null}
          {c.after}
        </li>
      ))}
    </ul>
  );
}
