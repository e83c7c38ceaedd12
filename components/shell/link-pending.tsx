'use client';

import { useLinkStatus } from 'next/link';

/**
 * A small spinner inside a Link while the page it leads to loads. Pages that answer 404 for a
 * missing subject (an integration, a run) have no loading skeleton, so the link shows the wait.
 */
export function LinkPending() {
  const { pending } = useLinkStatus();
  if (!pending) return null;
  return (
    <span
      aria-hidden="true"
      data-testid="link-pending"
      className="ml-1.5 inline-block size-3 animate-spin rounded-full border-2 border-current border-t-transparent align-[-1px]"
    />
  );
}
