import { loadEnv } from '@/lib/env';
import { WEBHOOK_BODY_TIMEOUT_MS } from '@/lib/platform/intake/body-deadline';
import { answerOtherMethod, answerWebhook, remoteOf, webhookHeaders, type WebhookHttpAnswer } from '@/lib/platform/intake/http';
import { getBoss } from '@/lib/server/boss';
import { getDb } from '@/lib/server/db';
import { getKeyring } from '@/lib/server/keyring';
import { readBodyUpTo } from '@/lib/server/read-body';
import { getRegistry } from '@/lib/server/registry';

/**
 * `POST /hooks/<integration>`: the public endpoint of an integration that receives events. No
 * session and no same-origin check (senders are servers; proxy.ts only checks the path's encoding here): the
 * signature over the raw body is the authentication (lib/platform/intake/intake.ts). The same
 * contract is served by the dedicated intake listener (INTAKE_PORT, worker/intake.ts) without
 * Next's per-request cost: both answer through `answerWebhook` (lib/platform/intake/http.ts).
 */

export const dynamic = 'force-dynamic';

function respond(answer: WebhookHttpAnswer): Response {
  return new Response(answer.body, { status: answer.status, headers: answer.headers });
}

export async function POST(request: Request, context: { params: Promise<{ integration: string }> }) {
  const { integration } = await context.params;
  const headers = webhookHeaders(request.headers.entries());
  return respond(
    await answerWebhook(
      getBoss().then((boss) => ({ db: getDb(), boss, registry: getRegistry(), keyring: getKeyring() })),
      {
        integration,
        headers,
        // A body that stalls or trickles is cut at the listener's bound and answered 408.
        readBody: (limit) => readBodyUpTo(request, limit, { timeoutMs: WEBHOOK_BODY_TIMEOUT_MS }),
        remote: remoteOf(headers, { trustProxy: loadEnv().TRUST_PROXY }),
      },
    ),
  );
}

/**
 * Every other method: the JSON 405 the intake listener answers (Next's own would have no body, and
 * OPTIONS a 204), or its 404 for an endpoint that does not exist.
 */
async function methodNotAllowed(_request: Request, context: { params: Promise<{ integration: string }> }) {
  const { integration } = await context.params;
  return respond(answerOtherMethod(getRegistry(), integration));
}
export {
  methodNotAllowed as GET,
  methodNotAllowed as PUT,
  methodNotAllowed as PATCH,
  methodNotAllowed as DELETE,
  methodNotAllowed as OPTIONS,
};
