import type { ReactNode } from 'react';
import { RelativeTime } from '@/components/common/relative-time';
import { Button } from '@/components/ui/button';
import { asSentence } from '@/lib/platform/words';

/**
 * After a stale save: what the other person saved beside the operator's own changes, re-applied on
 * top. The config form and the mapping editor each say it in their own words and list their own
 * kind of change; the layout is this one.
 */
export function StaleMergePanel(props: {
  intro: ReactNode;
  theirs: ReactNode;
  mineTitle: string;
  mine: ReactNode;
  conflict?: ReactNode;
  actions: ReactNode;
}) {
  return (
    <section
      aria-label="Their change and yours"
      data-testid="stale-merge"
      className="flex flex-col gap-3 rounded-md border border-warning/60 bg-warning/10 p-3 text-sm"
    >
      <p>{props.intro}</p>
      <div className="grid gap-3 md:grid-cols-2">
        <div>
          <h3 className="font-medium">Their change</h3>
          {props.theirs}
        </div>
        <div>
          <h3 className="font-medium">{props.mineTitle}</h3>
          {props.mine}
        </div>
      </div>
      {props.conflict ? <p className="font-medium">{props.conflict}</p> : null}
      {props.actions}
    </section>
  );
}

/**
 * A save refused because someone saved first: who and when ("3 minutes ago", the exact time on
 * hover), that the draft is kept, and the button that reloads keeping it. Without the latest
 * version (it could not be read), the server's message says the same.
 */
export function StaleRefusal({
  message,
  latest,
  kept,
  reloadLabel,
  onReload,
}: {
  message: string;
  latest: { updatedBy: string; updatedAt: string } | null;
  kept: string;
  reloadLabel: string;
  onReload: () => void;
}) {
  return (
    <div
      role="alert"
      className="flex flex-wrap items-center gap-3 rounded-md border border-destructive/40 bg-destructive/10 p-3 text-sm text-destructive"
    >
      <span>
        {latest ? (
          <>
            Changed by {latest.updatedBy} <RelativeTime value={latest.updatedAt} />; reload to see their change.
          </>
        ) : (
          asSentence(message)
        )}{' '}
        {kept}
      </span>
      <Button type="button" size="sm" variant="outline" onClick={onReload}>
        {reloadLabel}
      </Button>
    </div>
  );
}
