import { NextResponse } from 'next/server';
import { otherMethods } from '@/lib/server/api-methods';
import { openApiDocument } from '@/lib/server/openapi';

export const dynamic = 'force-dynamic';

/** The OpenAPI 3.1 description of the JSON API, generated from the routes' zod schemas; public (it holds no data). */
export function GET() {
  return NextResponse.json(openApiDocument(), { headers: { 'cache-control': 'public, max-age=300' } });
}

export const { POST, PUT, PATCH, DELETE, OPTIONS } = otherMethods('GET');
