import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { APIRequestContext } from '@playwright/test';

/**
 * Server actions called over HTTP the way the browser calls them: POST to a page that uses the
 * action with its id in `Next-Action`, the arguments encoded as React's encodeReply encodes plain
 * values, and the answer read back from the React Flight stream.
 */

export interface ServerActionRef {
  id: string;
  name: string;
  /** A page that imports the action (dynamic segments filled in), where it can be posted. */
  page: string;
}

/** Every server action exported from an app/**\/actions.ts file, by the build's manifest. */
export function serverActions(fill: { name: string; id: string }): ServerActionRef[] {
  const manifest = JSON.parse(
    readFileSync(path.join(import.meta.dirname, '..', '.next', 'server', 'server-reference-manifest.json'), 'utf8'),
  ) as {
    node: Record<string, { workers: Record<string, unknown>; filename: string; exportedName: string }>;
  };
  return Object.entries(manifest.node)
    .filter(([, e]) => /actions\.ts$/.test(e.filename))
    .map(([id, e]) => {
      const worker = Object.keys(e.workers)[0];
      const page =
        `/${worker
          .replace(/^app\//, '')
          .replace(/\/page$/, '')
          .replace(/\([^)]+\)\/?/g, '')
          .replace('[name]', fill.name)
          .replace('[id]', fill.id)}`.replace(/\/$/, '') || '/';
      return { id, name: e.exportedName, page };
    });
}

/**
 * React's encodeReply for JSON-like values: a string starting with '$' is escaped as '$$...', and
 * the numbers JSON cannot carry travel as '$NaN', '$Infinity', '$-Infinity', '$-0'.
 */
export function encodeActionArgs(args: unknown[]): string {
  return JSON.stringify(args, function (key, value: unknown) {
    const raw = (this as Record<string, unknown>)[key];
    if (typeof raw === 'number') {
      if (Number.isNaN(raw)) return '$NaN';
      if (raw === Infinity) return '$Infinity';
      if (raw === -Infinity) return '$-Infinity';
      if (Object.is(raw, -0)) return '$-0';
    }
    if (raw === undefined) return '$undefined';
    if (typeof value === 'string' && value.startsWith('$')) return `$${value}`;
    return value;
  });
}

/** The Flight rows of a response: `<hex id>:<json>\n` and `<hex id>:T<hex byte length>,<text>`. */
function flightRows(body: Buffer): Map<string, unknown> {
  const rows = new Map<string, unknown>();
  let at = 0;
  while (at < body.length) {
    const colon = body.indexOf(0x3a, at);
    if (colon < 0) break;
    const id = body.subarray(at, colon).toString('utf8');
    if (body[colon + 1] === 0x54 /* T */) {
      const comma = body.indexOf(0x2c, colon);
      const length = parseInt(body.subarray(colon + 2, comma).toString('utf8'), 16);
      rows.set(id, body.subarray(comma + 1, comma + 1 + length).toString('utf8'));
      at = comma + 1 + length;
      continue;
    }
    const newline = body.indexOf(0x0a, colon);
    const end = newline < 0 ? body.length : newline;
    const text = body.subarray(colon + 1, end).toString('utf8');
    const tag = /^[A-Z]+(?=[[{"])/.exec(text)?.[0] ?? '';
    try {
      rows.set(id, { tag, value: JSON.parse(text.slice(tag.length)) });
    } catch {
      rows.set(id, { tag: 'unparsed', value: text });
    }
    at = end + 1;
  }
  return rows;
}

function resolve(value: unknown, rows: Map<string, unknown>, depth = 0): unknown {
  if (depth > 50) throw new Error('Flight reference chain too deep');
  if (typeof value === 'string') {
    if (!value.startsWith('$')) return value;
    if (value.startsWith('$$')) return value.slice(1);
    if (value === '$undefined') return undefined;
    if (value === '$NaN') return NaN;
    if (value === '$Infinity') return Infinity;
    if (value === '$-Infinity') return -Infinity;
    if (value === '$-0') return -0;
    if (value.startsWith('$D')) return new Date(value.slice(2));
    if (value.startsWith('$n')) return BigInt(value.slice(2));
    const ref = /^\$@?([0-9a-f]+)$/.exec(value);
    if (ref) {
      const row = rows.get(ref[1]);
      if (typeof row === 'string') return row;
      const { tag, value: inner } = row as { tag: string; value: unknown };
      if (tag === 'E') throw new Error(`Flight error row: ${JSON.stringify(inner)}`);
      return resolve(inner, rows, depth + 1);
    }
    return value;
  }
  if (Array.isArray(value)) return value.map((v) => resolve(v, rows, depth + 1));
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolve(v, rows, depth + 1)]));
  return value;
}

export interface ActionCall {
  status: number;
  /** The action's return value, decoded; undefined when the answer carried none (redirect, error). */
  result: unknown;
  /** The raw answer's size in bytes. */
  bytes: number;
  text: string;
}

/** Calls one server action with `args` (already the action's arguments array) and decodes its result. */
export async function callServerAction(
  request: APIRequestContext,
  origin: string,
  action: ServerActionRef,
  args: unknown[],
): Promise<ActionCall> {
  const response = await request.post(action.page, {
    headers: { 'Next-Action': action.id, 'Content-Type': 'text/plain;charset=UTF-8', Origin: origin, Accept: 'text/x-component' },
    data: encodeActionArgs(args),
    maxRedirects: 0,
  });
  const body = await response.body();
  const text = body.toString('utf8');
  let result: unknown;
  if ((response.headers()['content-type'] ?? '').includes('text/x-component')) {
    const rows = flightRows(body);
    const root = rows.get('0') as { value?: { a?: unknown } } | undefined;
    if (root?.value && typeof root.value === 'object' && 'a' in root.value) result = resolve(root.value.a, rows);
  }
  return { status: response.status(), result, bytes: body.length, text };
}
