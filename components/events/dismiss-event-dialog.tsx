'use client';

import { useRouter } from 'next/navigation';
import { useState, useTransition } from 'react';
import { toast } from 'sonner';
import { dismissEventAction } from '@/app/(console)/integrations/[name]/events/actions';
import { LinkedIds } from '@/components/common/linked-ids';
import { Button } from '@/components/ui/button';
import { Dialog, DialogContent, DialogDescription, DialogFooter, DialogHeader, DialogTitle, DialogTrigger } from '@/components/ui/dialog';
import { Label } from '@/components/ui/label';
import { Textarea } from '@/components/ui/textarea';

/**
 * Dismiss a failed event that can never be applied, with a required reason (kept on the event and
 * in the audit trail). The dialog says what follows: never applied, never replayed, and the
 * failed-events incident closes once no failed event is left. The server checks the role and the
 * reason again.
 */
export function DismissEventDialog({ integration, eventId }: { integration: string; eventId: string }) {
  const router = useRouter();
  const [open, setOpen] = useState(false);
  const [reason, setReason] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [pending, start] = useTransition();
  const reasonId = `dismiss-reason-${eventId}`;
  const dismiss = (e: React.FormEvent) => {
    e.preventDefault();
    start(async () => {
      const result = await dismissEventAction({ integration, eventId, reason });
      if (!result.ok) {
        if (result.fieldErrors?.reason) setError(`Reason ${result.fieldErrors.reason}`);
        else {
          setOpen(false);
          toast.error(<LinkedIds text={result.error} />);
        }
        return;
      }
      setOpen(false);
      setReason('');
      setError(null);
      toast.success(
        result.data.failedLeft === 0
          ? `Event ${eventId} dismissed. No failed event is left: the failed-events incident closes.`
          : `Event ${eventId} dismissed. ${result.data.failedLeft} failed event${result.data.failedLeft === 1 ? ' is' : 's are'} left.`,
      );
      router.refresh();
    });
  };
  return (
    <Dialog
      open={open}
      onOpenChange={(o) => {
        setOpen(o);
        if (!o) setError(null);
      }}
    >
      <DialogTrigger asChild>
        <Button size="sm" variant="outline">
          Dismiss
        </Button>
      </DialogTrigger>
      <DialogContent>
        <form onSubmit={dismiss} data-needs-js className="flex flex-col gap-4">
          <DialogHeader>
            <DialogTitle>Dismiss event {eventId}?</DialogTitle>
            <DialogDescription>
              It will not be applied, now or by any later replay: use this for an event that can never be applied (it refers to something
              deleted upstream, say), not for one a fix and a Replay can still apply. It stays listed as dismissed with your reason, and the
              dismissal is recorded in the audit trail. Once no failed event is left, the failed-events incident closes with a recovery
              message.
            </DialogDescription>
          </DialogHeader>
          <div className="grid gap-1.5">
            <Label htmlFor={reasonId}>Reason (required, kept with the event and in the audit trail)</Label>
            <Textarea
              id={reasonId}
              maxLength={500}
              value={reason}
              onChange={(e) => {
                setReason(e.target.value);
                setError(null);
              }}
              aria-invalid={Boolean(error)}
              aria-describedby={error ? `${reasonId}-error` : undefined}
              placeholder="e.g. the payment was deleted at the provider; nothing to apply"
            />
            {error ? (
              <p id={`${reasonId}-error`} role="alert" className="text-sm text-destructive">
                {error}
              </p>
            ) : null}
          </div>
          <DialogFooter>
            <Button type="button" variant="outline" onClick={() => setOpen(false)}>
              Cancel
            </Button>
            <Button type="submit" variant="destructive" disabled={pending || !reason.trim()}>
              {pending ? 'Dismissing…' : 'Dismiss event'}
            </Button>
          </DialogFooter>
        </form>
      </DialogContent>
    </Dialog>
  );
}
