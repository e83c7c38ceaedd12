import { and, eq, notInArray, sql } from 'drizzle-orm';
import type { Database } from '../../db/client';
import { integrations, type Integration } from '../../db/schema';
import type { IntegrationDefinition, Registry } from './contract';
import { parseDuration } from './duration';
import { RegistryError } from './errors';
import { recordConfigBaselines } from './governance/config-baseline';
import { compileMapping, formatCompileErrors, isCompiledMapping, ZMapping } from './mapping';
import { issueMessage } from './params';
import { validateCron, validateTimezone } from './triggers/schedules';

/**
 * The registry: every integration listed in lib/integrations/index.ts, by name. Start-up builds it
 * (a duplicate name or an invalid default stops start-up with a message saying which), then syncs
 * it into the integrations table: new handlers are inserted with their defaults, known ones keep
 * their edited configuration, and a stored integration whose handler is gone is marked orphaned
 * (its runs, audit and configuration stay).
 */

/** Kebab-case, 1-63 characters: words of lowercase letters and digits joined by single dashes (it is a URL segment). */
const NAME = /^(?=.{1,63}$)[a-z0-9]+(-[a-z0-9]+)*$/;
export const DEFAULT_RETRY_DELAYS = ['30s', '2m', '5m'];
export const DEFAULT_BREAKER = { failures: 3, cooldown: '1m' } as const;
/** An attempt's time limit when the integration sets none (defaults.attemptTimeout). */
export const DEFAULT_ATTEMPT_TIMEOUT = '1h';
/** The shortest time limit an integration may have (in code or in the config editor). */
export const MIN_ATTEMPT_TIMEOUT = '1s';
/**
 * The longest time limit an integration may have: below the runs queue's pg-boss expiry (4 h,
 * queue.ts), so the limit and its grace always end a hung attempt before the expiry does.
 */
export const MAX_ATTEMPT_TIMEOUT = '3h';
/**
 * A secret's name: what the credentials editor accepts (ZConfigPatch). A declared secret whose name
 * it refuses could never be set.
 */
export const SECRET_NAME = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;

/** The time limit the code gives an integration: its defaults.attemptTimeout, else 1h (what the registry inserts). */
export function codeAttemptTimeout(def: Pick<IntegrationDefinition, 'defaults'>): string {
  return def.defaults?.attemptTimeout ?? DEFAULT_ATTEMPT_TIMEOUT;
}

/**
 * An attempt's time limit in milliseconds: the integration row's (edited in the config editor),
 * or the code's while the row has none (a row from before migration 0030 not yet synced). The
 * config service and buildRegistry validate both; a value that still is not a duration from 1s to
 * 3h (written around them) is not trusted: the code's value is used instead.
 */
export function attemptTimeoutMs(integration: Pick<Integration, 'attemptTimeout'>, def: Pick<IntegrationDefinition, 'defaults'>): number {
  const fallback = parseDuration(codeAttemptTimeout(def));
  if (integration.attemptTimeout === null) return fallback;
  try {
    const ms = parseDuration(integration.attemptTimeout);
    return ms >= parseDuration(MIN_ATTEMPT_TIMEOUT) && ms <= parseDuration(MAX_ATTEMPT_TIMEOUT) ? ms : fallback;
  } catch {
    return fallback;
  }
}

function validateDefinition(def: IntegrationDefinition): void {
  const where = `Integration '${def.name}'`;
  if (typeof def.execute !== 'function' && !def.events)
    throw new RegistryError(`${where} has no execute(ctx) function and declares no events`);
  if (def.events) {
    const e = def.events;
    if (typeof e.handle !== 'function') throw new RegistryError(`${where} declares events without a handle(events, ctx, tx) function`);
    if (e.scheme !== 'standard-webhooks' && e.scheme !== 'hmac-sha256')
      throw new RegistryError(`${where} declares an unknown signature scheme '${String(e.scheme)}' (standard-webhooks or hmac-sha256)`);
    if (e.scheme === 'hmac-sha256' && typeof e.idFrom !== 'function')
      throw new RegistryError(`${where} uses hmac-sha256 and must say where the event id is (events.idFrom)`);
    if (e.batchSize !== undefined && (!Number.isInteger(e.batchSize) || e.batchSize < 1 || e.batchSize > 100))
      throw new RegistryError(`${where} has an invalid events.batchSize ${e.batchSize}: use a whole number from 1 to 100`);
    // Each of these was accepted and refused every delivery instead: 400 "no event type in the
    // delivery", 401 "stale timestamp", 413 "body over 0 bytes".
    if (typeof e.typeFrom !== 'function')
      throw new RegistryError(`${where} declares events without a typeFrom(delivery) function: say where the event type is`);
    for (const fn of ['idFrom', 'orderingKeyFrom', 'versionFrom'] as const)
      if (e[fn] !== undefined && typeof e[fn] !== 'function')
        throw new RegistryError(`${where} has an events.${fn} that is not a function (delivery) => value`);
    if (e.toleranceSeconds !== undefined && !(Number.isFinite(e.toleranceSeconds) && e.toleranceSeconds >= 1))
      throw new RegistryError(
        `${where} has an invalid events.toleranceSeconds ${e.toleranceSeconds}: use a number of seconds of at least 1 (default 300)`,
      );
    if (e.maxBodyBytes !== undefined && !(Number.isInteger(e.maxBodyBytes) && e.maxBodyBytes >= 1))
      throw new RegistryError(
        `${where} has an invalid events.maxBodyBytes ${e.maxBodyBytes}: use a whole number of bytes of at least 1 (default 262144)`,
      );
  }
  validateSecretNames(def, where);
  if (def.mapping !== undefined) validateDefaultMapping(def, where);
  // Read by every run and the config editor: a missing one crashed later with a TypeError.
  if (typeof (def.settings as { safeParse?: unknown } | undefined)?.safeParse !== 'function')
    throw new RegistryError(
      `${where} has no settings schema: declare one with zod, e.g. settings: z.object({ baseUrl: z.string().url() })`,
    );
  const d = def.defaults;
  if (!d) return;
  // A string was read letter by letter ("'3' is not a duration").
  if (d.retry?.delays !== undefined && !Array.isArray(d.retry.delays))
    throw new RegistryError(`${where} has invalid defaults: retry.delays is a list of delays, e.g. delays: ['30s', '2m', '10m']`);
  try {
    for (const delay of d.retry?.delays ?? []) parseDuration(delay);
    if (d.breaker) {
      parseDuration(d.breaker.cooldown);
      if (!Number.isInteger(d.breaker.failures) || d.breaker.failures < 1) {
        throw new Error(`breaker failures must be a whole number of at least 1 (got ${d.breaker.failures})`);
      }
    }
    if (d.attemptTimeout !== undefined) {
      const ms = parseDuration(d.attemptTimeout);
      if (ms < parseDuration(MIN_ATTEMPT_TIMEOUT) || ms > parseDuration(MAX_ATTEMPT_TIMEOUT))
        throw new Error(`attemptTimeout '${d.attemptTimeout}' is out of range: use ${MIN_ATTEMPT_TIMEOUT} to ${MAX_ATTEMPT_TIMEOUT}`);
    }
    if (d.timezone) validateTimezone(d.timezone);
    if (d.schedule) validateCron(d.schedule);
  } catch (error) {
    throw new RegistryError(`${where} has invalid defaults: ${(error as Error).message}`);
  }
  if (d.settings !== undefined) validateDefaultSettings(def, where);
}

/**
 * The default mapping is what the integration's row starts with and what Reset to default in the
 * editor saves: one the editor would refuse (a bad target, an expression that does not compile)
 * was stored as it was and failed the first run instead.
 */
function validateDefaultMapping(def: IntegrationDefinition, where: string): void {
  const mapping = def.mapping!;
  if (!Array.isArray(mapping.sample))
    throw new RegistryError(`${where} has an invalid mapping: mapping.sample is a list of sample source records for the editor's preview`);
  // What a mapping saved in the editor must pass (the config patch's schema), every problem named.
  const parsed = ZMapping.safeParse(mapping.defaults);
  if (!parsed.success)
    throw new RegistryError(
      `${where} has an invalid default mapping: ${parsed.error.issues
        .map((issue) => (issue.path.length ? `${issue.path.join('.')} ${issueMessage(issue)}` : issueMessage(issue)))
        .join('; ')}`,
    );
  const compiled = compileMapping(parsed.data);
  if (!isCompiledMapping(compiled))
    throw new RegistryError(`${where} has an invalid default mapping: ${formatCompileErrors(compiled.errors)}`);
}

/** Every declared secret name must be one the console can set, and declared once. */
function validateSecretNames(def: IntegrationDefinition, where: string): void {
  if (def.secrets === undefined) return;
  if (!Array.isArray(def.secrets))
    throw new RegistryError(`${where} has invalid secrets: list the secret names, e.g. secrets: ['clientId', 'clientSecret']`);
  const seen = new Set<string>();
  for (const name of def.secrets as unknown[]) {
    if (typeof name !== 'string' || !SECRET_NAME.test(name))
      throw new RegistryError(
        `${where} declares the secret name '${String(name)}', which the console cannot set: start with a letter, then letters, digits and _ (at most 64 characters), e.g. 'apiKey' or 'api_key'`,
      );
    if (seen.has(name)) throw new RegistryError(`${where} declares the secret '${name}' twice`);
    seen.add(name);
  }
}

/**
 * Default settings are what a new integration's row starts with: a set its own schema refuses
 * started fine, failed the first run permanently (naming only the first bad field) and loaded into
 * the config editor without a word, so every bad one is named here instead, a required one left out
 * included. An integration that gives no default settings is not checked: its row starts with none
 * (`{}`), which an admin completes in the config editor; refusing it would refuse a valid way to
 * ship an integration whose settings only the deployment knows.
 */
function validateDefaultSettings(def: IntegrationDefinition, where: string): void {
  const parsed = def.settings.safeParse(def.defaults?.settings);
  const problems = parsed.success
    ? // A schema that strips unknown keys (zod's default) drops a misspelt one without a word: the
      // setting it meant keeps its own default, and the row starts without what the developer wrote.
      droppedKeys(def.defaults?.settings, parsed.data, []).map(
        (path) => `setting '${path.join('.')}' is not in the settings schema, which drops it (a misspelt name?)`,
      )
    : parsed.error.issues.flatMap((issue) => {
        const path = issue.path.map(String);
        // A strict schema refuses a key it does not declare (often a misspelt one): name each.
        if (issue.code === 'unrecognized_keys')
          return issue.keys.map((key) => `setting '${[...path, key].join('.')}' is not in the settings schema`);
        return [path.length ? `setting '${path.join('.')}' ${issueMessage(issue)}` : `the settings ${issueMessage(issue)}`];
      });
  if (problems.length > 0) throw new RegistryError(`${where} has invalid default settings (defaults.settings): ${problems.join('; ')}`);
}

/** The paths of the keys `input` has and the schema's `output` left out (plain objects, arrays of the same length). */
function droppedKeys(input: unknown, output: unknown, path: string[]): string[][] {
  if (Array.isArray(input) && Array.isArray(output) && input.length === output.length)
    return input.flatMap((item, i) => droppedKeys(item, output[i], [...path, String(i)]));
  if (!isPlainObject(input) || !isPlainObject(output)) return [];
  return Object.entries(input).flatMap(([key, value]) => {
    if (!Object.hasOwn(output, key)) return value === undefined ? [] : [[...path, key]];
    return droppedKeys(value, output[key], [...path, key]);
  });
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object') return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/** Builds the name → definition map; throws a RegistryError on a duplicate name or invalid defaults. */
export function buildRegistry(defs: readonly IntegrationDefinition[]): Registry {
  const registry: Registry = new Map();
  for (const def of defs) {
    if (!def || typeof def.name !== 'string' || !NAME.test(def.name)) {
      throw new RegistryError(
        `Integration name '${def?.name}'${typeof def?.description === 'string' ? ` ("${def.description.slice(0, 80)}")` : ''} is invalid: use kebab-case, 1-63 lowercase letters and digits with single dashes between words (e.g. partner-orders)`,
      );
    }
    const existing = registry.get(def.name);
    if (existing) {
      throw new RegistryError(
        `Duplicate integration name '${def.name}': two handlers are registered under it ('${existing.description}' and '${def.description}'). Give each integration a unique name in lib/integrations/index.ts.`,
      );
    }
    validateDefinition(def);
    registry.set(def.name, def);
  }
  return registry;
}

/**
 * Integrations whose registration is dated in the past when a sync adds them: the demo seed's,
 * registered before the history it writes for them. Only these: an integration a developer added
 * before the first start is registered when it is, not as of the demo's past.
 */
export interface RegistrationBackdate {
  names: readonly string[];
  at: Date;
}

/** Upserts every registered integration (defaults only on insert, and a missing time limit) and marks missing ones orphaned. */
export async function syncRegistry(
  db: Database,
  params: {
    registry: Registry;
    /** Dates the registration of these integrations, when this sync adds them; any other counts as registered now. */
    backdate?: RegistrationBackdate;
  },
): Promise<{ added: string[]; orphaned: string[] }> {
  const defs = [...params.registry.values()];
  return db.transaction(async (tx) => {
    // Web and worker may start together: serialise their syncs.
    await tx.execute(sql`select pg_advisory_xact_lock(727275)`);
    const known = new Set((await tx.select({ name: integrations.name }).from(integrations)).map((r) => r.name));
    const added = new Set<string>();
    const upsert = async (def: IntegrationDefinition) => {
      const d = def.defaults ?? {};
      const breakerKey = def.breakerKey ?? def.name;
      await tx
        .insert(integrations)
        .values({
          name: def.name,
          description: def.description,
          schedule: d.schedule ?? null,
          timezone: d.timezone ?? 'UTC',
          retryDelays: d.retry?.delays ?? DEFAULT_RETRY_DELAYS,
          breakerKey,
          breakerFailures: d.breaker?.failures ?? DEFAULT_BREAKER.failures,
          breakerCooldown: d.breaker?.cooldown ?? DEFAULT_BREAKER.cooldown,
          attemptTimeout: codeAttemptTimeout(def),
          settings: (d.settings ?? {}) as Record<string, unknown>,
          mapping: def.mapping?.defaults ?? null,
          updatedBy: 'system',
        })
        .onConflictDoUpdate({
          target: integrations.name,
          // Code-owned fields follow the code; configuration keeps what admins edited. The time
          // limit of a row from before migration 0030 (NULL) is filled from the code, once.
          set: {
            description: def.description,
            breakerKey,
            registered: true,
            orphanedAt: null,
            attemptTimeout: sql`coalesce(${integrations.attemptTimeout}, excluded.attempt_timeout)`,
          },
        });
      if (!known.has(def.name)) added.add(def.name);
    };
    // The configuration each new integration starts with, in the audit trail (the configuration
    // check compares a field never edited with it; config-baseline.ts). recordConfigBaselines dates
    // every row still without one alike: so with a backdate, rows already stored are recorded first
    // (now), then the backdated integrations are added and recorded as of then, then the others.
    const backdate = params.backdate;
    const backdated = backdate ? defs.filter((def) => backdate.names.includes(def.name)) : [];
    if (backdate && backdated.length) {
      await recordConfigBaselines(tx, { registered: [] });
      for (const def of backdated) await upsert(def);
      await recordConfigBaselines(tx, { registered: [...added], at: backdate.at });
    }
    for (const def of defs) if (!backdated.includes(def)) await upsert(def);
    await recordConfigBaselines(tx, { registered: [...added] });
    const names = defs.map((d) => d.name);
    const orphaned = await tx
      .update(integrations)
      .set({ registered: false, orphanedAt: sql`now()` })
      .where(and(eq(integrations.registered, true), names.length ? notInArray(integrations.name, names) : undefined))
      .returning({ name: integrations.name });
    return { added: defs.map((d) => d.name).filter((name) => added.has(name)), orphaned: orphaned.map((r) => r.name).sort() };
  });
}
