import { Card, CardContent, CardDescription, CardHeader, CardTitle } from '@/components/ui/card';
import { requireUser } from '@/lib/auth/guards';
import { checkHealth } from '@/lib/platform/health';
import { getDb } from '@/lib/server/db';

export const dynamic = 'force-dynamic';

export default async function OverviewPage() {
  const user = await requireUser();
  const health = await checkHealth(getDb());
  const checks = [
    ['Database', health.database],
    ['Migrations', health.migrations],
    ['Worker', health.worker],
  ] as const;
  return (
    <div className="flex flex-col gap-6">
      <div>
        <h1 className="text-2xl font-semibold tracking-tight">Overview</h1>
        <p className="text-sm text-muted-foreground">Welcome, {user.name}.</p>
      </div>
      <Card>
        <CardHeader>
          <CardTitle>Platform health</CardTitle>
          <CardDescription>What the health check at /api/health reports.</CardDescription>
        </CardHeader>
        <CardContent>
          <ul className="grid gap-2 sm:grid-cols-3">
            {checks.map(([label, check]) => (
              <li key={label} className="rounded-lg border p-3">
                <div className="flex items-center gap-2 text-sm font-medium">
                  <span aria-hidden className={check.ok ? 'size-2 rounded-full bg-success' : 'size-2 rounded-full bg-destructive'} />
                  {label}
                </div>
                <p className="mt-1 text-xs text-muted-foreground">{check.detail}</p>
              </li>
            ))}
          </ul>
        </CardContent>
      </Card>
    </div>
  );
}
