import type * as React from 'react';
import { cn } from './utils';

/**
 * `stacked`: below 640 px every row becomes a card of label/value lines (labels from each cell's
 * `data-label`, see globals.css), so a phone never scrolls the table sideways to reach the actions.
 */
export function Table({ className, stacked = false, ...props }: React.ComponentProps<'table'> & { stacked?: boolean }) {
  return (
    <div className="relative w-full overflow-x-auto rounded-lg border bg-card" data-stacked-wrapper={stacked ? '' : undefined}>
      <table className={cn('w-full caption-bottom text-sm', className)} data-stacked={stacked ? '' : undefined} {...props} />
    </div>
  );
}
export function TableHeader(props: React.ComponentProps<'thead'>) {
  return <thead className="border-b bg-muted/50 [&_tr]:border-b-0" {...props} />;
}
export function TableBody({ className, ...props }: React.ComponentProps<'tbody'>) {
  return <tbody className={cn('[&_tr:last-child]:border-0', className)} {...props} />;
}
export function TableRow({ className, ...props }: React.ComponentProps<'tr'>) {
  return <tr className={cn('border-b transition-colors hover:bg-muted/40 data-[state=selected]:bg-muted', className)} {...props} />;
}
export function TableHead({ className, ...props }: React.ComponentProps<'th'>) {
  return <th className={cn('h-9 px-3 text-left align-middle text-xs font-medium whitespace-nowrap text-muted-foreground', className)} {...props} />;
}
export function TableCell({ className, ...props }: React.ComponentProps<'td'>) {
  return <td className={cn('px-3 py-2 align-middle', className)} {...props} />;
}
