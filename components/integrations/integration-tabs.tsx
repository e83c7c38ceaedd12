'use client';

import Link from 'next/link';
import { usePathname } from 'next/navigation';
import { LinkPending } from '@/components/shell/link-pending';
import { cn } from '@/components/ui/utils';

/**
 * An integration's sections. Events only for one that receives events, Mapping only for one with a
 * field mapping (or one this build does not know, whose page says so): a tab that can only say
 * "not used here" is one more place to look.
 */
export function IntegrationTabs({
  name,
  isAdmin,
  receivesEvents = false,
  hasMapping = true,
}: {
  name: string;
  isAdmin: boolean;
  receivesEvents?: boolean;
  hasMapping?: boolean;
}) {
  const pathname = usePathname();
  const base = `/integrations/${encodeURIComponent(name)}`;
  const tabs = [
    { href: base, label: 'Runs & actions' },
    { href: `${base}/config`, label: isAdmin ? 'Configuration' : 'Configuration (read-only)' },
    ...(receivesEvents ? [{ href: `${base}/events`, label: 'Events' }] : []),
    { href: `${base}/history`, label: 'History' },
    ...(isAdmin ? [{ href: `${base}/credentials`, label: 'Credentials' }] : []),
    ...(hasMapping ? [{ href: `${base}/mapping`, label: 'Mapping' }] : []),
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
