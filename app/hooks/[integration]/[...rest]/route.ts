import { answerNoEndpointPath } from '@/lib/platform/intake/http';

export const dynamic = 'force-dynamic';

/**
 * A path below a webhook endpoint (`/hooks/payment-events/extra`): no endpoint, so the JSON 404 a
 * sender can read, the intake listener's, instead of the console's HTML not-found page.
 */
function noSuchEndpoint(request: Request): Response {
  const answer = answerNoEndpointPath(new URL(request.url).pathname);
  return new Response(answer.body, { status: answer.status, headers: answer.headers });
}

export {
  noSuchEndpoint as GET,
  noSuchEndpoint as POST,
  noSuchEndpoint as PUT,
  noSuchEndpoint as PATCH,
  noSuchEndpoint as DELETE,
  noSuchEndpoint as OPTIONS,
};
