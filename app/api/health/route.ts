import { NextResponse } from 'next/server';
import { checkHealth } from '@/lib/platform/read-models/health';
import { queryRefusal } from '@/lib/server/answers';
import { otherMethods } from '@/lib/server/api-methods';
import { getDb } from '@/lib/server/db';

export const dynamic = 'force-dynamic';

/**
 * Public liveness for load balancers and the start script: 200 when everything works, else 503
 * naming what is wrong. It takes no query parameters and refuses any with a 400, as every API route
 * does: a check that sends one (`?deep=1`, expecting more to be checked) is misconfigured, and says
 * so the first time it runs rather than reading as healthy. Load balancers, Kubernetes probes and
 * the start script send the bare path.
 */
export async function GET(request: Request) {
  const refused = queryRefusal(new URL(request.url).searchParams, { accepted: [] });
  if (refused) return NextResponse.json(refused, { status: 400, headers: { 'cache-control': 'no-store' } });
  const health = await checkHealth(getDb());
  const body = { status: health.ok ? 'ok' : 'degraded', database: health.database, migrations: health.migrations, worker: health.worker };
  return NextResponse.json(body, { status: health.ok ? 200 : 503, headers: { 'cache-control': 'no-store' } });
}

export const { POST, PUT, PATCH, DELETE, OPTIONS } = otherMethods('GET');
