'use client';

import { useRouter } from 'next/navigation';
import { useState, useTransition } from 'react';
import { toast } from 'sonner';
import { revertConfigAction } from '@/app/(console)/integrations/[name]/config/actions';
import { exactTime } from '@/components/common/relative-time';
import { Button } from '@/components/ui/button';
import { Dialog, DialogContent, DialogDescription, DialogFooter, DialogHeader, DialogTitle, DialogTrigger } from '@/components/ui/dialog';

/** `label` names the version in words ("the original configuration", "the version after ada changed schedule"). */
export function RevertButton({ integration, at, label, version }: { integration: string; at: string; label: string; version: number }) {
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
      <DialogContent>
        <DialogHeader>
          <DialogTitle>
            Revert {integration} to {label}?
          </DialogTitle>
          <DialogDescription>
            Every field changed since then goes back to the value it had then ({exactTime(new Date(at))}). The revert is itself a new,
            audited change you can undo the same way. Secrets are not reverted.
          </DialogDescription>
        </DialogHeader>
        <DialogFooter>
          <Button variant="outline" onClick={() => setOpen(false)}>
            Cancel
          </Button>
          <Button disabled={pending} onClick={revert}>
            {pending ? 'Reverting…' : 'Revert'}
          </Button>
        </DialogFooter>
      </DialogContent>
    </Dialog>
  );
}
