'use client';

import Link from 'next/link';
import { useRouter } from 'next/navigation';
import { useState, useTransition } from 'react';
import { toast } from 'sonner';
import { LinkedIds } from '@/components/common/linked-ids';
import { Button } from '@/components/ui/button';
import {
  Dialog,
  DialogClose,
  DialogContent,
  DialogDescription,
  DialogFooter,
  DialogHeader,
  DialogTitle,
  DialogTrigger,
} from '@/components/ui/dialog';
import type { ActionResult } from '@/lib/server/action';

/**
 * A button for a costly or disruptive action: a dialog says what will happen, the server action
 * runs on confirm, and a toast reports the outcome (with the server's message on failure).
 */
export function ConfirmAction<T>({
  label,
  title,
  description,
  confirmLabel,
  dismissLabel = 'Cancel',
  action,
  successMessage,
  runLinkLabel,
  variant = 'outline',
  destructive = false,
  size = 'sm',
  confirm = true,
  onDone,
}: {
  label: React.ReactNode;
  title: string;
  description: React.ReactNode;
  confirmLabel?: string;
  /** The button that closes the dialog doing nothing ("Cancel"; say otherwise where the action is itself a cancel). */
  dismissLabel?: string;
  action: () => Promise<ActionResult<T>>;
  /** Shown in the toast on success (props cross from server components, so no callbacks). */
  successMessage: string;
  /** When the action returns a run id: the toast links to that run with this label. */
  runLinkLabel?: string;
  variant?: 'default' | 'outline' | 'secondary' | 'destructive' | 'ghost';
  destructive?: boolean;
  size?: 'sm' | 'default';
  confirm?: boolean;
  onDone?: (data: T) => void;
}) {
  const [open, setOpen] = useState(false);
  const [pending, startTransition] = useTransition();
  const router = useRouter();
  const run = () =>
    startTransition(async () => {
      const result = await action();
      setOpen(false);
      if (result.ok) {
        const runId = (result.data as { runId?: unknown } | null)?.runId;
        const deduplicated = (result.data as { deduplicated?: unknown } | null)?.deduplicated === true;
        toast.success(
          typeof runId === 'string' && runLinkLabel ? (
            <span>
              {deduplicated ? 'A run requested moments ago is still queued: no second run was started.' : successMessage}{' '}
              <Link className="underline" href={`/runs/${runId}`}>
                {runLinkLabel}
              </Link>
            </span>
          ) : (
            successMessage
          ),
        );
        onDone?.(result.data);
        router.refresh();
      } else {
        toast.error(<LinkedIds text={result.error} />);
        // Refused, often because the state changed meanwhile: show the page as it is now.
        router.refresh();
      }
    });
  if (!confirm) {
    return (
      <Button variant={variant} size={size} disabled={pending} onClick={run}>
        {label}
      </Button>
    );
  }
  return (
    <Dialog open={open} onOpenChange={setOpen}>
      {/* Not disabled while the action runs: the dialog covers it then, and the dialog gives focus
          back to it when it closes (a disabled trigger dropped focus to the page's body). */}
      <DialogTrigger asChild>
        <Button variant={variant} size={size}>
          {label}
        </Button>
      </DialogTrigger>
      <DialogContent>
        <DialogHeader>
          <DialogTitle>{title}</DialogTitle>
          <DialogDescription asChild>
            <div>{description}</div>
          </DialogDescription>
        </DialogHeader>
        <DialogFooter>
          <DialogClose asChild>
            <Button variant="outline">{dismissLabel}</Button>
          </DialogClose>
          <Button variant={destructive ? 'destructive' : 'default'} disabled={pending} onClick={run}>
            {pending ? 'Working…' : (confirmLabel ?? title)}
          </Button>
        </DialogFooter>
      </DialogContent>
    </Dialog>
  );
}
