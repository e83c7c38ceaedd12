'use client';

import { useRouter } from 'next/navigation';
import { useEffect, useRef, useState } from 'react';
import { Button } from '@/components/ui/button';
import { Dialog, DialogContent, DialogDescription, DialogFooter, DialogHeader, DialogTitle } from '@/components/ui/dialog';
import type { TraversalGuard } from './traversal-gate';

/** The parts of the Navigation API used here (Chromium; not in TypeScript's DOM library yet). */
interface NavigateEventLike extends Event {
  navigationType: 'push' | 'replace' | 'reload' | 'traverse';
  cancelable: boolean;
  destination: { key: string | null; sameDocument: boolean };
}
interface NavigationLike extends EventTarget {
  traverseTo(key: string): unknown;
}

/**
 * What the person tried: a link (leave = go there), a traversal the Navigation API held back
 * (leave = go to that entry), or a Back or Forward that popstate reported after the fact and that
 * was undone at once (leave = go back to the entry it reached; see `onPopState`).
 */
type Leaving = { kind: 'link'; href: string } | { kind: 'traverse'; key: string } | { kind: 'popstate' };

/** A click that would take this tab to another page of the console: a plain left click on a same-origin link elsewhere. */
function internalLinkTarget(event: MouseEvent): string | null {
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return null;
  const anchor = (event.target as Element | null)?.closest?.('a[href]');
  if (!(anchor instanceof HTMLAnchorElement) || anchor.hasAttribute('download')) return null;
  if (anchor.target && anchor.target !== '_self') return null;
  const url = new URL(anchor.href, window.location.href);
  if (url.origin !== window.location.origin) return null; // another site: the page unloads, beforeunload asks
  if (url.pathname === window.location.pathname && url.search === window.location.search) return null; // same page, or a #fragment
  return `${url.pathname}${url.search}${url.hash}`;
}

/**
 * Asks before unsaved edits are lost (the mapping editor, the configuration form, a secret being
 * typed, a generated secret shown only once): a link to another page of the console, or the browser's Back and Forward, opens a
 * dialog (stay, or discard and leave); reloading or closing the tab gets the browser's own
 * "Leave site?" prompt (beforeunload). Nothing is asked while `dirty` is false, so a save, a
 * discard or an untouched form never prompts.
 *
 * Links are caught on the window before Next.js's own handler sees the click. Back and Forward
 * within the console are same-document traversals that the Navigation API lets a page cancel
 * after the person has interacted with it (Chromium). Where it is missing (or does not let the
 * traversal be cancelled) the fallback is popstate: it fires after the browser has moved to the
 * other entry, so the guard keeps Next.js's router from rendering it (traversal-gate.ts, which
 * must see the event before the router does), puts this page's address
 * back as a new entry right after the one reached, and asks; leaving is then one step back, to
 * exactly the entry the person wanted. (A Back or Forward that leaves the document, to a page
 * outside the console, unloads it: beforeunload asks.)
 */
export function UnsavedChangesGuard({
  dirty,
  what,
  title = 'Leave without saving?',
  message,
}: {
  dirty: boolean;
  /** What would be lost, for the dialog: "the mapping of accounting-export". */
  what: string;
  title?: string;
  /** Instead of the usual "You have unsaved changes to …" (e.g. a secret shown only once). */
  message?: string;
}) {
  const router = useRouter();
  const [leaving, setLeaving] = useState<Leaving | null>(null);
  // Set once the person chose to leave, so the navigation they confirmed is not caught again.
  const confirmed = useRef(false);

  useEffect(() => {
    if (!dirty) return;
    confirmed.current = false;
    const onBeforeUnload = (event: BeforeUnloadEvent) => {
      if (confirmed.current) return;
      event.preventDefault();
      // Older browsers show the prompt only when returnValue is set.
      event.returnValue = '';
    };
    const onClick = (event: MouseEvent) => {
      if (confirmed.current) return;
      const href = internalLinkTarget(event);
      if (!href) return;
      event.preventDefault();
      event.stopPropagation();
      setLeaving({ kind: 'link', href });
    };
    const navigation = (window as unknown as { navigation?: NavigationLike }).navigation;
    const onNavigate = (event: Event) => {
      const e = event as NavigateEventLike;
      if (confirmed.current || e.navigationType !== 'traverse' || !e.cancelable || !e.destination.key) return;
      e.preventDefault();
      setLeaving({ kind: 'traverse', key: e.destination.key });
    };
    // This page's entry as it is now: what a Back or Forward caught by popstate is undone to.
    const here = { state: window.history.state as unknown, url: window.location.href };
    // Asked by the listener traversal-gate.ts adds before the router's; true stops the event there.
    const onPopState: TraversalGuard = () => {
      if (confirmed.current) return false;
      const reached = new URL(window.location.href);
      const left = new URL(here.url);
      if (reached.pathname === left.pathname && reached.search === left.search) return false; // a #fragment of this page
      // Next.js lets a state carrying its own marker (__NA) through its patched pushState untouched,
      // so its router still shows, and knows itself to be on, this page.
      window.history.pushState(here.state, '', here.url);
      setLeaving({ kind: 'popstate' });
      return true;
    };
    const traversalGuards = window.__junctionTraversalGuards;
    window.addEventListener('beforeunload', onBeforeUnload);
    window.addEventListener('click', onClick, { capture: true });
    traversalGuards?.add(onPopState);
    navigation?.addEventListener('navigate', onNavigate);
    return () => {
      window.removeEventListener('beforeunload', onBeforeUnload);
      window.removeEventListener('click', onClick, { capture: true });
      traversalGuards?.delete(onPopState);
      navigation?.removeEventListener('navigate', onNavigate);
    };
  }, [dirty]);

  const leave = () => {
    if (!leaving) return;
    confirmed.current = true;
    setLeaving(null);
    if (leaving.kind === 'link') router.push(leaving.href);
    else if (leaving.kind === 'traverse') (window as unknown as { navigation?: NavigationLike }).navigation?.traverseTo(leaving.key);
    // The entry Back or Forward reached is the one just before this page's re-added entry.
    else window.history.back();
  };

  return (
    <Dialog open={leaving !== null} onOpenChange={(open) => (open ? null : setLeaving(null))}>
      <DialogContent>
        <DialogHeader>
          <DialogTitle>{title}</DialogTitle>
          <DialogDescription>
            {message ?? `You have unsaved changes to ${what}. If you leave this page now, they are lost; stay to review and save them.`}
          </DialogDescription>
        </DialogHeader>
        <DialogFooter>
          <Button variant="outline" onClick={() => setLeaving(null)}>
            Stay on this page
          </Button>
          <Button variant="destructive" onClick={leave}>
            {message ? 'Leave anyway' : 'Discard changes and leave'}
          </Button>
        </DialogFooter>
      </DialogContent>
    </Dialog>
  );
}
