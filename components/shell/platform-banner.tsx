'use client';

import { useQuery } from '@tanstack/react-query';

interface Check {
  ok: boolean;
  detail: string;
}

interface HealthBody {
  status: 'ok' | 'degraded';
  database: Check;
  migrations: Check;
  worker: Check;
}

/** How often an open console asks /api/health (the worker is stale after a minute without a beat). */
export const PLATFORM_BANNER_POLL_MS = 30_000;

/**
 * A strip under the console's header while the platform cannot do what the console asks of it:
 * no worker beating (a run started now is queued and nothing starts it) or migrations behind. It
 * reads the public health check every 30 s, so it appears and goes without a reload; the Overview's
 * Platform health card says the same in full. The database being away is the pages' own error
 * (components/shell/page-error.tsx).
 */
export function PlatformBanner() {
  const { data } = useQuery({
    queryKey: ['platform-health'],
    queryFn: async (): Promise<HealthBody | null> => {
      const response = await fetch('/api/health', { cache: 'no-store' });
      if (response.status !== 200 && response.status !== 503) return null;
      return (await response.json()) as HealthBody;
    },
    refetchInterval: PLATFORM_BANNER_POLL_MS,
    refetchIntervalInBackground: false,
    retry: false,
  });
  if (!data || !data.database.ok) return null;
  const problems: string[] = [];
  if (!data.worker.ok) {
    problems.push(
      `No worker is running: runs you start or retry now are queued, and none starts until a worker is back. Health check: ${data.worker.detail}.`,
    );
  }
  if (!data.migrations.ok) problems.push(`The database is behind this version of Junction: ${data.migrations.detail}.`);
  if (problems.length === 0) return null;
  return (
    <div role="status" data-testid="platform-banner" className="border-b border-warning bg-warning/10">
      <div className="mx-auto flex max-w-7xl flex-col gap-1 px-4 py-2 text-sm">
        {problems.map((problem) => (
          <p key={problem}>{problem}</p>
        ))}
      </div>
    </div>
  );
}
