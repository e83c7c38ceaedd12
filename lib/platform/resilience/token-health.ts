import { eq, sql } from 'drizzle-orm';
import type { PgBoss } from 'pg-boss';
import type { Database, DatabaseOrTransaction } from '../../../db/client';
import { integrations } from '../../../db/schema';
import { databaseReason, errorMessage, isCancelledError, storableText, TransientError } from '../errors';
import { emitPlatformEvent } from '../execution/events';
import { txEventSender } from '../execution/queue';
import type { OAuth2Provider } from './oauth2';

/**
 * Token health per integration: `integrations.credentials_error` (the provider's error) and
 * `credentials_failing_since` are set by the first failure to obtain credentials (token endpoint
 * refusing the client, down or timing out; a secret that cannot be opened; an OAuth2 config with
 * a piece missing) and cleared by the next token obtained or run succeeded. The transitions are
 * conditional UPDATEs, so `credentials.failing` and `credentials.recovered` are emitted ONCE per
 * incident however many attempts, workers and requests fail meanwhile. Dry-runs record nothing.
 */

export interface CredentialsHealth {
  failing: boolean;
  error: string | null;
  since: Date | null;
}

/** Records a failure; emits credentials.failing (in the same transaction) only when it starts an incident. */
export async function recordCredentialsFailure(
  db: DatabaseOrTransaction,
  boss: PgBoss,
  params: { integration: string; error: string; correlationId?: string },
): Promise<{ started: boolean }> {
  const error = storableText(params.error.slice(0, 2000));
  return db.transaction(async (tx) => {
    // The row lock makes concurrent failures queue up: only the first sees no incident and emits.
    const [before] = await tx
      .select({ since: integrations.credentialsFailingSince })
      .from(integrations)
      .where(eq(integrations.name, params.integration))
      .for('no key update');
    if (!before) return { started: false };
    await tx
      .update(integrations)
      .set({ credentialsError: error, credentialsFailingSince: sql`coalesce(${integrations.credentialsFailingSince}, now())` })
      .where(eq(integrations.name, params.integration));
    if (before.since) return { started: false };
    await emitPlatformEvent(txEventSender(boss, tx), {
      type: 'credentials.failing',
      at: new Date().toISOString(),
      integration: params.integration,
      error,
      ...(params.correlationId ? { correlationId: params.correlationId } : {}),
    });
    return { started: true };
  });
}

/** Clears a failing state; emits credentials.recovered only when one was open. A no-op UPDATE otherwise. */
export async function recordCredentialsRecovered(
  db: DatabaseOrTransaction,
  boss: PgBoss,
  params: { integration: string; correlationId?: string },
): Promise<{ recovered: boolean }> {
  const cleared = await db
    .update(integrations)
    .set({ credentialsError: null, credentialsFailingSince: null })
    .where(sql`${integrations.name} = ${params.integration} and ${integrations.credentialsFailingSince} is not null`)
    .returning({ name: integrations.name });
  if (cleared.length === 0) return { recovered: false };
  await emitPlatformEvent(txEventSender(boss, db), {
    type: 'credentials.recovered',
    at: new Date().toISOString(),
    integration: params.integration,
    ...(params.correlationId ? { correlationId: params.correlationId } : {}),
  });
  return { recovered: true };
}

/** For the inventory and the integration page. */
export async function getCredentialsHealth(db: DatabaseOrTransaction, params: { integration: string }): Promise<CredentialsHealth | null> {
  const [row] = await db
    .select({ error: integrations.credentialsError, since: integrations.credentialsFailingSince })
    .from(integrations)
    .where(eq(integrations.name, params.integration));
  if (!row) return null;
  return { failing: row.since !== null, error: row.error, since: row.since };
}

/**
 * Transient token failures in a row per integration, in this process (across its attempts): one
 * alone is a passing blip of the token endpoint, which ctx.http retries with its request.
 */
const transientInARow = new Map<string, number>();
/** How many transient token failures in a row make the integration's credentials failing. */
const TRANSIENT_FAILURES_RECORDED = 2;

/**
 * Wraps an attempt's OAuth2 provider: a token request that fails records the failure (with the
 * provider's error) before the error goes on to the handler; a token obtained while the integration
 * is known to be failing records the recovery. Recording problems never fail the request.
 *
 * A refusal (a CredentialsError: 400, 401) is recorded at once. A transient failure (a 5xx, 408 or
 * 429, a timeout, a connection failure) is recorded from the second in a row: one alone, retried
 * with its request and followed by a token, opened a "credentials rejected" incident and its alert
 * for a single 502, and closed it a moment later.
 */
export function watchTokenHealth(
  provider: OAuth2Provider,
  params: { db: Database; boss: PgBoss; integration: string; failing: boolean; correlationId?: string },
): OAuth2Provider {
  let failing = params.failing;
  const note = (work: Promise<unknown>) =>
    work.catch((error) =>
      console.error(`[token-health] ${params.integration}: could not record credentials health: ${databaseReason(error)}`),
    );
  return {
    get tokenRequests() {
      return provider.tokenRequests;
    },
    invalidate: (token) => provider.invalidate(token),
    async getToken(request) {
      let token: string;
      try {
        token = await provider.getToken(request);
      } catch (error) {
        const transient = error instanceof TransientError;
        const inARow = transient ? (transientInARow.get(params.integration) ?? 0) + 1 : 0;
        if (!isCancelledError(error)) transientInARow.set(params.integration, inARow);
        if (!isCancelledError(error) && (!transient || inARow >= TRANSIENT_FAILURES_RECORDED)) {
          failing = true;
          await note(
            recordCredentialsFailure(params.db, params.boss, {
              integration: params.integration,
              error: errorMessage(error),
              correlationId: params.correlationId,
            }),
          );
        }
        throw error;
      }
      transientInARow.delete(params.integration);
      if (failing) {
        failing = false;
        await note(
          recordCredentialsRecovered(params.db, params.boss, { integration: params.integration, correlationId: params.correlationId }),
        );
      }
      return token;
    },
  };
}
