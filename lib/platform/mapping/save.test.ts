import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase, type TestDatabase } from '../../../test/db';
import { integrations as shipped } from '../../integrations';
import { updateIntegrationConfig } from '../governance/config';
import { keyringFrom } from '../governance/crypto';
import { buildRegistry, syncRegistry } from '../registry';
import { parseMappingToSave } from './';

/**
 * The save path of the mapping editor (saveMappingAction: parseMappingDraft, then the config
 * service) with oversized, careless and hostile mappings: each is refused with a message naming
 * the field and what to change, and nothing is written (no config change, no audit row).
 */

const registry = buildRegistry(shipped);
const definition = registry.get('accounting-export')!;
const keyring = keyringFrom({ key: randomBytes(32).toString('base64'), keyId: 'test' });
let t: TestDatabase;

beforeAll(async () => {
  t = await freshDatabase();
  await syncRegistry(t.db, { registry });
});
afterAll(() => t.drop());

async function state() {
  const [row] = await t.db.execute<{ version: number; mapping: unknown; audits: number }>(
    sql`select version, mapping, (select count(*)::int from audit_log) as audits from integrations where name = 'accounting-export'`,
  );
  return row;
}

/** The config service alone, as any other caller than the editor's save uses it. */
async function saveThroughService(mapping: unknown): Promise<{ ok: boolean; message?: string }> {
  const { version } = await state();
  const result = await updateIntegrationConfig(t.db, {
    integration: 'accounting-export',
    expectedVersion: version,
    patch: { mapping },
    actor: 'careless-admin',
    definition,
    keyring,
  });
  return result.ok ? { ok: true } : { ok: false, message: result.message };
}

/** What saveMappingAction does after the role check. */
async function save(raw: unknown): Promise<{ ok: boolean; message?: string }> {
  const draft = parseMappingToSave(raw);
  if (!draft.ok) return { ok: false, message: draft.message };
  const { version } = await state();
  const result = await updateIntegrationConfig(t.db, {
    integration: 'accounting-export',
    expectedVersion: version,
    patch: { mapping: draft.mapping },
    actor: 'careless-admin',
    definition,
    keyring,
  });
  return result.ok ? { ok: true } : { ok: false, message: result.message };
}

const field = (target: string, expression = 'number', type = 'string') => ({ target, expression, type, required: false });

describe('saving a mapping', () => {
  it('refuses oversized, malformed and hostile mappings with a message naming what to change, writing nothing', async () => {
    const before = await state();
    const cases: [unknown, string][] = [
      [{ fields: Array.from({ length: 3000 }, (_, i) => field(`f${i}`)) }, 'Not saved: mapping.fields may have at most 200 fields'],
      [{ fields: Array.from({ length: 201 }, (_, i) => field(`f${i}`)) }, 'Not saved: mapping.fields may have at most 200 fields'],
      [
        { fields: [field('total', `number & "${'x'.repeat(1_000_000)}"`)] },
        "Not saved: field 'total' expression must be at most 2000 characters",
      ],
      [
        { fields: [field('total', `number & "${'x'.repeat(2500)}"`)] },
        'Not saved: mapping.fields.0.expression must be at most 2000 characters',
      ],
      [{ fields: [field('ok'), field('ok')] }, "Not saved: Target 'ok' is used by rows 1 and 2: each target field can be written once"],
      [{ fields: [field('ok'), field('')] }, 'Not saved: Row 2 has no target field: name it or remove the row'],
      [{ fields: [field('gross amount')] }, 'Not saved: mapping.fields.0.target must be a name made of letters'],
      [{ fields: [field('__proto__ ')] }, 'Not saved: mapping.fields.0.target must be a name made of letters'],
      [{ fields: [field('total', 'number', 'money')] }, 'Not saved: mapping.fields.0.type must be one of string, number'],
      [
        { fields: [field('total', '$replace(number, /(a)\\1/, "")')] },
        'Not saved: mapping.total position 24: the regular expression /(a)\\1/ cannot run in linear time',
      ],
      [{ fields: [field('total', 'number +')] }, 'Not saved: mapping.total position'],
    ];
    for (const [mapping, message] of cases) {
      const result = await save(mapping);
      expect(result.ok, message).toBe(false);
      expect(result.message, message).toContain(message);
      expect(result.message!.length).toBeLessThan(400);
    }
    expect(await state()).toEqual(before);
  });

  it('is refused by the config service too when a target is written twice or a row has none, in the editor’s words, writing nothing', async () => {
    const before = await state();
    const cases: [unknown, string][] = [
      [
        { fields: [field('reference'), field('amount'), field('date'), field('total'), field('amount')] },
        "Target 'amount' is used by rows 2 and 5: each target field can be written once",
      ],
      [{ fields: [field('reference'), field('date'), field('  ')] }, 'Row 3 has no target field: name it or remove the row'],
    ];
    for (const [mapping, message] of cases) {
      const result = await saveThroughService(mapping);
      expect(result.ok, message).toBe(false);
      expect(result.message, message).toContain(message);
    }
    expect(await state()).toEqual(before);
  });

  it('saves a mapping whose expressions are hostile only at run time: the run bounds them per field', async () => {
    const result = await save({
      fields: [field('reference'), field('loop', '($f := function($x){ $f($x) }; $f(1))'), field('range', '$count([1..9999999])')],
    });
    expect(result).toEqual({ ok: true });
  });
});
