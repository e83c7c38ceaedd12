import type { ReactNode } from 'react';

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
