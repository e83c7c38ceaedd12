'use client';

import { useQuery } from '@tanstack/react-query';
import { useRouter } from 'next/navigation';
import { useEffect } from 'react';
import { LivePaused } from '@/components/common/live-paused';
import { fetchJson } from '@/components/lib/fetch-json';
import { runSnapshot } from './run-snapshot';
import { ZStatusUpdates } from './runs-table';

/** While a run is active, polls its status and re-renders the page when anything changes. */
export function RunLive({ runId, active, rendered }: { runId: string; active: boolean; rendered: string }) {
  const router = useRouter();
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
  if (!active) return null;
  if (error) return <LivePaused error={error} what="Live updates" inline className="text-xs font-normal tracking-normal" />;
  return (
    <span className="inline-flex items-center gap-1.5 text-xs text-muted-foreground" aria-live="polite">
      <span className="size-2 animate-pulse rounded-full bg-success" /> live
    </span>
  );
}
