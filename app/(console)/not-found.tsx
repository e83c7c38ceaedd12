import Link from 'next/link';
import { EmptyState } from '@/components/common/empty-state';

export default function NotFound() {
  return (
    <EmptyState title="Not found">
      Nothing here: the integration or run may have been mistyped, or its history pruned.{' '}
      <Link href="/integrations" className="underline">
        Back to the integrations
      </Link>
    </EmptyState>
  );
}
