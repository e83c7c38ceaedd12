'use client';

import { cn } from '@/components/ui/utils';

/**
 * Said where a live view's polling fails (the database away, the server restarting, a network
 * drop): what failed, in the API's words, and that the rows shown are the last known state. The
 * view keeps polling and this goes by itself once an answer arrives; without it the view went on
 * looking live while nothing moved.
 */
export function LivePaused({
  error,
  what,
  inline = false,
  className,
}: {
  error: Error | null;
  what: string;
  /** Inside a line of text (a heading): a span, not a paragraph. */
  inline?: boolean;
  className?: string;
}) {
  if (!error) return null;
  const Element = inline ? 'span' : 'p';
  return (
    <Element role="status" data-testid="live-paused" className={cn('text-sm text-[oklch(0.48_0.12_70)]', className)}>
      {what} paused: {error.message.replace(/\s*$/, '')} Showing the last known state; trying again.
    </Element>
  );
}
