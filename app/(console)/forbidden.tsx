import Link from 'next/link';
import { PageHeader } from '@/components/common/page-header';
import { currentUser } from '@/lib/auth/guards';
import { listAdmins } from '@/lib/auth/users';
import { getDb } from '@/lib/server/db';

export const metadata = { title: 'Needs the admin role' };

/**
 * An admin-only page (Users, API tokens, an integration's Credentials) opened by a viewer or an
 * operator, by a bookmark or a shared link: HTTP 403 and what they need, who has it, and where it
 * is granted, instead of a redirect that looks like a broken link. The server refuses their
 * mutations whatever this page says (lib/server/action.ts).
 */
export default async function Forbidden() {
  const [user, admins] = await Promise.all([currentUser(), listAdmins(getDb())]);
  return (
    <div className="flex flex-col gap-4">
      <PageHeader title="This page needs the admin role" />
      <div className="flex max-w-3xl flex-col gap-3 rounded-lg border bg-card p-6 text-sm" data-testid="needs-role">
        <p>
          {user ? (
            <>
              You are signed in as <strong>{user.name}</strong>
              {user.email ? ` (${user.email})` : ''} with the <strong>{user.role}</strong> role. Only admins can open this page and change
              what it shows; you can still read the rest of the console
              {user.role === 'operator' ? ' and run, retry and pause integrations' : ''}.
            </>
          ) : (
            'Only admins can open this page.'
          )}
        </p>
        <p>
          An admin grants roles on the Users page. Your first sign-in gave you the role your identity provider&apos;s groups map to; since
          then only an admin changes it.
        </p>
        {admins.length > 0 ? (
          <div>
            <p>Ask one of the admins:</p>
            <ul className="mt-1 list-disc pl-5" aria-label="Admins">
              {admins.map((a) => (
                <li key={`${a.name} ${a.email ?? ''}`}>
                  {a.name}
                  {a.email ? (
                    <>
                      {' '}
                      (
                      <a className="underline" href={`mailto:${a.email}`}>
                        {a.email}
                      </a>
                      )
                    </>
                  ) : null}
                </li>
              ))}
            </ul>
          </div>
        ) : (
          <p>No enabled admin has signed in yet: the person who runs Junction can make one through the identity provider&apos;s groups.</p>
        )}
        <p>
          <Link href="/" className="underline">
            Go to the Overview
          </Link>
        </p>
      </div>
    </div>
  );
}
