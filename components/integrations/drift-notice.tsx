import Link from 'next/link';
import { RelativeTime } from '@/components/common/relative-time';
import type { IntegrationDriftNotice } from '@/lib/platform/governance/config-drift';

/**
 * On every page of an integration: the last full audit check found its configuration changed in
 * the database, not through the console, so what Configuration shows (and the worker runs) is
 * not what History says was saved. Says what differs and how to put it back, with the link to
 * the version a revert restores.
 */
export function DriftNotice({ name, notice, isAdmin }: { name: string; notice: IntegrationDriftNotice | null; isAdmin: boolean }) {
  if (!notice) return null;
  const asOf = notice.newestChange === null ? 'original' : String(notice.newestChange);
  const href = `/integrations/${encodeURIComponent(name)}/history?asOf=${asOf}`;
  const version = notice.newestChange === null ? 'its original configuration' : 'its newest change';
  const signingSecret = notice.messages.some((m) => m.includes('signing secret'));
  return (
    <div role="alert" data-testid="integration-drift" className="rounded-md bg-destructive/10 p-3 text-sm text-destructive">
      <p>
        The full audit check <RelativeTime value={notice.at} /> found this integration&apos;s configuration changed outside the console,
        with no audit row: it is not the configuration History shows as saved.
      </p>
      <ul className="my-2 list-disc pl-5 wrap-anywhere">
        {notice.messages.map((message) => (
          <li key={message}>{message}</li>
        ))}
      </ul>
      <p>
        {isAdmin ? (
          <>
            To put the audited values back (fields never saved go back to their registered values),{' '}
            <Link href={href} className="font-medium underline underline-offset-2">
              open {version} in History
            </Link>{' '}
            and revert to it{signingSecret ? '; revoke a signing secret again on Events' : ''}. The next full check confirms it.
          </>
        ) : (
          <>
            An admin puts the audited values back from{' '}
            <Link href={href} className="font-medium underline underline-offset-2">
              History
            </Link>
            ; the next full check confirms it.
          </>
        )}
      </p>
    </div>
  );
}
