import Link from 'next/link';
import { EmptyState } from '@/components/common/empty-state';
import { PageHeader } from '@/components/common/page-header';

export const metadata = { title: 'Not found' };

/** An address no route serves (the console's own subjects have app/(console)/not-found.tsx). */
export default function NotFound() {
  return (
    <main className="mx-auto flex max-w-3xl flex-col gap-4 px-4 py-10">
      <PageHeader title="Not found" />
      <EmptyState title="No page at this address">
        It may have been mistyped or moved.{' '}
        <Link href="/" className="underline">
          Go to the Overview
        </Link>
      </EmptyState>
    </main>
  );
}
