import { answerNoEndpointPath } from '@/lib/platform/intake/http';

export const dynamic = 'force-dynamic';

/**
 * `/hooks` itself, with no integration named: the JSON 404 a sender can read, as the intake
 * listener and `/hooks/<integration>/<more>` answer, instead of the console's HTML not-found page.
 */
function noIntegrationNamed(): Response {
  const answer = answerNoEndpointPath('/hooks');
  return new Response(answer.body, { status: answer.status, headers: answer.headers });
}

export {
  noIntegrationNamed as GET,
  noIntegrationNamed as POST,
  noIntegrationNamed as PUT,
  noIntegrationNamed as PATCH,
  noIntegrationNamed as DELETE,
  noIntegrationNamed as OPTIONS,
};
