import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import type { TestProject } from 'vitest/node';
import { connect, disconnect } from '../db/client';
import { applyMigrations } from '../db/migrate';
import { installBossSchema } from '../lib/platform/execution/boss';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../scripts/embedded-postgres';
import { testRoles, type TestRoles } from './roles';

/**
 * One PostgreSQL server for the whole run: the machine's (TEST_DATABASE_URL) or an embedded one.
 * Migrations are applied once to a template database; every test file clones it (fresh database
 * per file, in milliseconds).
 */
let embedded: EmbeddedDatabase | undefined;
let tmp: string | undefined;
let adminUrl: string;
let template: string;
let roles: TestRoles | undefined;

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
    embedded = await startEmbeddedPostgres({ dir: path.join(tmp, 'pg'), quiet: true, ephemeral: true });
    adminUrl = embedded.adminUrl;
  }
  template = `junction_tpl_${process.pid}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`drop database if exists ${template} with (force)`);
  await admin.unsafe(`create database ${template}`);
  await admin.end();
  let migrateUrl = withDatabase(adminUrl, template);
  if (process.env.TEST_DB_ROLE === 'runtime') {
    // Least-privilege mode (CI runs part of the suite this way): migrations and pg-boss's schema
    // are installed by an owner role, and every test file connects as the runtime role of
    // db/roles.ts — neither owner nor superuser.
    roles = testRoles(adminUrl, 'jt_ci');
    await roles.attach(template).then((c) => c.close());
    migrateUrl = roles.urlFor('owner', template);
    project.provide('testRoles', { owner: roles.owner, runtimeUrl: roles.urlFor('runtime', template) });
  } else {
    project.provide('testRoles', null);
  }
  const db = connect(migrateUrl, { max: 2 });
  await applyMigrations(db);
  await disconnect(db);
  if (roles) await installBossSchema(migrateUrl);
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
  await roles?.drop();
  if (embedded) await embedded.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
}

declare module 'vitest' {
  export interface ProvidedContext {
    adminUrl: string;
    templateDatabase: string;
    /** Set when TEST_DB_ROLE=runtime: test files connect as the runtime role (URL of the template; the database name is swapped). */
    testRoles: { owner: string; runtimeUrl: string } | null;
  }
}
