import type { Database } from '../db/client';
import { seedDemo } from '../db/seed';
import type { Keyring } from '../lib/platform/governance/crypto';
import { buildRegistry, syncRegistry } from '../lib/platform/registry';
import { DEMO_CREDENTIALS } from '../sandbox/demo-credentials';

/**
 * The demo seed of `npm run dev` / `npm start` (scripts/start.ts), run in its own process before
 * it starts the others: it registers the shipped integrations, and their code defaults point at
 * the sandbox stand-ins through SANDBOX_URL, read when their modules load (crm-sync's baseUrl,
 * accounting-export's baseUrl and tokenUrl). The processes start.ts starts get the URL of
 * SANDBOX_PORT; this one must load the integrations with the same, so they are loaded here, after
 * start.ts has set it, never by a static import (with SANDBOX_PORT=4400 the stored settings said
 * port 4000 and every run was refused). Returns true when it seeded now.
 */
export async function seedDemoOnStart(db: Database, params: { keyring: Keyring; sandboxUrl: string; appUrl: string }): Promise<boolean> {
  if (process.env.SANDBOX_URL !== params.sandboxUrl) {
    throw new Error(
      `The demo seed uses the sandbox at ${params.sandboxUrl}, but this process has SANDBOX_URL ${process.env.SANDBOX_URL ?? '(unset)'}: ` +
        'the integrations would be registered with settings pointing elsewhere. Set SANDBOX_URL to the same URL before seeding.',
    );
  }
  const { integrations } = await import('../lib/integrations');
  return seedDemo(db, {
    keyring: params.keyring,
    credentials: DEMO_CREDENTIALS,
    sandboxUrl: params.sandboxUrl,
    appUrl: params.appUrl,
    syncIntegrations: async (target, backdate) => {
      await syncRegistry(target, { registry: buildRegistry(integrations), backdate });
    },
  });
}
