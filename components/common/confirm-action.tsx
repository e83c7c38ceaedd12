'use client';

import Link from 'next/link';
import { useRouter } from 'next/navigation';
import { useLayoutEffect, useRef, useState, useTransition } from 'react';
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
 * The action whose success replaces its button by another of the same `focusGroup` (Pause by
 * Resume, Open breaker by Reset breaker): the replacing button takes focus when it mounts, so the
 * keyboard stays where the person was instead of falling back to the page. Module state: one
 * browser tab, one person, one action at a time; stale after a few seconds (a live refresh swapping
 * the buttons later because of someone else's action moves no focus).
 */
let focusHandoff: { group: string; until: number } | null = null;
const FOCUS_HANDOFF_MS = 10_000;

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
  focusGroup,
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
  /** Actions that replace each other's button on success share one: the new button takes focus (above). */
  focusGroup?: string;
}) {
  const [open, setOpen] = useState(false);
  const trigger = useRef<HTMLButtonElement>(null);
  // Layout effect: focused in the commit that removed the old button, before the dialog's fallback
  // (components/ui/dialog.tsx) sees focus on <body> and gives it to the page's main region.
  useLayoutEffect(() => {
    if (!focusGroup || focusHandoff?.group !== focusGroup) return;
    if (Date.now() <= focusHandoff.until) trigger.current?.focus();
    focusHandoff = null;
  }, [focusGroup]);
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
        if (focusGroup) focusHandoff = { group: focusGroup, until: Date.now() + FOCUS_HANDOFF_MS };
        router.refresh();
      } else {
        toast.error(<LinkedIds text={result.error} />);
        // Refused, often because the state changed meanwhile: show the page as it is now.
        router.refresh();
      }
    });
  if (!confirm) {
    return (
      <Button ref={trigger} variant={variant} size={size} disabled={pending} onClick={run}>
        {label}
      </Button>
    );
  }
  return (
    <Dialog open={open} onOpenChange={setOpen}>
      {/* Not disabled while the action runs: the dialog covers it then, and the dialog gives focus
          back to it when it closes (a disabled trigger dropped focus to the page's body). */}
      <DialogTrigger asChild>
        <Button ref={trigger} variant={variant} size={size}>
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
