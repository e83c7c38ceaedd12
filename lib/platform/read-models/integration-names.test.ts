import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alerts, integrations } from '../../../db/schema';
import { freshDatabase, type TestDatabase } from '../../../test/db';
import { AppError } from '../errors';
import { AUDIT_TRAIL } from '../execution/events';
import { appendAudit } from '../governance/audit';
import { integrationFilterNames, requireKnownIntegration } from './integration-names';

let t: TestDatabase;
beforeAll(async () => {
  t = await freshDatabase();
  // 'retired' is an integration removed from the code: its row (and its runs) stay.
  await t.db.insert(integrations).values([
    { name: 'crm-sync', breakerKey: 'crm' },
    { name: 'accounting-export', breakerKey: 'erp' },
    { name: 'retired', breakerKey: 'retired', registered: false },
  ]);
  await t.db.insert(alerts).values([
    { event: 'opened', integration: AUDIT_TRAIL, title: 'Audit trail: verification failed', body: {} as never },
    { event: 'opened', integration: 'crm-sync', title: 'crm-sync: run failed', body: {} as never },
    { event: 'test', integration: null, title: 'Test alert', body: {} as never },
  ]);
  await appendAudit(t.db, { actor: 'ada', entries: [{ kind: 'action', integration: 'crm-sync', fieldName: 'pause', newValue: null }] });
});
afterAll(() => t.drop());

describe('integrationFilterNames', () => {
  it('is every integration with a row, registered or not, and the names a list holds beside them', async () => {
    expect((await integrationFilterNames(t.db, { list: 'runs' })).sort()).toEqual(['accounting-export', 'crm-sync', 'retired']);
    expect((await integrationFilterNames(t.db, { list: 'alerts' })).sort()).toEqual([
      'accounting-export',
      AUDIT_TRAIL,
      'crm-sync',
      'retired',
    ]);
    expect((await integrationFilterNames(t.db, { list: 'audit' })).sort()).toEqual(['accounting-export', 'crm-sync', 'retired']);
  });
});

describe('requireKnownIntegration', () => {
  const refusal = async (list: 'runs' | 'alerts', integration: string) => {
    try {
      await requireKnownIntegration(t.db, { list, integration });
      return null;
    } catch (error) {
      expect(error).toBeInstanceOf(AppError);
      const e = error as AppError;
      return { status: e.status, message: e.message, fieldErrors: e.fieldErrors };
    }
  };

  it('refuses a name that names nothing with a 400 naming it and the name it probably meant', async () => {
    // Before: GET /api/runs?integration=crm_sync answered 200 with no runs.
    expect(await refusal('runs', 'crm_sync')).toEqual({
      status: 400,
      message: "No integration is named 'crm_sync': did you mean 'crm-sync'?",
      fieldErrors: { integration: "no integration is named 'crm_sync'; did you mean 'crm-sync'?" },
    });
    expect(await refusal('runs', 'billing')).toEqual({
      status: 400,
      message: "No integration is named 'billing': GET /api/integrations lists them.",
      fieldErrors: { integration: "no integration is named 'billing'" },
    });
    expect(await refusal('runs', AUDIT_TRAIL)).toMatchObject({ status: 400 });
  });

  it('takes every known name, an unregistered integration and a name only alerts carry included, and no filter at all', async () => {
    expect(await refusal('runs', 'retired')).toBeNull();
    expect(await refusal('alerts', AUDIT_TRAIL)).toBeNull();
    await expect(requireKnownIntegration(t.db, { list: 'runs', integration: undefined })).resolves.toBeUndefined();
  });
});
