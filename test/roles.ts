import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { connect, disconnect, type Database } from '../db/client';
import { setupDatabaseRoles } from '../db/roles';

/**
 * The least-privilege roles of db/roles.ts on a test database: an owner role (what migrations run
 * as) and a runtime role (what web and worker run as). Roles are cluster-wide and suites share the
 * server, so the names carry a random suffix; `drop()` removes them once their databases are gone.
 */
export interface TestRoles {
  owner: string;
  runtime: string;
  urlFor(role: 'owner' | 'runtime', database: string): string;
  /** Grants the roles on `database` (setupDatabaseRoles, as the admin) and connects as each. */
  attach(database: string): Promise<{ ownerDb: Database; runtimeDb: Database; close(): Promise<void> }>;
  /** Drops both roles (call after the databases that use them are dropped). */
  drop(): Promise<void>;
}

export function testRoles(adminUrl: string, prefix = 'jt'): TestRoles {
  const suffix = randomBytes(4).toString('hex');
  const owner = `${prefix}_owner_${suffix}`;
  const runtime = `${prefix}_runtime_${suffix}`;
  const passwords = { owner: randomBytes(12).toString('hex'), runtime: randomBytes(12).toString('hex') };
  const urlFor = (role: 'owner' | 'runtime', database: string) => {
    const u = new URL(adminUrl);
    u.username = role === 'owner' ? owner : runtime;
    u.password = passwords[role];
    u.pathname = `/${database}`;
    return u.toString();
  };
  return {
    owner,
    runtime,
    urlFor,
    async attach(database) {
      const u = new URL(adminUrl);
      u.pathname = `/${database}`;
      const admin = postgres(u.toString(), { max: 1, onnotice: () => {} });
      try {
        await setupDatabaseRoles(admin, { database, owner, ownerPassword: passwords.owner, runtime, runtimePassword: passwords.runtime });
      } finally {
        await admin.end();
      }
      const ownerDb = connect(urlFor('owner', database), { max: 2, name: 'junction-test-owner' });
      const runtimeDb = connect(urlFor('runtime', database), { max: 4, name: 'junction-test-runtime' });
      return {
        ownerDb,
        runtimeDb,
        async close() {
          await disconnect(ownerDb);
          await disconnect(runtimeDb);
        },
      };
    },
    async drop() {
      const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
      try {
        for (const role of [runtime, owner]) {
          await admin.unsafe(`drop owned by ${role} cascade`).catch(() => {});
          await admin.unsafe(`drop role if exists ${role}`);
        }
      } finally {
        await admin.end();
      }
    },
  };
}
