'use client';

import Link from 'next/link';
import { useRouter } from 'next/navigation';
import { startTransition, useCallback, useEffect, useState } from 'react';
import { Button } from '@/components/ui/button';
import { DATABASE_UNAVAILABLE_DIGEST } from '@/lib/platform/errors';

/** How often a page that failed because the database is not answering tries again by itself. */
export const OUTAGE_RETRY_SECONDS = 15;

/**
 * What a page shows when it could not be rendered (app/error.tsx, app/(console)/error.tsx), instead
 * of Next.js's bare "This page couldn't load". In production the browser gets only the error's
 * digest: a DatabaseUnavailableError's says the database is not answering (with a reference in the
 * server's log); any other is the reference itself. During an outage the page tries again on its
 * own, so an operator who left the console open sees it come back without reloading, still signed
 * in.
 */
export function PageError({ error, reset }: { error: Error & { digest?: string }; reset: () => void }) {
  const router = useRouter();
  const [kind, outageRef] = (error.digest ?? '').split(';');
  const outage = kind === DATABASE_UNAVAILABLE_DIGEST;
  const reference = outage ? outageRef : error.digest;
  const [left, setLeft] = useState(OUTAGE_RETRY_SECONDS);
  const [trying, setTrying] = useState(false);

  // Re-fetches the page's server components, then clears the boundary: reset() alone would only
  // re-render what the browser already has.
  const retry = useCallback(() => {
    setTrying(true);
    startTransition(() => {
      router.refresh();
      reset();
    });
  }, [router, reset]);

  // A retry that failed again brings a new error here: count down afresh.
  useEffect(() => {
    setTrying(false);
    setLeft(OUTAGE_RETRY_SECONDS);
  }, [error]);

  useEffect(() => {
    if (!outage || trying) return;
    const timer = setInterval(() => setLeft((seconds) => seconds - 1), 1000);
    return () => clearInterval(timer);
  }, [outage, trying]);

  useEffect(() => {
    if (outage && !trying && left <= 0) retry();
  }, [outage, trying, left, retry]);

  return (
    <div className="flex max-w-3xl flex-col gap-4">
      <title>{outage ? 'Database not answering · Junction' : 'Page failed · Junction'}</title>
      <div role="alert" className="flex flex-col gap-3 rounded-lg border bg-card p-6 text-sm" data-testid="page-error">
        <h1 className="text-xl font-semibold tracking-tight">
          {outage ? "Junction's database is not answering" : error.digest ? 'This page could not be loaded' : 'This page stopped working'}
        </h1>
        {outage ? (
          <>
            <p>
              The page could not be read because Junction&apos;s database is down, restarting or out of connections. You are still signed
              in, and nothing you saved is lost; runs carry on once it is back.
            </p>
            <p aria-live="polite">{trying ? 'Trying again…' : `This page tries again by itself in ${Math.max(left, 0)} s.`}</p>
          </>
        ) : error.digest ? (
          <p>The server failed while preparing it. Try again; if it keeps failing, tell whoever runs Junction.</p>
        ) : (
          <p>Something in this page failed in your browser ({error.message || error.name}). Try again, or reload the page.</p>
        )}
        {reference ? (
          <p className="text-muted-foreground">
            Reference for whoever runs Junction: <code data-testid="error-reference">{reference}</code> (in the server&apos;s log)
          </p>
        ) : null}
        <div className="flex flex-wrap items-center gap-3">
          <Button type="button" onClick={retry} disabled={trying}>
            {outage ? 'Try again now' : 'Try again'}
          </Button>
          <Link href="/" className="underline">
            Go to the Overview
          </Link>
        </div>
      </div>
    </div>
  );
}
