import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { inject } from 'vitest';
import { connect, disconnect, type Database } from '../db/client';

export interface TestDatabase {
  url: string;
  name: string;
  db: Database;
  /** Drops the database (connections of worker child processes included). */
  drop(): Promise<void>;
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/** A fresh, fully migrated database cloned from the run's template. Call once per test file. */
export async function freshDatabase(): Promise<TestDatabase> {
  const adminUrl = inject('adminUrl');
  const template = inject('templateDatabase');
  if (!adminUrl || !template) throw new Error('this test file needs the database: take it off the UNIT list in vitest.config.ts');
  const name = `jt_${template.split('_').at(-1)}_${randomBytes(4).toString('hex')}`;
  const roles = inject('testRoles');
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name} template ${template}${roles ? ` owner ${roles.owner}` : ''}`);
  await admin.end();
  // TEST_DB_ROLE=runtime: the test connects as the least-privilege runtime role (test/global-setup.ts).
  const url = withDatabase(roles ? roles.runtimeUrl : adminUrl, name);
  const db = connect(url, { max: 5, name: 'junction-test' });
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
