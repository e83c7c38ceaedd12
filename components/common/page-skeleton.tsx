import { Skeleton } from '@/components/ui/skeleton';

/**
 * What a console page shows while its data loads (a route's loading.tsx). Only pages that can
 * never be "not found" get one: a loading boundary sends the page's 200 before the page has looked
 * its subject up, so an integration's or a run's page renders without one and answers 404 when its
 * subject does not exist.
 */
export function PageSkeleton({ cards = false }: { cards?: boolean }) {
  return (
    <div className="flex flex-col gap-4" aria-busy="true" aria-label="Loading">
      <Skeleton className="h-8 w-56" />
      <Skeleton className="h-4 w-96" />
      {cards && (
        <div className="grid grid-cols-2 gap-3 md:grid-cols-4">
          {Array.from({ length: 4 }, (_, i) => (
            <Skeleton key={i} className="h-24" />
          ))}
        </div>
      )}
      {Array.from({ length: 6 }, (_, i) => (
        <Skeleton key={i} className="h-12 w-full" />
      ))}
    </div>
  );
}
