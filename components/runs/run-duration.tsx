'use client';

import { useEffect, useState } from 'react';
import { durationText } from '@/lib/platform/read-models/run-text';

/**
 * How long a run has taken. While it runs, the first render (on the server, and again when the
 * browser hydrates it) counts up to `renderedAt`, the server's clock when it rendered the page, so
 * both render the same text; after mount it counts up to the browser's clock, every second.
 */
export function RunDuration({
  startedAt,
  finishedAt,
  renderedAt,
}: {
  startedAt: string | null;
  finishedAt: string | null;
  renderedAt: number;
}) {
  const [now, setNow] = useState<number | null>(null);
  const ticking = Boolean(startedAt && !finishedAt);
  useEffect(() => {
    if (!ticking) return;
    const tick = () => setNow(Date.now());
    tick();
    const timer = setInterval(tick, 1000);
    return () => clearInterval(timer);
  }, [ticking]);
  if (!startedAt) return <>—</>;
  const end = finishedAt ? new Date(finishedAt).getTime() : (now ?? renderedAt);
  return <>{durationText(end - new Date(startedAt).getTime())}</>;
}
