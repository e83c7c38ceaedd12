import { NextResponse } from 'next/server';

export const dynamic = 'force-dynamic';

/**
 * `/hooks` itself, with no integration named: the JSON 404 a sender can read, as the intake
 * listener and `/hooks/<integration>/<more>` answer, instead of the console's HTML not-found page.
 */
function noIntegrationNamed(): Response {
  return NextResponse.json(
    { error: 'no such webhook endpoint: /hooks; webhooks are delivered to POST /hooks/<integration>' },
    { status: 404, headers: { 'cache-control': 'no-store, no-transform' } },
  );
}

export {
  noIntegrationNamed as GET,
  noIntegrationNamed as POST,
  noIntegrationNamed as PUT,
  noIntegrationNamed as PATCH,
  noIntegrationNamed as DELETE,
  noIntegrationNamed as OPTIONS,
};
