import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { connect, disconnect, type Database } from '../db/client';
import { applyMigrations } from '../db/migrate';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../scripts/embedded-postgres';

/**
 * What every benchmark shares: a fresh migrated database per benchmark, the machine description,
 * alternating rounds, medians and percentiles, and the printed table. Benchmarks are measurements,
 * not tests: nothing here is imported by a *.test.ts file except the correctness check of
 * bench/bench.test.ts, which never looks at a clock.
 */

export type Size = 'tiny' | 'full';

export interface BenchContext {
  size: Size;
  /** `--size huge`: benchmark 4 (console) only, 10 M runs and 30 M attempts; `size` is then 'full'. */
  huge?: boolean;
  /** Admin URL of the server benchmarks create their databases on. */
  adminUrl: string;
  machine: Machine;
}

export interface Machine {
  cpus: number;
  cpuModel: string;
  memoryGb: number;
  node: string;
  postgres: string;
  server: string;
}

let embedded: EmbeddedDatabase | undefined;

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/**
 * The server to benchmark on: BENCH_DATABASE_URL, else TEST_DATABASE_URL, else the machine's
 * PostgreSQL on 127.0.0.1:5432 when it answers, else an embedded one (crash-safe settings, so its
 * numbers are comparable to a real server's).
 */
export async function benchServer(): Promise<string> {
  const candidates = [process.env.BENCH_DATABASE_URL, process.env.TEST_DATABASE_URL, 'postgres://postgres@127.0.0.1:5432/postgres'].filter(
    (u): u is string => Boolean(u),
  );
  for (const url of candidates) {
    const sql = postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 3 });
    try {
      await sql`select 1`;
      return url;
    } catch {
      // try the next one
    } finally {
      await sql.end({ timeout: 1 });
    }
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'junction-bench-pg-'));
  embedded = await startEmbeddedPostgres({ dir: path.join(dir, 'pg'), quiet: true });
  return embedded.adminUrl;
}

export async function stopEmbedded(): Promise<void> {
  await embedded?.stop();
  embedded = undefined;
}

export async function describeMachine(adminUrl: string): Promise<Machine> {
  const sql = postgres(adminUrl, { max: 1, onnotice: () => {} });
  const [row] = await sql<{ version: string }[]>`select version()`;
  await sql.end();
  const u = new URL(adminUrl);
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    memoryGb: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    node: process.version,
    postgres: row.version.split(' ').slice(0, 2).join(' '),
    server: `${u.hostname}:${u.port || 5432}${embedded ? ' (embedded)' : ''}`,
  };
}

export function formatMachine(m: Machine): string {
  return `machine: ${m.cpus} cores (${m.cpuModel}), ${m.memoryGb} GB RAM, Node ${m.node}, ${m.postgres} at ${m.server}`;
}

export interface BenchDatabase {
  url: string;
  name: string;
  db: Database;
  drop(): Promise<void>;
}

/** A new database on the bench server with every migration applied; `drop` removes it. */
export async function createBenchDatabase(adminUrl: string, label: string, poolSize = 10): Promise<BenchDatabase> {
  const name = `bench_${label.replace(/[^a-z0-9]/g, '_')}_${randomBytes(3).toString('hex')}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  await admin.end();
  const url = withDatabase(adminUrl, name);
  const db = connect(url, { max: poolSize, name: `junction-bench-${label}` });
  await applyMigrations(db);
  return {
    url,
    name,
    db,
    async drop() {
      await disconnect(db);
      const a = postgres(adminUrl, { max: 1, onnotice: () => {} });
      await a.unsafe(`drop database if exists ${name} with (force)`);
      await a.end();
    },
  };
}

export function median(values: number[]): number {
  return percentile(values, 50);
}

/** Nearest-rank percentile (p in 0..100). */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

/**
 * Runs `platform` and `baseline` `rounds` times each, alternating which goes first, so drift of
 * the machine (other load, caches, autovacuum) hits both sides alike.
 */
export async function alternate<T>(
  rounds: number,
  platform: (round: number) => Promise<T>,
  baseline: (round: number) => Promise<T>,
): Promise<{ platform: T[]; baseline: T[] }> {
  const result = { platform: [] as T[], baseline: [] as T[] };
  for (let round = 0; round < rounds; round++) {
    if (round % 2 === 0) {
      result.platform.push(await platform(round));
      result.baseline.push(await baseline(round));
    } else {
      result.baseline.push(await baseline(round));
      result.platform.push(await platform(round));
    }
  }
  return result;
}

export type Cell = string | number;

function formatCell(value: Cell): string {
  if (typeof value === 'string') return value;
  if (!Number.isFinite(value)) return String(value);
  if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString('en-US');
  if (Math.abs(value) >= 100) return value.toFixed(0);
  if (Math.abs(value) >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

/** A Markdown table (readable in a terminal and pasteable into bench/README.md). */
export function table(headers: string[], rows: Cell[][]): string {
  const cells = rows.map((r) => r.map(formatCell));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => `| ${r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`;
  return [
    line(headers),
    `|${widths.map((w, i) => (i === 0 ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`,
    ...cells.map(line),
  ].join('\n');
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` every `intervalMs` until it is truthy; throws naming `what` after `timeoutMs`. */
export async function until<T>(
  what: string,
  probe: () => Promise<T | undefined | null | false>,
  timeoutMs: number,
  intervalMs = 20,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`benchmark gave up after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/** Runs `fn` over `items` with at most `limit` in flight. */
export async function inParallel<T>(items: T[], limit: number, fn: (item: T, index: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i], i);
      }
    }),
  );
}

export function ratioText(ratio: number, goal: number, higherIsBetter = true): string {
  const met = higherIsBetter ? ratio >= goal : ratio <= goal;
  return `${ratio.toFixed(2)} (goal ${higherIsBetter ? '≥' : '≤'} ${goal}: ${met ? 'met' : 'MISSED'})`;
}
