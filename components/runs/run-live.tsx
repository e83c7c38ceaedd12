'use client';

import { useQuery } from '@tanstack/react-query';
import { useRouter } from 'next/navigation';
import { useEffect } from 'react';
import { LivePaused } from '@/components/common/live-paused';
import { fetchJson } from '@/components/lib/fetch-json';
import { runSnapshot } from './run-snapshot';
import { ZStatusUpdates } from './runs-table';

/**
 * While a run is active, polls its status and re-renders the page when anything changes. A run
 * that has ended while an attempt of it is still open (cancelled: the attempt is told to stop and
 * closes a few seconds later) is `settling`: the page re-renders until the attempt has closed, so it
 * does not keep showing the attempt running.
 */
export function RunLive({
  runId,
  active,
  rendered,
  settling = false,
}: {
  runId: string;
  active: boolean;
  rendered: string;
  settling?: boolean;
}) {
  const router = useRouter();
  useEffect(() => {
    if (active || !settling) return;
    const timer = setInterval(() => router.refresh(), 1_500);
    return () => clearInterval(timer);
  }, [active, settling, router]);
  const { data, error } = useQuery({
    queryKey: ['run-status', runId],
    enabled: active,
    refetchInterval: 1_500,
    queryFn: async () => {
      const [item] = (await fetchJson(`/api/runs/status?ids=${runId}`, ZStatusUpdates)).items;
      return item ? runSnapshot(item) : null;
    },
  });
  useEffect(() => {
    if (data && data !== rendered) router.refresh();
  }, [data, rendered, router]);
  if (!active && settling)
    return (
      <span className="inline-flex items-center gap-1.5 text-xs text-muted-foreground" aria-live="polite">
        <span className="size-2 animate-pulse rounded-full bg-warning" /> stopping its attempt
      </span>
    );
  if (!active) return null;
  if (error) return <LivePaused error={error} what="Live updates" inline className="text-xs font-normal tracking-normal" />;
  return (
    <span className="inline-flex items-center gap-1.5 text-xs text-muted-foreground" aria-live="polite">
      <span className="size-2 animate-pulse rounded-full bg-success" /> live
    </span>
  );
}
