'use client';

import Link from 'next/link';
import { usePathname } from 'next/navigation';
import { LinkPending } from '@/components/shell/link-pending';
import { cn } from '@/components/ui/utils';

export function IntegrationTabs({ name, isAdmin, receivesEvents = false }: { name: string; isAdmin: boolean; receivesEvents?: boolean }) {
  const pathname = usePathname();
  const base = `/integrations/${encodeURIComponent(name)}`;
  const tabs = [
    { href: base, label: 'Runs & actions' },
    { href: `${base}/config`, label: isAdmin ? 'Configuration' : 'Configuration (read-only)' },
    ...(receivesEvents ? [{ href: `${base}/events`, label: 'Events' }] : []),
    { href: `${base}/history`, label: 'History' },
    ...(isAdmin ? [{ href: `${base}/credentials`, label: 'Credentials' }] : []),
    { href: `${base}/mapping`, label: 'Mapping' },
  ];
  return (
    <nav aria-label="Integration sections" className="flex flex-wrap gap-1 border-b">
      {tabs.map((t) => {
        const active = pathname === t.href;
        return (
          <Link
            key={t.href}
            href={t.href}
            aria-current={active ? 'page' : undefined}
            className={cn(
              '-mb-px border-b-2 border-transparent px-3 py-2 text-sm text-muted-foreground hover:text-foreground',
              active && 'border-primary font-medium text-foreground',
            )}
          >
            {t.label}
            <LinkPending />
          </Link>
        );
      })}
    </nav>
  );
}
