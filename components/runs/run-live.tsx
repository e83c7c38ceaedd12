'use client';

import { useQuery } from '@tanstack/react-query';
import { useRouter } from 'next/navigation';
import { useEffect, useRef } from 'react';

/** While a run is active, polls its status and re-renders the page when anything changes. */
export function RunLive({ runId, active }: { runId: string; active: boolean }) {
  const router = useRouter();
  const last = useRef<string | null>(null);
  const { data } = useQuery({
    queryKey: ['run-status', runId],
    enabled: active,
    refetchInterval: 1_500,
    queryFn: async () => {
      const res = await fetch(`/api/runs/status?ids=${runId}`);
      if (!res.ok) throw new Error(`status ${res.status}`);
      return JSON.stringify((await res.json()).items[0] ?? null);
    },
  });
  useEffect(() => {
    if (data === undefined) return;
    if (last.current !== null && last.current !== data) router.refresh();
    last.current = data;
  }, [data, router]);
  return active ? (
    <span className="inline-flex items-center gap-1.5 text-xs text-muted-foreground" aria-live="polite">
      <span className="size-2 animate-pulse rounded-full bg-success" /> live
    </span>
  ) : null;
}
