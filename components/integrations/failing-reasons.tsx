import Link from 'next/link';
import { RelativeTime } from '@/components/common/relative-time';
import { cn } from '@/components/ui/utils';
import type { FailingReason } from '@/lib/platform/read-models/inventory';

/**
 * Why an integration reads Failing, one line per reason, each with the link to where it is acted
 * on: "Failing: 3 failed webhook events (open incident since 2 hours ago) · Review failed events".
 * `lead` is said before each reason ("Failing: "); beside the state badge, the badge says it.
 */
export function FailingReasons({ reasons, lead = '', className }: { reasons: FailingReason[]; lead?: string; className?: string }) {
  if (reasons.length === 0) return null;
  return (
    <ul aria-label="Why it is failing" data-testid="failing-reasons" className={cn('flex flex-col gap-1', className)}>
      {reasons.map((reason) => (
        <li key={reason.kind}>
          {lead}
          {reason.text}{' '}
          {reason.incidentOpen ? (
            <>
              (open incident since <RelativeTime value={reason.since} />)
            </>
          ) : (
            <RelativeTime value={reason.since} />
          )}
          {' · '}
          <Link href={reason.href} className="font-medium underline underline-offset-2">
            {reason.action}
          </Link>
        </li>
      ))}
    </ul>
  );
}
