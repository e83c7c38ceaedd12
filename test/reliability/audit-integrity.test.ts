import { randomBytes } from 'node:crypto';
import { asc } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, disconnect, type Database } from '../../db/client';
import { auditLog } from '../../db/schema';
import { appendAudit, recordAction, verifyAuditChain } from '../../lib/platform/governance/audit';
import { freshDatabase, type TestDatabase } from '../db';
import { report } from './support';

/**
 * Issue 8, item 8: the audit trail is append-only for the application's own database role (with
 * every privilege the application has on its tables), and a superuser who edits a row behind the
 * trigger's back is caught by the chain check, which names the row.
 *
 * Roles are cluster-wide and other suites share the server, so the role is junction_app_<random>.
 */

let t: TestDatabase;
let app: Database;
const role = `junction_app_${randomBytes(4).toString('hex')}`;
const password = randomBytes(12).toString('hex');

beforeAll(async () => {
  t = await freshDatabase();
  const raw = t.db.$client;
  await raw.unsafe(`create role ${role} login nosuperuser nocreatedb nocreaterole password '${password}'`);
  // What an application role gets: everything on its tables and sequences (it must update runs, delete sessions...).
  await raw.unsafe(`grant usage on schema public to ${role}`);
  await raw.unsafe(`grant all privileges on all tables in schema public to ${role}`);
  await raw.unsafe(`grant all privileges on all sequences in schema public to ${role}`);
  const url = new URL(t.url);
  url.username = role;
  url.password = password;
  app = connect(url.toString(), { max: 2, name: 'junction-app-role' });
});

afterAll(async () => {
  await disconnect(app);
  const raw = t.db.$client;
  await raw.unsafe(`drop owned by ${role}`);
  await raw.unsafe(`drop role ${role}`);
  await t.drop();
});

describe('audit integrity (issue 8, item 8)', () => {
  it('lets the application role append through the audit service but rejects its UPDATE, DELETE and TRUNCATE', async () => {
    const [{ superuser, owner }] = await app.$client<{ superuser: boolean; owner: string }[]>`
      select r.rolsuper as superuser, pg_get_userbyid(c.relowner) as owner
        from pg_roles r, pg_class c where r.rolname = current_user and c.relname = 'audit_log'`;
    expect(superuser).toBe(false);
    expect(owner).not.toBe(role);

    for (let i = 1; i <= 4; i++) {
      await appendAudit(app, {
        actor: 'ada.admin@junction.local',
        entries: [
          { kind: 'config', integration: 'accounting-export', fieldName: 'settings.batchSize', oldValue: i * 10, newValue: (i + 1) * 10 },
        ],
      });
    }
    await recordAction(app, { actor: 'olga.operator@junction.local', integration: 'accounting-export', action: 'run_now' });

    const attempts = [
      {
        what: 'UPDATE',
        sql: `update audit_log set changed_by = 'mallory' where id = (select min(id) from audit_log)`,
        error: /audit_log is append-only: UPDATE is not allowed/,
      },
      { what: 'DELETE', sql: 'delete from audit_log', error: /audit_log is append-only: DELETE is not allowed/ },
      { what: 'TRUNCATE', sql: 'truncate audit_log', error: /audit_log is append-only: TRUNCATE is not allowed/ },
      // Only the table's owner may switch the guard off; the application is not the owner.
      { what: 'DISABLE TRIGGER', sql: 'alter table audit_log disable trigger audit_log_no_update', error: /must be owner/ },
    ];
    const rejected: string[] = [];
    for (const a of attempts) {
      await expect(app.$client.unsafe(a.sql)).rejects.toThrow(a.error);
      rejected.push(a.what);
    }
    const rows = await t.db.select().from(auditLog).orderBy(asc(auditLog.id));
    expect(rows).toHaveLength(5);
    expect(rows.every((r) => r.changedBy !== 'mallory')).toBe(true);
    const chain = await verifyAuditChain(app);
    expect(chain).toMatchObject({ ok: true, rows: 5 });
    report('audit integrity (application role)', {
      role,
      rows: rows.length,
      rejected: rejected.join('/'),
      chain: chain.ok ? 'intact' : 'broken',
    });
  });

  it('detects a row a superuser changed with the trigger disabled, and names it, even when the forger rewrites that row’s hash', async () => {
    const ids = (await t.db.select({ id: auditLog.id }).from(auditLog).orderBy(asc(auditLog.id))).map((r) => r.id);
    const raw = t.db.$client;
    await raw.unsafe('alter table audit_log disable trigger audit_log_no_update');
    await raw.unsafe(`update audit_log set new_value = '5000'::jsonb where id = ${ids[1]}`);
    await raw.unsafe('alter table audit_log enable trigger audit_log_no_update');

    const edited = await verifyAuditChain(app);
    expect(edited).toEqual({
      ok: false,
      rows: 5,
      brokenAt: { id: ids[1], reason: `audit row ${ids[1]} does not match its hash: it was changed after it was written` },
    });

    // A better forger also recomputes the edited row's hash: the next row no longer links to it.
    await raw.unsafe('alter table audit_log disable trigger audit_log_no_update');
    await raw.unsafe(`update audit_log a set hash = audit_row_hash(a.prev_hash, a) where id = ${ids[1]}`);
    await raw.unsafe('alter table audit_log enable trigger audit_log_no_update');
    const rehashed = await verifyAuditChain(app);
    expect(rehashed).toEqual({
      ok: false,
      rows: 5,
      brokenAt: {
        id: ids[2],
        reason: `audit row ${ids[2]} does not link to the row before it: a row before it was deleted, or this one was inserted outside the chain`,
      },
    });
    report('audit integrity (tampering superuser)', {
      tamperedRow: ids[1],
      detectedAt: edited.ok ? null : edited.brokenAt.id,
      rehashedDetectedAt: rehashed.ok ? null : rehashed.brokenAt.id,
    });
  });
});
