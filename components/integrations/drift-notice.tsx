import Link from 'next/link';
import { keepDriftedConfigAction } from '@/app/(console)/integrations/[name]/config/actions';
import { ConfirmAction } from '@/components/common/confirm-action';
import { RelativeTime } from '@/components/common/relative-time';
import type { IntegrationDriftNotice } from '@/lib/platform/governance/config-drift';
import type { driftToKeep } from '@/lib/platform/governance/config-keep';

/**
 * On every page of an integration: the last full audit check found its configuration changed in
 * the database, not through the console, so what Configuration shows (and the worker runs) is
 * not what History says was saved. Says what differs and how to put it back, with the link to
 * the version a revert restores.
 */
export function DriftNotice({
  name,
  notice,
  isAdmin,
  keep,
}: {
  name: string;
  notice: IntegrationDriftNotice | null;
  isAdmin: boolean;
  /** For an admin: the configuration fields as stored now that "Keep" would record (driftToKeep). */
  keep: Awaited<ReturnType<typeof driftToKeep>> | null;
}) {
  if (!notice) return null;
  const base = `/integrations/${encodeURIComponent(name)}`;
  const asOf = notice.newestChange === null ? 'original' : String(notice.newestChange);
  const version = notice.newestChange === null ? 'its original configuration' : 'its newest change';
  // What puts each kind of finding back: History's revert only restores configuration fields.
  const configuration = notice.fields.some((f) => f !== 'paused' && !f.startsWith('secret.') && f !== 'added' && f !== 'revoked');
  const paused = notice.fields.includes('paused');
  const secrets = notice.fields.some((f) => f.startsWith('secret.'));
  const signing = notice.fields.some((f) => f === 'added' || f === 'revoked');
  const steps: React.ReactNode[] = [];
  if (configuration || notice.fields.length === 0)
    steps.push(
      <span key="revert">
        <Link href={`${base}/history?asOf=${asOf}`} className="font-medium underline underline-offset-2">
          open {version} in History
        </Link>{' '}
        and revert to it (fields never saved go back to their registered values)
      </span>,
    );
  if (paused)
    steps.push(
      <span key="paused">
        pause or resume it on{' '}
        <Link href={base} className="font-medium underline underline-offset-2">
          Runs &amp; actions
        </Link>{' '}
        as the trail says it should be
      </span>,
    );
  if (secrets)
    steps.push(
      <span key="secrets">
        set the credential again, or remove it, on{' '}
        <Link href={`${base}/credentials`} className="font-medium underline underline-offset-2">
          Credentials
        </Link>
      </span>,
    );
  if (signing)
    steps.push(
      <span key="signing">
        revoke the signing secret again on{' '}
        <Link href={`${base}/events`} className="font-medium underline underline-offset-2">
          Events
        </Link>
      </span>,
    );
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
        {isAdmin ? 'To put the audited values back through the console, which records it: ' : 'An admin puts the audited values back: '}
        {steps.map((step, i) => (
          <span key={i}>
            {i > 0 ? '; ' : ''}
            {step}
          </span>
        ))}
        . This notice stays until the next full check finds them as the trail says (hourly by default:
        JUNCTION_AUDIT_VERIFY_INTERVAL_SECONDS)
        {isAdmin ? (
          <>
            , or run the check now on the{' '}
            <Link href="/audit" className="font-medium underline underline-offset-2">
              Audit
            </Link>{' '}
            page
          </>
        ) : null}
        .
      </p>
      {keep && keep.fields.length > 0 ? (
        <div className="mt-2 flex flex-wrap items-center gap-2 text-foreground">
          <ConfirmAction
            label="Keep the stored values"
            title="Keep the values written outside the console?"
            description={
              <>
                These values, as stored now, become the audited configuration: the trail records them as your change, from the value it last
                recorded, and the full audit check runs again. Keep them only when they are wanted (an emergency fix made in the database,
                say); otherwise revert.
                <ul className="mt-2 list-disc pl-5 wrap-anywhere">
                  {keep.fields.map((f) => (
                    <li key={f.field}>
                      <code>{f.field}</code>: {f.stored} (the trail says {f.audited})
                    </li>
                  ))}
                </ul>
              </>
            }
            confirmLabel="Keep these values"
            action={keepDriftedConfigAction.bind(null, { integration: name, seen: keep.seen })}
            successMessage="Kept as your change in the audit trail; the full audit check runs now and this notice clears when it has"
          />
          <span className="text-xs text-muted-foreground">when the values written in the database are the ones wanted</span>
        </div>
      ) : null}
    </div>
  );
}
