import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { integrations as shipped } from '../../lib/integrations';
import { createChannel } from '../../lib/platform/alerts';
import { updateIntegrationConfig } from '../../lib/platform/governance/config';
import { keyringFrom } from '../../lib/platform/governance/crypto';
import { previewMapping, type Mapping } from '../../lib/platform/mapping';
import { buildRegistry, syncRegistry } from '../../lib/platform/registry';
import { freshDatabase, type TestDatabase } from '../db';

/**
 * Property-based hostile input at the platform's boundaries (issue 8, item 7): wrong types, huge
 * strings, unicode, HTML/script, invalid cron and time zones, absurd delays, malformed JSONata and
 * unknown fields. Each is answered with a clear message (the kind a 4xx carries) and writes nothing.
 * The console and API call exactly these functions after checking the role; React escapes any text
 * they render.
 */

const registry = buildRegistry(shipped);
const definition = registry.get('accounting-export')!;
const keyring = keyringFrom({ key: randomBytes(32).toString('base64'), keyId: 'test' });
let t: TestDatabase;

const nasty = fc.oneof(
  fc.string({ maxLength: 50 }),
  fc.string({ unit: 'binary', maxLength: 50 }),
  fc.constantFrom(
    '<script>alert(1)</script>',
    '"><img src=x onerror=alert(1)>',
    "'; drop table runs; --",
    '\u0000',
    '\u202e\u0041',
    '𝔘𝔫𝔦𝔠𝔬𝔡𝔢',
    'x'.repeat(20_000),
  ),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.string(), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }), { maxKeys: 3 }),
);

async function fingerprint(db: TestDatabase['db']) {
  const [row] = await db.execute<{ f: string }>(sql`
    select md5(coalesce((select string_agg(i::text, '|' order by name) from integrations i), '')
             || coalesce((select string_agg(a::text, '|' order by id) from audit_log a), '')
             || coalesce((select string_agg(c::text, '|' order by id) from alert_channels c), '')
             || coalesce((select string_agg(s::text, '|' order by integration, name) from integration_secrets s), '')) as f`);
  return row.f;
}

beforeAll(async () => {
  t = await freshDatabase();
  await syncRegistry(t.db, { registry });
});
afterAll(() => t.drop());

describe('hostile input', () => {
  it('a config patch of the wrong shape is refused with field messages and writes nothing', async () => {
    const before = await fingerprint(t.db);
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.record(
          {
            schedule: fc.oneof(nasty, fc.constantFrom('0 25 * * *', '61 * * * *', '* * * * * * *', 'every day', '')),
            timezone: fc.oneof(nasty, fc.constantFrom('Mars/Olympus', 'UTC+99', '')),
            retryDelays: fc.oneof(nasty, fc.array(fc.oneof(nasty, fc.constantFrom('-5s', '0s', '999999h', '1y')), { maxLength: 12 })),
            breakerFailures: fc.oneof(nasty, fc.constantFrom(0, -1, 1e9, 2.5)),
            breakerCooldown: fc.oneof(nasty, fc.constantFrom('-1m', '100d')),
            settings: fc.oneof(nasty, fc.record({ baseUrl: nasty, batchSize: nasty })),
            mapping: fc.oneof(
              nasty,
              fc.record({
                fields: fc.array(fc.record({ target: nasty, expression: nasty, type: nasty, required: nasty }), { maxLength: 3 }),
              }),
            ),
            secrets: fc.oneof(nasty, fc.dictionary(fc.constantFrom('clientId', 'nope', '<b>'), nasty, { maxKeys: 2 })),
            unknownField: nasty,
          },
          { requiredKeys: ['unknownField'] },
        ),
        async (patch) => {
          const [{ version }] = await t.db.execute<{ version: number }>(
            sql`select version from integrations where name = 'accounting-export'`,
          );
          const result = await updateIntegrationConfig(t.db, {
            integration: 'accounting-export',
            expectedVersion: version,
            patch,
            actor: 'fuzz',
            definition,
            keyring,
          });
          expect(result.ok).toBe(false);
          if (result.ok) return;
          expect(result.code).toBe('invalid_input');
          expect(result.message.length).toBeGreaterThan(0);
          expect(Object.keys(result.fieldErrors ?? {}).length).toBeGreaterThan(0);
          for (const message of Object.values(result.fieldErrors ?? {})) expect(message.length).toBeLessThan(500);
          refused++;
        },
      ),
      { numRuns: 150, seed: 42 },
    );
    expect(await fingerprint(t.db)).toBe(before);
    console.log(`[reliability] hostile config patches: ${refused} refused, written: 0`);
  });

  it('a channel with hostile fields is refused with a message and writes nothing', async () => {
    const before = await fingerprint(t.db);
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          type: fc.oneof(nasty, fc.constantFrom('webhook', 'slack', 'email')),
          name: fc.oneof(nasty, fc.constantFrom('<script>x</script>', '')),
          url: fc.oneof(nasty, fc.constantFrom('javascript:alert(1)', 'ftp://x', 'http://')),
          to: nasty,
          from: nasty,
          smtpUrl: fc.oneof(nasty, fc.constantFrom('smtp://', 'http://x')),
          hmacSecret: fc.oneof(nasty, fc.constant('short')),
          extra: nasty,
        }),
        async (input) => {
          const result = await createChannel(t.db, { input, actor: 'fuzz', keyring });
          expect(result.ok).toBe(false);
          if (!result.ok) expect(result.message.length).toBeGreaterThan(0);
        },
      ),
      { numRuns: 120, seed: 7 },
    );
    expect(await fingerprint(t.db)).toBe(before);
  });

  it('malformed JSONata in the mapping preview is reported per field, never thrown, and other fields still preview', async () => {
    let uncompiled = 0;
    let clean = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string({ maxLength: 40 }),
          fc.constantFrom('(', '$x(', '"unterminated', 'a[', '$$$', '}{', '$eval("1")', 'function($x){$x}'),
        ),
        async (expression) => {
          const mapping: Mapping = {
            fields: [
              { target: 'good', expression: 'number', type: 'string', required: true },
              { target: 'fuzz', expression: expression.trim() || 'x', type: 'string', required: false },
            ],
          };
          const preview = await previewMapping(mapping, [{ number: 'INV-1' }]);
          for (const e of preview.compileErrors) {
            expect(e.field).toBe('fuzz');
            expect(e.message.length).toBeGreaterThan(0);
          }
          // The sample record is always previewed; only the fuzzed field may fail, and when it does not
          // compile (it is left out) or evaluates cleanly, the good field is in the output.
          expect(preview.results).toHaveLength(1);
          const [record] = preview.results;
          for (const e of record.errors) expect(e.field).toBe('fuzz');
          if (preview.compileErrors.length > 0) uncompiled++;
          else if (record.errors.length === 0) clean++;
          if (preview.compileErrors.length > 0 || record.errors.length === 0) {
            expect(record.output).toBeDefined();
            expect(record.output?.good).toBe('INV-1');
          }
        },
      ),
      { numRuns: 150, seed: 3 },
    );
    // Both paths that must still preview the good field were exercised.
    expect(uncompiled).toBeGreaterThan(0);
    expect(clean).toBeGreaterThan(0);
  });
});
