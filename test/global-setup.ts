import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import type { TestProject } from 'vitest/node';
import { connect, disconnect } from '../db/client';
import { applyMigrations } from '../db/migrate';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../scripts/embedded-postgres';

/**
 * One PostgreSQL server for the whole run: the machine's (TEST_DATABASE_URL) or an embedded one.
 * Migrations are applied once to a template database; every test file clones it (fresh database
 * per file, in milliseconds).
 */
let embedded: EmbeddedDatabase | undefined;
let tmp: string | undefined;
let adminUrl: string;
let template: string;

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

export async function setup(project: TestProject) {
  if (process.env.TEST_DATABASE_URL) {
    adminUrl = process.env.TEST_DATABASE_URL;
  } else {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'junction-test-pg-'));
    const port = 20000 + Math.floor(Math.random() * 20000);
    embedded = await startEmbeddedPostgres({ dir: path.join(tmp, 'pg'), port, quiet: true, ephemeral: true });
    adminUrl = embedded.adminUrl;
  }
  template = `junction_tpl_${process.pid}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`drop database if exists ${template} with (force)`);
  await admin.unsafe(`create database ${template}`);
  await admin.end();
  const db = connect(withDatabase(adminUrl, template), { max: 2 });
  await applyMigrations(db);
  await disconnect(db);
  project.provide('adminUrl', adminUrl);
  project.provide('templateDatabase', template);
  return teardown;
}

async function teardown() {
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  const leftovers = await admin<{ datname: string }[]>`
    select datname from pg_database where datname like ${`jt_${process.pid}_%`} or datname = ${template}`;
  for (const { datname } of leftovers) await admin.unsafe(`drop database if exists ${datname} with (force)`);
  await admin.end();
  if (embedded) await embedded.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
}

declare module 'vitest' {
  export interface ProvidedContext {
    adminUrl: string;
    templateDatabase: string;
  }
}
