import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { PgBoss } from 'pg-boss';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineIntegration, type IntegrationDefinition } from '../lib/platform/contract';
import { listInventory } from '../lib/platform/read-models/inventory';
import { getRunDetail, queryRuns, runStatuses, ZRunFilter } from '../lib/platform/read-models/run-queries';
import { buildRegistry, syncRegistry } from '../lib/platform/registry';
import { listBulkOperations, runNow } from '../lib/platform/triggers/triggers';
import { noSuchRoute, otherMethods } from '../lib/server/api-methods';
import { ZRunStatusesQuery } from '../lib/server/api-schemas';
import { API_OPERATIONS, NOT_DESCRIBED, openApiDocument } from '../lib/server/openapi';
import { freshDatabase, type TestDatabase } from './db';
import { startTestBoss } from './fixtures/platform';

/**
 * The OpenAPI document covers every route under app/api, and what the API answers matches it:
 * the documented examples and real answers of the platform functions behind the routes are
 * validated against the schemas in the generated document (not against the zod objects).
 */

const root = path.resolve(import.meta.dirname, '..');
type Doc = { paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: unknown }> }> }>> };
const doc = openApiDocument() as unknown as Doc & { components?: { schemas?: Record<string, unknown> } };

/** Every `route.ts` under app/api as `METHOD /api/path/{param}`. */
function routesOnDisk(): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name === 'route.ts') {
        const source = readFileSync(full, 'utf8');
        const template = `/${path.relative(path.join(root, 'app'), path.dirname(full)).split(path.sep).join('/')}`
          .replace(/\[\[?\.\.\.([^\]]+)\]\]?/g, '{...$1}')
          .replace(/\[([^\]]+)\]/g, '{$1}');
        const methods = [
          ...source.matchAll(
            /export (?:const|async function|function) (GET|POST|PUT|PATCH|DELETE)\b|export const \{ ([A-Z, ]+) \} = (?!otherMethods\()/g,
          ),
        ].flatMap((m) => (m[1] ? [m[1]] : m[2].split(',').map((s) => s.trim())));
        const refused = [...source.matchAll(/export const \{ ([A-Z, ]+) \} = otherMethods\(/g)].flatMap((m) =>
          m[1].split(',').map((s) => s.trim()),
        );
        for (const method of methods) found.push(`${method} ${template}`);
        for (const method of refused) found.push(`405 ${method} ${template}`);
      }
    }
  };
  walk(path.join(root, 'app', 'api'));
  return found.sort();
}

/** The 200 response schema of an operation, from the document, as a zod validator (refs resolved). */
function documentedResponse(method: string, route: string): z.ZodType {
  const schema = doc.paths[route]?.[method]?.responses['200']?.content?.['application/json']?.schema;
  if (!schema) throw new Error(`${method.toUpperCase()} ${route} has no JSON 200 response in the document`);
  const resolve = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(resolve);
    if (node && typeof node === 'object') {
      const ref = (node as { $ref?: string }).$ref;
      if (ref?.startsWith('#/components/schemas/')) return resolve(doc.components?.schemas?.[ref.slice('#/components/schemas/'.length)]);
      return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, resolve(v)]));
    }
    return node;
  };
  return z.fromJSONSchema(resolve(schema) as Parameters<typeof z.fromJSONSchema>[0]);
}

const asJson = (value: unknown) => JSON.parse(JSON.stringify(value)) as unknown;

describe('OpenAPI document', () => {
  it('is OpenAPI 3.1 and describes every route under app/api, and nothing else', () => {
    expect((doc as unknown as { openapi: string }).openapi).toBe('3.1.0');
    const described = Object.entries(doc.paths)
      .flatMap(([route, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${route}`))
      .sort();
    const onDisk = routesOnDisk().filter((r) => !r.startsWith('405 ') && !NOT_DESCRIBED.some((skip) => r.endsWith(` ${skip}`)));
    expect(onDisk.length).toBeGreaterThan(10);
    expect(described).toEqual(onDisk);
  });

  it('says in its description what the catch-all answers, which is not listed under paths', () => {
    // NOT_DESCRIBED leaves app/api/[[...path]] out of `paths`: it serves no operation, and a path
    // template cannot say "every other path" ({path} is one segment, and /api itself has none).
    expect(NOT_DESCRIBED).toContain('/api/{...path}');
    const description = (doc as unknown as { info: { description: string } }).info.description;
    expect(description).toContain(
      'A path under /api that no route serves (/api itself included) answers 404 `{ error }` to every method, OPTIONS included',
    );
    expect(description).toContain('OPTIONS on a route answers 204 with the same `Allow`');
  });

  it('says a query parameter an operation does not list is refused with a 400, not ignored', () => {
    const description = (doc as unknown as { info: { description: string } }).info.description;
    expect(description).toContain('A query parameter an operation does not list is refused with 400 naming it');
    const full = doc as unknown as { paths: Record<string, Record<string, { responses: Record<string, { description: string }> }>> };
    for (const op of API_OPERATIONS.filter((o) => !o.plain)) {
      const refusal = full.paths[op.path][op.method].responses['400'].description;
      expect(refusal, `${op.method} ${op.path}`).toMatch(
        op.method === 'get' ? /a query parameter this operation does not list/ : /a query parameter/,
      );
    }
  });

  it('declares the Idempotency-Key header on every mutation, and the Idempotent-Replayed answer header', () => {
    const full = doc as unknown as {
      paths: Record<
        string,
        Record<string, { parameters?: { in: string; name: string }[]; responses: Record<string, { headers?: object }> }>
      >;
    };
    // Before: only a sentence of the description said so; a generated client never sent it.
    for (const op of API_OPERATIONS.filter((o) => o.method !== 'get' && !o.plain)) {
      const at = full.paths[op.path][op.method];
      expect(
        at.parameters?.filter((p) => p.in === 'header').map((p) => p.name),
        `${op.method} ${op.path}`,
      ).toEqual(['idempotency-key']);
      expect(at.responses['200'].headers, `${op.method} ${op.path}`).toHaveProperty('idempotent-replayed');
    }
  });

  it("has every route file answer every other method with a JSON 405 (not Next's empty one), and OPTIONS itself", () => {
    const routes = routesOnDisk().filter((r) => !NOT_DESCRIBED.some((skip) => r.endsWith(` ${skip}`)));
    const byTemplate = new Map<string, string[]>();
    for (const r of routes) {
      const template = r.slice(r.lastIndexOf(' ') + 1);
      byTemplate.set(template, [...(byTemplate.get(template) ?? []), r.startsWith('405 ') ? r.split(' ')[1] : r.split(' ')[0]]);
    }
    expect(byTemplate.size).toBeGreaterThan(10);
    // OPTIONS through otherMethods too: Next's own answer lists every exported method, the refused ones included.
    for (const [template, methods] of byTemplate)
      expect(methods.sort(), template).toEqual(['DELETE', 'GET', 'OPTIONS', 'PATCH', 'POST', 'PUT']);
  });

  it('answers OPTIONS with the methods a route serves, and OPTIONS of a path no route serves with the JSON 404', async () => {
    for (const [served, allow] of [
      [['GET'], 'GET, HEAD, OPTIONS'],
      [['POST'], 'POST, OPTIONS'],
    ] as const) {
      const response = otherMethods(...served).OPTIONS(new Request('http://localhost/api/runs', { method: 'OPTIONS' }));
      expect(response.status).toBe(204);
      expect(response.headers.get('allow')).toBe(allow);
      expect(await response.text()).toBe('');
    }
    const source = readFileSync(path.join(root, 'app', 'api', '[[...path]]', 'route.ts'), 'utf8');
    expect(source).toMatch(/^export const OPTIONS = noSuchRoute;$/m);
    const missing = noSuchRoute(new Request('http://localhost/api/nope', { method: 'OPTIONS' }));
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: 'There is no API route at /api/nope. The API is described at /api/openapi.json.' });
  });

  it('says what GET /api/runs/status needs when ids is missing, not what zod received', () => {
    const parsed = ZRunStatusesQuery.safeParse({});
    expect(parsed.success).toBe(false);
    expect(parsed.error!.issues.map((i) => [i.path.join('.'), i.message])).toEqual([
      ['ids', 'is required: up to 200 run ids, comma-separated'],
    ]);
  });

  it('describes the routes with the schemas they validate with: a run filter the route refuses is refused by the document too', () => {
    const params = (doc.paths['/api/runs'].get as unknown as { parameters: { name: string; schema: unknown }[] }).parameters;
    expect(params.map((p) => p.name).sort()).toEqual(Object.keys(ZRunFilter.shape).sort());
    const limit = z.fromJSONSchema(params.find((p) => p.name === 'limit')!.schema as Parameters<typeof z.fromJSONSchema>[0]);
    expect(limit.safeParse(500).success).toBe(false);
    expect(ZRunFilter.shape.limit.safeParse(500).success).toBe(false);
  });

  it.each(
    API_OPERATIONS.flatMap((op) =>
      Object.entries(op.bodyExamples ?? {}).map(
        ([name, example]) => [`${op.method.toUpperCase()} ${op.path} (${name})`, op, example.value] as const,
      ),
    ),
  )('%s: its example request body is accepted by the schema the route validates with', (_name, op, value) => {
    const result = op.body!.safeParse(value);
    expect(result.error?.issues ?? []).toEqual([]);
  });

  it('documents both forms of POST /api/runs/retry, each with an example', () => {
    const bulk = API_OPERATIONS.find((op) => op.method === 'post' && op.path === '/api/runs/retry')!;
    expect(Object.values(bulk.bodyExamples ?? {}).map((e) => Object.keys(e.value as object).filter((k) => k !== 'pace'))).toEqual([
      ['runIds'],
      ['filter'],
    ]);
    const body = (
      doc.paths['/api/runs/retry'].post as unknown as { requestBody: { content: Record<string, { schema: { properties: object } }> } }
    ).requestBody.content['application/json'].schema;
    expect(Object.keys(body.properties)).toEqual(['runIds', 'filter', 'pace']);
  });

  it.each(API_OPERATIONS.filter((op) => op.response !== 'text').map((op) => [`${op.method.toUpperCase()} ${op.path}`, op] as const))(
    '%s: its example response matches the documented schema',
    (_name, op) => {
      const result = documentedResponse(op.method, op.path).safeParse(op.example);
      expect(result.error?.issues ?? []).toEqual([]);
    },
  );
});

describe('real answers match the document', () => {
  let t: TestDatabase;
  let boss: PgBoss;
  beforeAll(async () => {
    t = await freshDatabase();
    boss = await startTestBoss(t.url);
    const def = defineIntegration({
      name: 'documented',
      description: 'd',
      settings: z.object({}),
      async execute() {
        return {};
      },
    }) as IntegrationDefinition;
    await syncRegistry(t.db, { registry: buildRegistry([def]) });
  });
  afterAll(async () => {
    await boss.stop({ graceful: false });
    await t.drop();
  });

  it('run now, the run list, run detail, statuses, inventory and bulk operations validate against their 200 schemas', async () => {
    const started = await runNow(t.db, boss, {
      integration: 'documented',
      triggeredBy: 'script',
      trigger: 'api',
      correlationId: 'corr-doc',
    });
    const answers: [string, string, unknown][] = [
      ['post', '/api/integrations/{name}/runs', started],
      ['get', '/api/runs', await queryRuns(t.db, ZRunFilter.parse({}))],
      ['get', '/api/runs/{id}', await getRunDetail(t.db, { id: started.runId })],
      ['get', '/api/runs/status', { items: await runStatuses(t.db, { ids: [started.runId] }) }],
      ['get', '/api/integrations', { items: await listInventory(t.db, {}) }],
      ['get', '/api/bulk-operations', { items: await listBulkOperations(t.db, { limit: 5 }) }],
    ];
    for (const [method, route, answer] of answers) {
      const result = documentedResponse(method, route).safeParse(asJson(answer));
      expect({ route, issues: result.error?.issues ?? [] }).toEqual({ route, issues: [] });
    }
  });
});
