'use client';

import { useRouter } from 'next/navigation';
import { useState, useTransition } from 'react';
import { toast } from 'sonner';
import { revertConfigAction } from '@/app/(console)/integrations/[name]/config/actions';
import { exactTime } from '@/components/common/relative-time';
import { Button } from '@/components/ui/button';
import { Dialog, DialogContent, DialogDescription, DialogFooter, DialogHeader, DialogTitle, DialogTrigger } from '@/components/ui/dialog';

/**
 * `label` names the version in words ("the original configuration", "the version after ada changed
 * schedule"); `plan` is what the revert changes (RevertPlanView), shown before anyone confirms, and
 * `changes` how many fields that is: with none, or when `refused`, there is nothing to confirm.
 */
export function RevertButton({
  integration,
  at,
  label,
  version,
  plan,
  changes,
  refused,
}: {
  integration: string;
  at: string;
  label: string;
  version: number;
  plan: React.ReactNode;
  changes: number;
  refused: boolean;
}) {
  const canRevert = changes > 0 && !refused;
  const router = useRouter();
  const [open, setOpen] = useState(false);
  const [pending, start] = useTransition();
  const revert = () =>
    start(async () => {
      const result = await revertConfigAction({ integration, expectedVersion: version, at });
      setOpen(false);
      if (result.ok) {
        toast.success(
          result.data.changed.length
            ? `Reverted ${result.data.changed.length} field${result.data.changed.length === 1 ? '' : 's'}`
            : 'Already at that version: nothing changed',
        );
        router.refresh();
      } else toast.error(result.error);
    });
  return (
    <Dialog open={open} onOpenChange={setOpen}>
      <DialogTrigger asChild>
        <Button size="sm" variant="outline">
          Revert to this version
        </Button>
      </DialogTrigger>
      <DialogContent className="max-w-2xl">
        <DialogHeader>
          <DialogTitle>
            Revert {integration} to {label}?
          </DialogTitle>
          <DialogDescription>
            {canRevert
              ? `${changes === 1 ? 'This field goes' : `These ${changes} fields go`} back to the value ${changes === 1 ? 'it' : 'they'} had then (${exactTime(new Date(at))}). The revert is itself a new, audited change you can undo the same way.`
              : `The configuration as it was then (${exactTime(new Date(at))}), compared with today's.`}
          </DialogDescription>
        </DialogHeader>
        {plan}
        <DialogFooter>
          <Button variant="outline" onClick={() => setOpen(false)}>
            {canRevert ? 'Cancel' : 'Close'}
          </Button>
          {canRevert ? (
            <Button disabled={pending} onClick={revert}>
              {pending ? 'Reverting…' : `Revert ${changes} field${changes === 1 ? '' : 's'}`}
            </Button>
          ) : null}
        </DialogFooter>
      </DialogContent>
    </Dialog>
  );
}
