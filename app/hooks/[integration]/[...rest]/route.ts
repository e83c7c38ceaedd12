import { NextResponse } from 'next/server';
import { clip } from '@/lib/platform/words';

export const dynamic = 'force-dynamic';

/**
 * A path below a webhook endpoint (`/hooks/payment-events/extra`): no endpoint, so the JSON 404 a
 * sender can read, like the intake listener's, instead of the console's HTML not-found page.
 */
function noSuchEndpoint(request: Request): Response {
  const { pathname } = new URL(request.url);
  const path = clip(pathname, 200);
  return NextResponse.json(
    { error: `no such webhook endpoint: ${path}; webhooks are delivered to POST /hooks/<integration>` },
    { status: 404, headers: { 'cache-control': 'no-store, no-transform' } },
  );
}

export {
  noSuchEndpoint as GET,
  noSuchEndpoint as POST,
  noSuchEndpoint as PUT,
  noSuchEndpoint as PATCH,
  noSuchEndpoint as DELETE,
  noSuchEndpoint as OPTIONS,
};
