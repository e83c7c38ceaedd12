import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { integrations, runs } from '../../db/schema';
import { freshDatabase, type TestDatabase } from '../../test/db';
import { integrations as shippedIntegrations } from '../integrations';
import { defineIntegration, type IntegrationDefinition } from './contract';
import { RegistryError } from './errors';
import { httpUrl } from './http-url';
import { attemptTimeoutMs, buildRegistry, codeAttemptTimeout, syncRegistry } from './registry';

const make = (name: string, extra: Partial<IntegrationDefinition> = {}): IntegrationDefinition =>
  defineIntegration({
    name,
    description: `${name} handler`,
    settings: z.object({ batchSize: z.number().int().default(10) }),
    async execute() {
      return { processed: 0 };
    },
    ...extra,
  }) as IntegrationDefinition;

let t: TestDatabase;
beforeAll(async () => {
  t = await freshDatabase();
});
afterAll(() => t.drop());

describe('buildRegistry', () => {
  it('routes by name', () => {
    const registry = buildRegistry([make('alpha'), make('beta')]);
    expect([...registry.keys()]).toEqual(['alpha', 'beta']);
    expect(registry.get('beta')?.description).toBe('beta handler');
  });

  it('takes kebab-case names only, up to 63 characters', () => {
    for (const name of ['a', 'crm-sync', 'v2-export-3', 'x'.repeat(63)]) expect(buildRegistry([make(name)]).has(name)).toBe(true);
    for (const name of ['orders-', '-orders', 'partner--orders', 'Orders', 'partner_orders', 'x'.repeat(64), ''])
      expect(() => buildRegistry([make(name)]), name).toThrow(
        `Integration name '${name}' ("${name} handler") is invalid: use kebab-case, 1-63 lowercase letters and digits with single dashes between words (e.g. partner-orders)`,
      );
  });

  it('fails on a duplicate name with a message naming it and both handlers', () => {
    const first = make('dup', { description: 'First' });
    const second = make('dup', { description: 'Second' });
    expect(() => buildRegistry([first, second])).toThrow(RegistryError);
    expect(() => buildRegistry([first, second])).toThrow(
      "Duplicate integration name 'dup': two handlers are registered under it ('First' and 'Second'). Give each integration a unique name in lib/integrations/index.ts.",
    );
  });

  it('refuses names that cannot be routed and defaults that cannot work', () => {
    expect(() => buildRegistry([make('Bad Name')])).toThrow(/Integration name 'Bad Name' \("Bad Name handler"\) is invalid/);
    expect(() => buildRegistry([make('cronny', { defaults: { schedule: '0 25 * * *' } })])).toThrow(
      "Integration 'cronny' has invalid defaults: Cron '0 25 * * *' is invalid: hour must be 0–23 (got 25)",
    );
    expect(() => buildRegistry([make('slow', { defaults: { retry: { delays: ['soon'] } } })])).toThrow(/'soon' is not a duration/);
    expect(() => buildRegistry([make('hasty', { defaults: { attemptTimeout: 'an hour' } })])).toThrow(
      /^Integration 'hasty' has invalid defaults: 'an hour' is not a duration/,
    );
    expect(() => buildRegistry([make('endless', { defaults: { attemptTimeout: '4h' } })])).toThrow(
      "Integration 'endless' has invalid defaults: attemptTimeout '4h' is out of range: use 1s to 3h",
    );
    expect(() => buildRegistry([make('instant', { defaults: { attemptTimeout: '500ms' } })])).toThrow(
      /attemptTimeout '500ms' is out of range/,
    );
    // A delay list written as one string was read letter by letter ("'3' is not a duration").
    expect(() => buildRegistry([make('stringly', { defaults: { retry: { delays: '30s' as unknown as string[] } } })])).toThrow(
      "Integration 'stringly' has invalid defaults: retry.delays is a list of delays, e.g. delays: ['30s', '2m', '10m']",
    );
    // No settings schema, or not a zod one: a TypeError at the first run or default setting before.
    for (const settings of [undefined, { baseUrl: 'https://erp.example' }])
      expect(() => buildRegistry([make('schemaless', { settings: settings as unknown as z.ZodType })])).toThrow(
        "Integration 'schemaless' has no settings schema: declare one with zod, e.g. settings: z.object({ baseUrl: z.string().url() })",
      );
  });

  it('refuses a default mapping the mapping editor would refuse, naming the field', () => {
    const field = { target: 'reference', expression: 'number', type: 'string', required: true };
    const mapped = (defaults: unknown, sample: unknown = [{ number: 'INV-1' }]) =>
      make('mapped', { mapping: { sample: sample as unknown[], defaults } });
    expect(buildRegistry([mapped({ key: 'number', fields: [field] })]).has('mapped')).toBe(true);
    // Before, each was stored as the integration's mapping and failed its first run.
    expect(() => buildRegistry([mapped({ fields: [{ ...field, expression: '$count(' }] })])).toThrow(
      /^Integration 'mapped' has an invalid default mapping: Field 'reference' at position \d+: /,
    );
    expect(() => buildRegistry([mapped({ fields: [{ ...field, type: 'money' }] })])).toThrow(
      /^Integration 'mapped' has an invalid default mapping: .*must be one of string, number, integer, boolean, date, decimal/,
    );
    expect(() => buildRegistry([mapped({ fields: [field, { ...field, expression: 'id' }] })])).toThrow(
      /^Integration 'mapped' has an invalid default mapping: .*reference/,
    );
    expect(() => buildRegistry([mapped({ fields: [] })])).toThrow(
      /^Integration 'mapped' has an invalid default mapping: .*at least one field/,
    );
    expect(() => buildRegistry([mapped({ fields: [field] }, { number: 'INV-1' })])).toThrow(
      "Integration 'mapped' has an invalid mapping: mapping.sample is a list of sample source records for the editor's preview",
    );
    // The shipped one passes.
    expect(() => buildRegistry(shippedIntegrations)).not.toThrow();
  });

  it('refuses an events declaration that would refuse every delivery', () => {
    const events = { scheme: 'standard-webhooks' as const, typeFrom: () => 'x', async handle() {} };
    const hooked = (extra: Record<string, unknown>) =>
      make('hooked', { events: { ...events, ...extra } as IntegrationDefinition['events'] });
    expect(() => buildRegistry([hooked({ typeFrom: undefined })])).toThrow(
      "Integration 'hooked' declares events without a typeFrom(delivery) function: say where the event type is",
    );
    expect(() => buildRegistry([hooked({ orderingKeyFrom: 'data.payment_id' })])).toThrow(
      "Integration 'hooked' has an events.orderingKeyFrom that is not a function (delivery) => value",
    );
    for (const toleranceSeconds of [0, -1, Number.NaN, Number.POSITIVE_INFINITY])
      expect(() => buildRegistry([hooked({ toleranceSeconds })]), String(toleranceSeconds)).toThrow(
        `Integration 'hooked' has an invalid events.toleranceSeconds ${toleranceSeconds}: use a number of seconds of at least 1 (default 300)`,
      );
    for (const maxBodyBytes of [0, -5, 1.5])
      expect(() => buildRegistry([hooked({ maxBodyBytes })]), String(maxBodyBytes)).toThrow(
        `Integration 'hooked' has an invalid events.maxBodyBytes ${maxBodyBytes}: use a whole number of bytes of at least 1 (default 262144)`,
      );
    expect(buildRegistry([hooked({ toleranceSeconds: 900, maxBodyBytes: 1024, orderingKeyFrom: () => 'k' })]).size).toBe(1);
  });

  it('refuses a secret name the credentials editor cannot set, and one declared twice', () => {
    // The editor takes a letter, then letters, digits and _: 'api-key' was registered, listed on
    // the Credentials tab, and every save of it was refused.
    for (const name of ['api-key', '1token', 'x'.repeat(65), ''])
      expect(() => buildRegistry([make('keyed', { secrets: [name] })]), name).toThrow(
        `Integration 'keyed' declares the secret name '${name}', which the console cannot set: start with a letter, then letters, digits and _ (at most 64 characters), e.g. 'apiKey' or 'api_key'`,
      );
    expect(() => buildRegistry([make('keyed', { secrets: ['apiKey', 'apiKey'] })])).toThrow(
      "Integration 'keyed' declares the secret 'apiKey' twice",
    );
    expect(() => buildRegistry([make('keyed', { secrets: 'apiKey' as unknown as string[] })])).toThrow(
      "Integration 'keyed' has invalid secrets: list the secret names, e.g. secrets: ['clientId', 'clientSecret']",
    );
    expect(buildRegistry([make('keyed', { secrets: ['apiKey', 'client_secret', 'K2'] })]).size).toBe(1);
  });

  it('refuses default settings its settings schema refuses, naming every bad setting', () => {
    const partner = (settings: Record<string, unknown>) =>
      make('partner-orders', {
        settings: z.object({ baseUrl: httpUrl('https://partner.example.com'), pageSize: z.number().int().min(1).max(200) }),
        defaults: { settings },
      });
    expect(() => buildRegistry([partner({ baseUrl: 'ftp://localhost:4400', pageSize: 500 })])).toThrow(RegistryError);
    expect(() => buildRegistry([partner({ baseUrl: 'ftp://localhost:4400', pageSize: 500 })])).toThrow(
      "Integration 'partner-orders' has invalid default settings (defaults.settings): setting 'baseUrl' uses the scheme 'ftp:': only http and https can be reached: use an http(s) URL, e.g. https://partner.example.com; setting 'pageSize' must be at most 200",
    );
    // A required setting left out is named too, and so is a misspelt key a strict schema refuses.
    expect(() => buildRegistry([partner({ baseUrl: 'https://partner.example.com' })])).toThrow(
      /: setting 'pageSize' is missing: expected a number$/,
    );
    const strict = make('strict', {
      settings: z.object({ pageSize: z.number() }).strict(),
      defaults: { settings: { pageSize: 5, pagesize: 5 } },
    });
    expect(() => buildRegistry([strict])).toThrow(/: setting 'pagesize' is not in the settings schema$/);
    // A schema that strips unknown keys (zod's default) would drop a misspelt one: named too, nested ones included.
    const stripping = make('stripping', {
      settings: z.object({ pageSize: z.number().default(50), paging: z.object({ limit: z.number() }).optional() }),
      defaults: { settings: { pagesize: 5, paging: { limit: 3, Limit: 4 } } },
    });
    expect(() => buildRegistry([stripping])).toThrow(
      "Integration 'stripping' has invalid default settings (defaults.settings): setting 'pagesize' is not in the settings schema, which drops it (a misspelt name?); setting 'paging.Limit' is not in the settings schema, which drops it (a misspelt name?)",
    );
    // A schema that keeps unknown keys (looseObject, a catchall) accepts them, as it will at run time.
    const loose = make('loose', {
      settings: z.looseObject({ pageSize: z.number() }),
      defaults: { settings: { pageSize: 5, extra: true } },
    });
    expect(buildRegistry([loose]).size).toBe(1);
    expect(buildRegistry([partner({ baseUrl: 'https://partner.example.com', pageSize: 200 })]).size).toBe(1);
  });

  it('accepts an integration that gives no default settings, even when its schema needs some (the admin sets them)', () => {
    const needsUrl = z.object({ baseUrl: httpUrl('https://partner.example.com') });
    expect(needsUrl.safeParse({}).success).toBe(false);
    expect(buildRegistry([make('unset', { settings: needsUrl })]).size).toBe(1);
    expect(buildRegistry([make('unset', { settings: needsUrl, defaults: { schedule: '0 2 * * *' } })]).size).toBe(1);
  });

  it('accepts the shipped integrations with their default settings', () => {
    expect([...buildRegistry(shippedIntegrations).keys()]).toEqual(['accounting-export', 'crm-sync', 'payment-events']);
  });

  it("gives every attempt a time limit: the row's, else the code's attemptTimeout, else 1h", () => {
    const quick = make('quick', { defaults: { attemptTimeout: '90s' } });
    expect(attemptTimeoutMs({ attemptTimeout: null }, make('plain'))).toBe(3_600_000);
    expect(attemptTimeoutMs({ attemptTimeout: null }, quick)).toBe(90_000);
    expect(attemptTimeoutMs({ attemptTimeout: '2h' }, quick)).toBe(7_200_000);
    // A value written around the config service's validation is not trusted: the code's is used.
    for (const bad of ['soon', '0s', '4h', '']) expect(attemptTimeoutMs({ attemptTimeout: bad }, quick)).toBe(90_000);
    expect(codeAttemptTimeout(quick)).toBe('90s');
    expect(codeAttemptTimeout(make('plain'))).toBe('1h');
    expect(buildRegistry([make('long', { defaults: { attemptTimeout: '3h' } })]).size).toBe(1);
  });
});

describe('syncRegistry', () => {
  it('inserts new integrations with their defaults and reports them as added', async () => {
    const registry = buildRegistry([
      make('exporter', {
        breakerKey: 'ledger',
        defaults: {
          schedule: '0 2 * * *',
          timezone: 'Europe/Paris',
          retry: { delays: ['1s', '2s'] },
          breaker: { failures: 5, cooldown: '30s' },
          attemptTimeout: '20m',
          settings: { batchSize: 50 },
        },
      }),
      make('importer'),
    ]);
    const result = await syncRegistry(t.db, { registry });
    expect(result).toEqual({ added: ['exporter', 'importer'], orphaned: [] });
    const [row] = await t.db.select().from(integrations).where(eq(integrations.name, 'exporter'));
    expect(row).toMatchObject({
      description: 'exporter handler',
      schedule: '0 2 * * *',
      timezone: 'Europe/Paris',
      retryDelays: ['1s', '2s'],
      breakerKey: 'ledger',
      breakerFailures: 5,
      breakerCooldown: '30s',
      attemptTimeout: '20m',
      settings: { batchSize: 50 },
      registered: true,
    });
    const [plain] = await t.db.select().from(integrations).where(eq(integrations.name, 'importer'));
    expect(plain).toMatchObject({
      retryDelays: ['30s', '2m', '5m'],
      breakerKey: 'importer',
      breakerFailures: 3,
      breakerCooldown: '1m',
      attemptTimeout: '1h',
      schedule: null,
    });
  });

  it('keeps edited configuration of known integrations (defaults apply only on insert)', async () => {
    await t.db
      .update(integrations)
      .set({ schedule: '0 3 * * *', settings: { batchSize: 7 }, attemptTimeout: '2h' })
      .where(eq(integrations.name, 'exporter'));
    // The code's time limits changed too: like the schedule, they apply to new integrations only.
    const registry = buildRegistry([
      make('exporter', { description: 'new text', defaults: { schedule: '0 2 * * *', attemptTimeout: '5m' } }),
      make('importer', { defaults: { attemptTimeout: '10m' } }),
    ]);
    const result = await syncRegistry(t.db, { registry });
    expect(result).toEqual({ added: [], orphaned: [] });
    const [row] = await t.db.select().from(integrations).where(eq(integrations.name, 'exporter'));
    expect(row).toMatchObject({ schedule: '0 3 * * *', settings: { batchSize: 7 }, attemptTimeout: '2h', description: 'new text' });
    const [plain] = await t.db.select().from(integrations).where(eq(integrations.name, 'importer'));
    expect(plain.attemptTimeout).toBe('1h');
  });

  it("fills a row's missing time limit (from before migration 0030) from the code, once", async () => {
    await t.db.update(integrations).set({ attemptTimeout: null }).where(eq(integrations.name, 'importer'));
    await syncRegistry(t.db, { registry: buildRegistry([make('exporter'), make('importer', { defaults: { attemptTimeout: '10m' } })]) });
    const [filled] = await t.db.select().from(integrations).where(eq(integrations.name, 'importer'));
    expect(filled.attemptTimeout).toBe('10m');
    const [kept] = await t.db.select().from(integrations).where(eq(integrations.name, 'exporter'));
    expect(kept.attemptTimeout).toBe('2h');
  });

  it('marks an integration whose handler is gone as orphaned and keeps its history', async () => {
    await t.db
      .insert(runs)
      .values({ integration: 'importer', trigger: 'manual', triggeredBy: 'ops', correlationId: 'c1', maxAttempts: 4, status: 'succeeded' });
    const result = await syncRegistry(t.db, { registry: buildRegistry([make('exporter')]) });
    expect(result).toEqual({ added: [], orphaned: ['importer'] });
    const [row] = await t.db.select().from(integrations).where(eq(integrations.name, 'importer'));
    expect(row.registered).toBe(false);
    expect(row.orphanedAt).toBeInstanceOf(Date);
    expect(await t.db.select().from(runs).where(eq(runs.integration, 'importer'))).toHaveLength(1);

    const again = await syncRegistry(t.db, { registry: buildRegistry([make('exporter')]) });
    expect(again.orphaned).toEqual([]);

    const back = await syncRegistry(t.db, { registry: buildRegistry([make('exporter'), make('importer')]) });
    expect(back).toEqual({ added: [], orphaned: [] });
    const [restored] = await t.db.select().from(integrations).where(eq(integrations.name, 'importer'));
    expect(restored).toMatchObject({ registered: true, orphanedAt: null });
  });
});
