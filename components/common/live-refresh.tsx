'use client';

import { useQuery } from '@tanstack/react-query';
import { useRouter } from 'next/navigation';
import { useEffect, useRef } from 'react';
import { z } from 'zod';
import { LivePaused } from '@/components/common/live-paused';
import { fetchJson } from '@/components/lib/fetch-json';
import { cn } from '@/components/ui/utils';
import type { LiveView } from '@/lib/platform/read-models/live-fingerprint';

/** How often an open page checks whether what it shows changed. */
export const LIVE_REFRESH_MS = 3_000;

const ZChanges = z.object({ fingerprint: z.string() });

/**
 * Keeps a server-rendered page current while it stays open: polls GET /api/changes for the
 * fingerprint of what the page shows and calls `router.refresh()` when it differs from the one the
 * page was rendered with (`rendered`). A refresh re-renders the server components in place: scroll
 * position, open dialogs, focus and uncontrolled inputs (a half-typed filter) are kept.
 *
 * Polling stops while the tab is hidden (TanStack Query's focus manager reads
 * document.visibilityState) and checks at once when it is shown again. A failed check leaves the
 * page as it is and says so (LivePaused); polling goes on and the notice goes once a check answers.
 */
export function LiveRefresh({
  view,
  integration,
  rendered,
  className,
}: {
  view: LiveView;
  /** view=integration: its name; view=alerts: the integration the list is filtered by. */
  integration?: string;
  /** The fingerprint of what the page shows, computed where it was rendered. */
  rendered: string;
  className?: string;
}) {
  const router = useRouter();
  const query = new URLSearchParams({ view, ...(integration ? { integration } : {}) });
  const { data, error } = useQuery({
    queryKey: ['changes', view, integration ?? null],
    queryFn: async () => (await fetchJson(`/api/changes?${query}`, ZChanges)).fingerprint,
    refetchInterval: LIVE_REFRESH_MS,
    refetchIntervalInBackground: false,
    refetchOnWindowFocus: 'always',
    staleTime: 0,
  });
  // One refresh per fingerprint seen: should the page and the API ever disagree on one, the page
  // is rendered once more, not in a loop.
  const refreshedFor = useRef<string | null>(null);
  useEffect(() => {
    if (!data || data === rendered || data === refreshedFor.current) return;
    refreshedFor.current = data;
    router.refresh();
  }, [data, rendered, router]);
  if (error) return <LivePaused error={error} what="Live updates" className={cn('max-w-md', className)} />;
  return (
    <span
      data-testid="live-indicator"
      title={`Updates by itself: checked every ${LIVE_REFRESH_MS / 1000} s while this tab is visible`}
      className={cn('inline-flex items-center gap-1.5 text-xs text-muted-foreground', className)}
    >
      <span aria-hidden className="size-2 animate-pulse rounded-full bg-success" /> live
    </span>
  );
}
