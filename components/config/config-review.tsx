import { RelativeTime } from '@/components/common/relative-time';
import { StaleMergePanel } from '@/components/common/stale-merge-panel';
import { Button } from '@/components/ui/button';
import { Dialog, DialogContent, DialogDescription, DialogFooter, DialogHeader, DialogTitle } from '@/components/ui/dialog';
import type { ChangeRow, Rebased } from './config-draft';

function ChangeList({ rows, empty, testId }: { rows: ChangeRow[]; empty: string; testId: string }) {
  if (rows.length === 0) return <p className="text-muted-foreground">{empty}</p>;
  return (
    <ul className="mt-1 flex flex-col gap-1" data-testid={testId}>
      {rows.map((r) => (
        <li key={r.field}>
          <span className="font-medium">{r.field}</span>: <code className="rounded bg-muted px-1">{r.from}</code> →{' '}
          <code className="rounded bg-muted px-1">{r.to}</code>
        </li>
      ))}
    </ul>
  );
}

/** After a reload: what the other person saved beside the admin's own changes, now re-applied on top. */
export function RebasedPanel({ rebased, canSave, onDiscardMine }: { rebased: Rebased; canSave: boolean; onDiscardMine: () => void }) {
  const both = rebased.mine.filter((m) => rebased.theirs.some((t) => t.field === m.field)).map((m) => m.field);
  return (
    <StaleMergePanel
      intro={
        <>
          <strong>{rebased.by}</strong> saved a change <RelativeTime value={rebased.at} />. The form now holds their configuration with your
          changes re-applied on top; nothing is saved until you review and save.
        </>
      }
      theirs={<ChangeList rows={rebased.theirs} empty="Nothing you can see here (a secret or the mapping)." testId="their-change" />}
      mineTitle="Your changes, re-applied"
      mine={<ChangeList rows={rebased.mine} empty="None." testId="my-change" />}
      conflict={both.length ? `You both changed ${both.join(', ')}: the form has your value. Check it before saving.` : null}
      actions={
        <div className="flex flex-wrap gap-2">
          <Button type="submit" size="sm" disabled={!canSave}>
            Review and save my changes
          </Button>
          <Button type="button" size="sm" variant="outline" onClick={onDiscardMine}>
            Discard mine, keep theirs
          </Button>
        </div>
      }
    />
  );
}

/** The changes before they are saved: one row a field, old value struck through. */
export function ReviewDialog({
  open,
  onOpenChange,
  diff,
  pending,
  onSave,
}: {
  open: boolean;
  onOpenChange: (open: boolean) => void;
  diff: ChangeRow[];
  pending: boolean;
  onSave: () => void;
}) {
  return (
    <Dialog open={open} onOpenChange={onOpenChange}>
      <DialogContent>
        <DialogHeader>
          <DialogTitle>Save these changes?</DialogTitle>
          <DialogDescription>Each changed field becomes one audit record with the old and new value.</DialogDescription>
        </DialogHeader>
        {/* min-w-0 and break-all: a long value (a URL) wraps; on a phone it pushed the new value and the Save button off screen. */}
        <ul className="flex min-w-0 flex-col gap-2 text-sm" data-testid="config-diff">
          {diff.map((d) => (
            <li key={d.field} className="min-w-0 rounded-md border p-2">
              <div className="font-medium break-all">{d.field}</div>
              <div className="flex min-w-0 flex-wrap items-center gap-1 text-xs">
                <code className="min-w-0 rounded bg-destructive/8 px-1 break-all text-destructive line-through">{d.from}</code> →{' '}
                <code className="min-w-0 rounded bg-success/10 px-1 break-all text-[oklch(0.40_0.12_150)]">{d.to}</code>
              </div>
            </li>
          ))}
        </ul>
        <DialogFooter>
          <Button type="button" variant="outline" onClick={() => onOpenChange(false)}>
            Keep editing
          </Button>
          <Button type="button" disabled={pending} onClick={onSave}>
            {pending ? 'Saving…' : `Save ${diff.length} change${diff.length === 1 ? '' : 's'}`}
          </Button>
        </DialogFooter>
      </DialogContent>
    </Dialog>
  );
}
