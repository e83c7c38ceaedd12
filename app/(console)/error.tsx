'use client';

import { PageError } from '@/components/shell/page-error';

/** A console page that failed to render, inside the console's header and navigation (see app/error.tsx). */
export default function Error({ error, reset }: { error: Error & { digest?: string }; reset: () => void }) {
  return <PageError error={error} reset={reset} />;
}
