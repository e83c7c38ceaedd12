import { NextResponse } from 'next/server';
import { checkHealth } from '@/lib/platform/read-models/health';
import { otherMethods } from '@/lib/server/api-methods';
import { getDb } from '@/lib/server/db';

export const dynamic = 'force-dynamic';

/** Public liveness for load balancers and the start script: 200 when everything works, else 503 naming what is wrong. */
export async function GET() {
  const health = await checkHealth(getDb());
  const body = { status: health.ok ? 'ok' : 'degraded', database: health.database, migrations: health.migrations, worker: health.worker };
  return NextResponse.json(body, { status: health.ok ? 200 : 503, headers: { 'cache-control': 'no-store' } });
}

export const { POST, PUT, PATCH, DELETE, OPTIONS } = otherMethods('GET');
