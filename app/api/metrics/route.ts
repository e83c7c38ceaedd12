import { NextResponse } from 'next/server';
import { Registry } from 'prom-client';
import { loadEnv } from '@/lib/env';
import { collectProcessMetrics, metricsAccess, platformMetrics } from '@/lib/platform/observability/metrics';
import { databaseGauges } from '@/lib/platform/read-models/metrics-gauges';
import { otherMethods } from '@/lib/server/api-methods';
import { getDb } from '@/lib/server/db';

export const dynamic = 'force-dynamic';

/**
 * Prometheus scrape endpoint of the web app: off unless METRICS_TOKEN is set, then only with
 * `Authorization: Bearer <METRICS_TOKEN>` (not a session or an API token: a scraper is not a
 * user). Serves the database-backed gauges (queued runs, breakers) and this process's counters;
 * each worker serves its own counters on METRICS_PORT. With the database down it still answers
 * 200: the counters, and `junction_database_gauges_up 0` in place of the gauges.
 */
export async function GET(request: Request) {
  const access = metricsAccess(request.headers.get('authorization'), loadEnv().METRICS_TOKEN);
  if (!access.ok) {
    return NextResponse.json(
      { error: access.error },
      { status: access.status, headers: { 'www-authenticate': 'Bearer', 'cache-control': 'no-store' } },
    );
  }
  collectProcessMetrics();
  // The database down is no scrape error: the counters are served, the gauges marked unavailable.
  const registry = Registry.merge([platformMetrics().registry, await databaseGauges(getDb())]);
  return new NextResponse(await registry.metrics(), { headers: { 'content-type': registry.contentType, 'cache-control': 'no-store' } });
}

export const { POST, PUT, PATCH, DELETE, OPTIONS } = otherMethods('GET');
