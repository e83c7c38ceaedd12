import Link from 'next/link';
import { Nav, type NavItem } from '@/components/shell/nav';
import { PlatformBanner } from '@/components/shell/platform-banner';
import { Badge } from '@/components/ui/badge';
import { Button } from '@/components/ui/button';
import { requireUser } from '@/lib/auth/guards';
import { signOutAction, signOutEverywhereAction } from './session-actions';

export default async function ConsoleLayout({ children }: { children: React.ReactNode }) {
  const user = await requireUser();
  const items: NavItem[] = [
    { href: '/', label: 'Overview' },
    { href: '/integrations', label: 'Integrations' },
    { href: '/runs', label: 'Runs' },
    { href: '/alerts', label: 'Alerts' },
    { href: '/audit', label: 'Audit' },
    ...(user.role === 'admin' ? [{ href: '/users', label: 'Users' }] : []),
  ];
  return (
    <div className="min-h-screen">
      <a
        href="#main"
        className="sr-only rounded-md bg-primary px-3 py-2 text-sm font-medium text-primary-foreground focus:not-sr-only focus:fixed focus:top-2 focus:left-2 focus:z-[60]"
      >
        Skip to main content
      </a>
      <header className="border-b bg-card">
        <div className="mx-auto flex max-w-7xl flex-wrap items-center gap-x-6 gap-y-2 px-4 py-3">
          <Link href="/" className="text-lg font-semibold tracking-tight">
            Junction
          </Link>
          <Nav items={items} />
          <div className="ml-auto flex flex-wrap items-center justify-end gap-x-3 gap-y-2 text-sm">
            <span data-testid="current-user" className="flex items-center gap-2">
              <span className="font-medium">{user.name}</span>
              <Badge variant="secondary" aria-label={`role ${user.role}`}>
                {user.role}
              </Badge>
            </span>
            <form action={signOutAction}>
              <Button variant="outline" size="sm" type="submit">
                Sign out
              </Button>
            </form>
            <form action={signOutEverywhereAction}>
              <Button variant="ghost" size="sm" type="submit" title="Ends your sessions in every browser and device, not only this one">
                Sign out everywhere
              </Button>
            </form>
          </div>
        </div>
      </header>
      <PlatformBanner />
      <main id="main" tabIndex={-1} className="mx-auto max-w-7xl px-4 py-6 focus:outline-none">
        {children}
      </main>
    </div>
  );
}
