import { redirect } from 'next/navigation';
import { Button } from '@/components/ui/button';
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from '@/components/ui/card';
import { signIn } from '@/lib/auth/auth';
import { safeCallbackPath } from '@/lib/auth/callback-path';
import { currentUser } from '@/lib/auth/guards';
import { loadEnv } from '@/lib/env';

export const metadata = { title: 'Sign in' };

const ERRORS: Record<string, string> = {
  AccessDenied: 'Your account is not allowed to sign in. Ask an admin.',
  Configuration: 'Sign-in is misconfigured: check the OIDC settings and that the identity provider is reachable.',
};

function errorMessage(error: string | string[] | undefined): string | null {
  if (!error) return null;
  const code = Array.isArray(error) ? error[0] : error;
  return code && Object.hasOwn(ERRORS, code)
    ? ERRORS[code]
    : 'Sign-in failed. Try again; if it keeps failing, ask an admin to check the identity provider.';
}

export default async function SignInPage({
  searchParams,
}: {
  searchParams: Promise<{ callbackUrl?: string | string[]; error?: string | string[] }>;
}) {
  const { callbackUrl, error } = await searchParams;
  if (await currentUser()) redirect(safeCallbackPath(callbackUrl));
  const local = !loadEnv().OIDC_ISSUER;
  return (
    <main className="grid min-h-screen place-items-center p-4">
      <Card className="w-full max-w-sm">
        <CardHeader>
          <CardTitle className="text-xl">Sign in to Junction</CardTitle>
          <CardDescription>
            {local ? 'Single sign-on through the local development identity provider.' : 'Single sign-on through your identity provider.'}
          </CardDescription>
        </CardHeader>
        <CardContent className="flex flex-col gap-3">
          {errorMessage(error) ? (
            <p role="alert" className="rounded-md bg-destructive/10 p-3 text-sm text-destructive">
              {errorMessage(error)}
            </p>
          ) : null}
          <form
            action={async () => {
              'use server';
              await signIn('oidc', { redirectTo: safeCallbackPath(callbackUrl) });
            }}
          >
            <Button type="submit" className="w-full">
              Continue with SSO
            </Button>
          </form>
          {local ? (
            <p className="text-xs text-muted-foreground">
              Demo users: <code>ada</code> (admin), <code>oscar</code> (operator), <code>vera</code> (viewer); password{' '}
              <code>junction</code>.
            </p>
          ) : null}
        </CardContent>
      </Card>
    </main>
  );
}
