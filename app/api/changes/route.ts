import { AppError } from '@/lib/platform/errors';
import { requireKnownIntegration } from '@/lib/platform/read-models/integration-names';
import { liveFingerprint } from '@/lib/platform/read-models/live-fingerprint';
import { otherMethods } from '@/lib/server/api-methods';
import { ZChangesQuery } from '@/lib/server/api-schemas';
import { getDb } from '@/lib/server/db';
import { route } from '@/lib/server/route';

export const dynamic = 'force-dynamic';

/** The fingerprint of what a console page shows: what the Overview, Integrations, an integration's page, Alerts and Audit poll. */
export const GET = route({
  role: 'viewer',
  input: ZChangesQuery,
  handler: async ({ input }) => {
    // The alerts of an integration that does not exist: a 400 naming it, as GET /api/runs answers.
    if (input.view === 'alerts') await requireKnownIntegration(getDb(), { list: 'alerts', integration: input.integration });
    const fingerprint = await liveFingerprint(getDb(), input);
    if (fingerprint === null) throw new AppError('not_found', `No integration is named '${input.integration}'.`);
    return { view: input.view, fingerprint };
  },
});

export const { POST, PUT, PATCH, DELETE, OPTIONS } = otherMethods('GET');
