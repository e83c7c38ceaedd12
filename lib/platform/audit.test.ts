import { asc } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditLog } from '../../db/schema';
import { freshDatabase, type TestDatabase } from '../../test/db';
import { appendAudit, recordAction } from './audit';

let t: TestDatabase;
beforeAll(async () => {
  t = await freshDatabase();
});
afterAll(() => t.drop());

describe('audit trail', () => {
  it('chains every appended row to the previous one', async () => {
    await appendAudit(t.db, {
      actor: 'ada@example.com',
      correlationId: 'c-1',
      entries: [
        { kind: 'config', integration: 'x', fieldName: 'schedule', oldValue: '0 2 * * *', newValue: '0 3 * * *' },
        { kind: 'config', integration: 'x', fieldName: 'timezone', oldValue: 'UTC', newValue: 'Europe/Paris' },
      ],
    });
    await recordAction(t.db, { actor: 'op@example.com', integration: 'x', action: 'pause' });
    const rows = await t.db.select().from(auditLog).orderBy(asc(auditLog.id));
    expect(rows).toHaveLength(3);
    expect(rows[0].prevHash).toBe('genesis');
    expect(rows[1].prevHash).toBe(rows[0].hash);
    expect(rows[2].prevHash).toBe(rows[1].hash);
    expect(rows[2]).toMatchObject({ kind: 'action', fieldName: 'pause', changedBy: 'op@example.com' });
  });

  it('rejects UPDATE, DELETE and TRUNCATE with a message saying the table is append-only', async () => {
    const raw = t.db.$client;
    await expect(raw.unsafe(`update audit_log set changed_by = 'mallory'`)).rejects.toThrow(/audit_log is append-only: UPDATE/);
    await expect(raw.unsafe('delete from audit_log')).rejects.toThrow(/audit_log is append-only: DELETE/);
    await expect(raw.unsafe('truncate audit_log')).rejects.toThrow(/audit_log is append-only: TRUNCATE/);
    const [{ n }] = await raw<{ n: number }[]>`select count(*)::int as n from audit_log`;
    expect(n).toBe(3);
  });
});
