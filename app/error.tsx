'use client';

import { PageError } from '@/components/shell/page-error';

/**
 * A page or layout that failed to render, the console's own layout included (during a database
 * outage its session check fails first): what failed and what to do (components/shell/page-error.tsx).
 */
export default function Error({ error, reset }: { error: Error & { digest?: string }; reset: () => void }) {
  return (
    <main className="mx-auto max-w-3xl px-4 py-16">
      <PageError error={error} reset={reset} />
    </main>
  );
}
