'use client';

import { useQuery } from '@tanstack/react-query';
import { useRouter } from 'next/navigation';
import { useEffect } from 'react';
import { runSnapshot } from './run-snapshot';

/** While a run is active, polls its status and re-renders the page when anything changes. */
export function RunLive({ runId, active, rendered }: { runId: string; active: boolean; rendered: string }) {
  const router = useRouter();
  const { data } = useQuery({
    queryKey: ['run-status', runId],
    enabled: active,
    refetchInterval: 1_500,
    queryFn: async () => {
      const res = await fetch(`/api/runs/status?ids=${runId}`);
      if (!res.ok) throw new Error(`status ${res.status}`);
      const [item] = (await res.json()).items as { status: string; attemptCount: number; progressDone: number | null }[];
      return item ? runSnapshot(item) : null;
    },
  });
  useEffect(() => {
    if (data && data !== rendered) router.refresh();
  }, [data, rendered, router]);
  return active ? (
    <span className="inline-flex items-center gap-1.5 text-xs text-muted-foreground" aria-live="polite">
      <span className="size-2 animate-pulse rounded-full bg-success" /> live
    </span>
  ) : null;
}
