import Link from 'next/link';
import { EmptyState } from '@/components/common/empty-state';
import { PageHeader } from '@/components/common/page-header';

export default function NotFound() {
  return (
    <div className="flex flex-col gap-4">
      <PageHeader title="Not found" />
      <EmptyState title="Nothing here">
        The integration or run may have been mistyped, or its history pruned.{' '}
        <Link href="/integrations" className="underline">
          Back to the integrations
        </Link>
      </EmptyState>
    </div>
  );
}
