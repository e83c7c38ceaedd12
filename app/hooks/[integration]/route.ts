import { NextResponse } from 'next/server';
import { receiveWebhook } from '@/lib/platform/intake/intake';
import { getBoss } from '@/lib/server/boss';
import { getDb } from '@/lib/server/db';
import { getKeyring } from '@/lib/server/keyring';
import { getRegistry } from '@/lib/server/registry';

/**
 * `POST /hooks/<integration>`: the public endpoint of an integration that receives events. No
 * session and no same-origin check (senders are servers; proxy.ts leaves /hooks alone): the
 * signature over the raw body is the authentication (lib/platform/intake/intake.ts).
 */

export const dynamic = 'force-dynamic';

/**
 * Answers are a few bytes for a server, never cached: `no-transform` keeps Next's gzip off them
 * (compressing each tiny answer cost more CPU than anything else in the route but the framework).
 */
const ANSWER_HEADERS = { 'cache-control': 'no-store, no-transform' };

/** Reads at most `limit` bytes; null as soon as the body is longer (the rest is not read). */
async function readLimited(request: Request, limit: number): Promise<Buffer | null> {
  if (!request.body) return Buffer.alloc(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => undefined);
      return null;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

export async function POST(request: Request, context: { params: Promise<{ integration: string }> }) {
  const { integration } = await context.params;
  const headers: Record<string, string> = {};
  request.headers.forEach((value, key) => {
    headers[key.toLowerCase()] = value;
  });
  try {
    const answer = await receiveWebhook(
      { db: getDb(), boss: await getBoss(), registry: getRegistry(), keyring: getKeyring() },
      {
        integration,
        headers,
        readBody: (limit) => readLimited(request, limit),
        remote: headers['x-forwarded-for']?.split(',')[0]?.trim() ?? null,
      },
    );
    return NextResponse.json(answer.body, { status: answer.status, headers: ANSWER_HEADERS });
  } catch (error) {
    // Nothing was committed: the sender retries. The message names no secret, signature or body.
    // The database's own message (a failed query's text would carry the payload in its parameters).
    const cause = (error as { cause?: unknown }).cause;
    const reason =
      cause instanceof Error
        ? cause.message
        : error instanceof Error && !error.message.startsWith('Failed query')
          ? error.message
          : 'query failed';
    console.error(`[intake] ${integration}: delivery not stored: ${reason.slice(0, 200)}`);
    return NextResponse.json({ error: 'temporarily unable to store the event; retry later' }, { status: 503, headers: ANSWER_HEADERS });
  }
}

export function GET() {
  return NextResponse.json({ error: 'webhook endpoints accept POST only' }, { status: 405, headers: { allow: 'POST' } });
}
