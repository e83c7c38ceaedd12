import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Database } from '../../db/client';
import { appendAudit, auditChainStatus, verifyAuditChain } from '../../lib/platform/governance/audit';
import {
  anchorFileName,
  readAnchors,
  verifyAuditAnchors,
  writeAuditAnchor,
  type AuditFinding,
} from '../../lib/platform/governance/audit-anchors';
import { freshDatabase, type TestDatabase } from '../db';
import { testRoles, type TestRoles } from '../roles';
import { report, ROOT } from './support';

/**
 * Issue 15: tampering by the database OWNER (who can switch the append-only triggers off and
 * recompute the chain with audit_row_hash()) is caught by the signed anchors kept outside the
 * database, and named. Every scenario: the runtime role appends 20 rows, anchors are written after
 * row 12 and row 20, then the owner tampers; the chain check alone reports the table intact (that
 * is the hole), the anchors name what happened.
 */

let roles: TestRoles;
const opened: { t: TestDatabase; close(): Promise<void>; dir: string }[] = [];
const key = randomBytes(32);

beforeAll(() => {
  roles = testRoles(inject('adminUrl'));
});

afterAll(async () => {
  for (const o of opened) {
    await o.close();
    await o.t.drop();
    rmSync(o.dir, { recursive: true, force: true });
  }
  await roles.drop();
});

interface Scenario {
  ownerDb: Database;
  runtimeDb: Database;
  dir: string;
  ids: number[];
}

async function anchoredChain(): Promise<Scenario> {
  const t = await freshDatabase();
  const { ownerDb, runtimeDb, close } = await roles.attach(t.name);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'junction-anchors-'));
  opened.push({ t, close, dir });
  const append = async (from: number, to: number) => {
    for (let i = from; i <= to; i++) {
      await appendAudit(runtimeDb, {
        actor: 'ada.admin@junction.local',
        entries: [{ kind: 'config', integration: 'accounting-export', fieldName: 'settings.batchSize', oldValue: i, newValue: i + 1 }],
      });
    }
  };
  await append(1, 12);
  expect((await writeAuditAnchor(runtimeDb, { dir, key })).written).toHaveLength(1);
  await append(13, 20);
  expect((await writeAuditAnchor(runtimeDb, { dir, key })).written).toHaveLength(1);
  const ids = (await runtimeDb.$client<{ id: string }[]>`select id from audit_log order by id`).map((r) => Number(r.id));
  expect(ids).toHaveLength(20);
  expect(await verifyAuditAnchors(runtimeDb, { dir, key })).toMatchObject({ ok: true, rows: 20, anchors: 2, findings: [] });
  return { ownerDb, runtimeDb, dir, ids };
}

/** As the owner: switch the guard off, run `statements`, switch it on again. */
async function asOwner(db: Database, statements: string): Promise<void> {
  await db.$client.unsafe(`
    alter table audit_log disable trigger audit_log_no_update;
    ${statements};
    alter table audit_log enable trigger audit_log_no_update;`);
}

/** Re-links and re-hashes every row from `fromId` on with the database's own audit_row_hash(). */
function rehashFrom(fromId: number): string {
  return `
    do $$
    declare
      r record;
      prev text;
    begin
      select hash into prev from audit_log where id < ${fromId} order by id desc limit 1;
      prev := coalesce(prev, 'genesis');
      for r in select id from audit_log where id >= ${fromId} order by id loop
        update audit_log a set prev_hash = prev, hash = audit_row_hash(prev, a) where a.id = r.id returning hash into prev;
      end loop;
    end $$;`;
}

/**
 * The owner's forged audit_row_hash(): hashes new rows as before (the trigger passes the column's
 * default, '') but answers any stored row with its own hash, so every recomputation in the
 * database agrees.
 */
const FORGED_AUDIT_ROW_HASH = `
  create or replace function audit_row_hash(prev text, r audit_log) returns text language sql immutable as $fn$
    select coalesce(nullif(r.hash, ''), encode(sha256(convert_to(concat_ws(E'\\x1f',
      prev, r.id::text, to_char(r.changed_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'),
      r.changed_by, r.kind, coalesce(r.integration, ''), r.field_name,
      coalesce(r.old_value::text, 'null'), coalesce(r.new_value::text, 'null'), r.correlation_id
    ), 'UTF8')), 'hex'))
  $fn$`;

function kinds(findings: AuditFinding[]): string[] {
  return findings.map((f) => f.kind);
}

describe('audit anchors against a tampering owner (issue 15)', () => {
  it('the runtime role is refused UPDATE, DELETE, TRUNCATE and ALTER on audit_log, and owns nothing', async () => {
    const { runtimeDb, ownerDb } = await anchoredChain();
    const refused: string[] = [];
    for (const [what, statement, error] of [
      ['UPDATE', `update audit_log set changed_by = 'mallory'`, /permission denied for table audit_log/],
      ['DELETE', 'delete from audit_log', /permission denied for table audit_log/],
      ['TRUNCATE', 'truncate audit_log', /permission denied for table audit_log/],
      ['ALTER (disable trigger)', 'alter table audit_log disable trigger audit_log_no_update', /must be owner of table audit_log/],
      ['ALTER (add column)', 'alter table audit_log add column note text', /must be owner of table audit_log/],
      ['DROP TRIGGER', 'drop trigger audit_log_no_truncate on audit_log', /must be owner of (table|relation) audit_log/],
      ['CREATE TABLE', 'create table mallory (id int)', /permission denied for schema public/],
    ] as const) {
      await expect(runtimeDb.$client.unsafe(statement)).rejects.toThrow(error);
      refused.push(what);
    }
    const [me] = await runtimeDb.$client<{ superuser: boolean; owns: number }[]>`
      select r.rolsuper as superuser,
             (select count(*)::int from pg_class c join pg_namespace n on n.oid = c.relnamespace
               where n.nspname in ('public', 'pgboss', 'drizzle') and c.relowner = r.oid) as owns
        from pg_roles r where r.rolname = current_user`;
    expect(me).toEqual({ superuser: false, owns: 0 });
    const [owner] = await ownerDb.$client<{ superuser: boolean; owner: string }[]>`
      select r.rolsuper as superuser, pg_get_userbyid(c.relowner) as owner from pg_roles r, pg_class c
       where r.rolname = current_user and c.oid = 'public.audit_log'::regclass`;
    expect(owner).toEqual({ superuser: false, owner: roles.owner });
    report('audit roles (runtime role)', { refused: refused.join('/'), superuser: me.superuser, tablesOwned: me.owns });
  });

  it('names the first rewritten row when the owner rewrites a row and recomputes every later hash', async () => {
    const { ownerDb, runtimeDb, dir, ids } = await anchoredChain();
    const target = ids[4];
    await asOwner(ownerDb, `update audit_log set changed_by = 'mallory@junction.local' where id = ${target}; ${rehashFrom(target)}`);
    // The hole the issue describes: the chain alone is consistent again.
    expect(await verifyAuditChain(runtimeDb)).toMatchObject({ ok: true, rows: 20 });
    const result = await verifyAuditAnchors(runtimeDb, { dir, key });
    expect(result.ok).toBe(false);
    expect(result.findings).toEqual([
      {
        kind: 'rewritten',
        rowId: target,
        anchorSeq: 1,
        message: `rows rewritten: audit row ${target} no longer has the hash anchor #1 recorded (first bad row; every later hash was recomputed to hide it)`,
      },
    ]);
    // A tampered chain is never anchored.
    expect(await writeAuditAnchor(runtimeDb, { dir, key })).toEqual({
      written: [],
      refused: `row ${ids[19]} no longer matches anchor #2: not anchoring a tampered chain (run the full verification)`,
    });
    report('audit anchors: rewrite + recomputed hashes', {
      tamperedRow: target,
      chainAlone: 'intact',
      anchors: result.findings[0].message,
    });
  });

  it('names a row the owner deleted from the middle, even with the later rows re-linked', async () => {
    const { ownerDb, runtimeDb, dir, ids } = await anchoredChain();
    const gone = ids[14];
    await asOwner(ownerDb, `delete from audit_log where id = ${gone}; ${rehashFrom(ids[15])}`);
    expect(await verifyAuditChain(runtimeDb)).toMatchObject({ ok: true, rows: 19 });
    const result = await verifyAuditAnchors(runtimeDb, { dir, key });
    expect(kinds(result.findings)).toEqual(['missing']);
    expect(result.findings[0]).toMatchObject({ kind: 'missing', rowIds: [gone], anchorSeq: 2 });
    expect(result.findings[0].message).toBe(`rows missing: audit row ${gone} recorded by anchor #2 is gone from the table`);
    report('audit anchors: row deleted', { deletedRow: gone, anchors: result.findings[0].message });
  });

  it('names a deleted tail: the chain is shorter than the last anchor', async () => {
    const { ownerDb, runtimeDb, dir, ids } = await anchoredChain();
    await asOwner(ownerDb, `delete from audit_log where id >= ${ids[15]}`);
    expect(await verifyAuditChain(runtimeDb)).toMatchObject({ ok: true, rows: 15 });
    const result = await verifyAuditAnchors(runtimeDb, { dir, key });
    expect(kinds(result.findings)).toEqual(['shorter']);
    expect(result.findings[0]).toMatchObject({
      kind: 'shorter',
      lastId: ids[14],
      anchorLastId: ids[19],
      missingRowIds: ids.slice(15),
      anchorSeq: 2,
    });
    expect(result.findings[0].message).toMatch(
      new RegExp(
        `^chain shorter than the last anchor: it ends at row ${ids[14]} \\(15 rows\\), anchor #2 \\(.+\\) recorded rows up to ${ids[19]} \\(20 rows\\); the tail \\(rows ${ids.slice(15).join(', ')}\\) was deleted$`,
      ),
    );
    report('audit anchors: tail deleted', { deleted: ids.slice(15).join(','), anchors: result.findings[0].message });
  });

  it('names a truncated table after the owner drops the truncate trigger', async () => {
    const { ownerDb, runtimeDb, dir } = await anchoredChain();
    await ownerDb.$client.unsafe('drop trigger audit_log_no_truncate on audit_log; truncate audit_log');
    expect(await verifyAuditChain(runtimeDb)).toMatchObject({ ok: true, rows: 0 });
    const result = await verifyAuditAnchors(runtimeDb, { dir, key });
    expect(kinds(result.findings)).toEqual(['truncated']);
    expect(result.findings[0].message).toMatch(
      /^table truncated: audit_log is empty, but anchor #2 \(.+\) recorded 20 rows up to row \d+$/,
    );
    report('audit anchors: truncated', { anchors: result.findings[0].message });
  });

  it('names a row the owner rewrote after replacing audit_row_hash() with one that answers the stored hash', async () => {
    const { ownerDb, runtimeDb, dir, ids } = await anchoredChain();
    const target = ids[6];
    // The owner owns the function the checks recompute hashes with: a copy that hashes new rows
    // as before but answers any stored row with its own hash makes every recomputation agree, so
    // a row can be edited without touching a single hash.
    await ownerDb.$client.unsafe(FORGED_AUDIT_ROW_HASH);
    await asOwner(ownerDb, `update audit_log set changed_by = 'mallory@junction.local', new_value = '999' where id = ${target}`);
    // New rows still chain (the trigger uses the forged function too).
    await appendAudit(runtimeDb, { actor: 'ada.admin@junction.local', entries: [{ kind: 'action', fieldName: 'pause' }] });
    const result = await verifyAuditAnchors(runtimeDb, { dir, key });
    expect(result.ok).toBe(false);
    expect(result.findings).toContainEqual({
      kind: 'chain',
      rowId: target,
      message: `audit row ${target} does not match its hash: it was changed after it was written`,
    });
    report('audit anchors: rewrite behind a forged audit_row_hash()', { tamperedRow: target, anchors: result.findings[0].message });
  });

  it("the Audit page's quick status names a row edited after its position behind a forged audit_row_hash()", async () => {
    const { ownerDb, runtimeDb } = await anchoredChain();
    // A page view moves the position to row 20; the rows after it are the quick status's to check.
    expect(await auditChainStatus(runtimeDb)).toMatchObject({ ok: true, rows: 20, checkedNow: 20 });
    await ownerDb.$client.unsafe(FORGED_AUDIT_ROW_HASH);
    for (let i = 0; i < 3; i++)
      await appendAudit(runtimeDb, { actor: 'ada.admin@junction.local', entries: [{ kind: 'action', fieldName: 'pause' }] });
    const [{ id }] = await runtimeDb.$client<{ id: string }[]>`select id from audit_log order by id desc limit 1 offset 1`;
    await asOwner(ownerDb, `update audit_log set changed_by = 'mallory@junction.local' where id = ${id}`);
    const status = await auditChainStatus(runtimeDb);
    expect(status).toMatchObject({
      ok: false,
      rows: 23,
      checkedNow: 3,
      problem: `audit row ${id} does not match its hash: it was changed after it was written`,
    });
    // Nothing moved: the next view reports it again.
    expect(await auditChainStatus(runtimeDb)).toMatchObject({ ok: false, checkedNow: 3, problem: status.problem });
    report('audit page status: edit behind a forged audit_row_hash()', { tamperedRow: id, status: status.problem });
  });

  it('reports an anchor with a bad signature and never trusts it', async () => {
    const { ownerDb, runtimeDb, dir, ids } = await anchoredChain();
    // The forger deletes the tail and "fixes" the newest anchor to match, without the key.
    await asOwner(ownerDb, `delete from audit_log where id >= ${ids[15]}`);
    const file = path.join(dir, anchorFileName(2));
    const forged = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    chmodSync(file, 0o640);
    writeFileSync(file, JSON.stringify({ ...forged, rows: 15, lastId: ids[14] }));
    const read = readAnchors(dir, key);
    expect(read.valid.map((a) => a.seq)).toEqual([1]);
    const result = await verifyAuditAnchors(runtimeDb, { dir, key });
    expect(result.ok).toBe(false);
    expect(result.findings).toContainEqual({
      kind: 'bad_anchor',
      file: anchorFileName(2),
      message: `anchor file ${anchorFileName(2)} is not trusted: signature does not match: the file was changed, or signed with another key`,
    });
    // Anchor #1 (rows 1-12) is still trusted and still matches.
    expect(result.latestAnchor).toMatchObject({ seq: 1, lastId: ids[11], rows: 12 });
    expect(readdirSync(dir)).toEqual([anchorFileName(1), anchorFileName(2)]);
  });
});

describe('a database replaced under a kept anchor directory', () => {
  it('says the trail differs from its first row on, and what to do if the database was replaced on purpose', async () => {
    const first = await anchoredChain();
    // Another database (recreated, or restored from another installation) with its own trail of
    // 25 rows, checked against the first one's anchors.
    const other = await anchoredChain();
    for (let i = 0; i < 5; i++)
      await appendAudit(other.runtimeDb, { actor: 'grace.admin@junction.local', entries: [{ kind: 'action', fieldName: 'pause' }] });
    const result = await verifyAuditAnchors(other.runtimeDb, { dir: first.dir, key });
    expect(result.ok).toBe(false);
    expect(result.findings).toEqual([
      {
        kind: 'rewritten',
        rowId: first.ids[0],
        anchorSeq: 1,
        message: `rows rewritten from the start: audit row ${first.ids[0]}, the first the anchors recorded, no longer has the hash anchor #1 recorded, nor does any other row of it. Either the whole trail was rewritten, or this database is not the one the anchor directory was written for (restored from elsewhere, recreated); if it was replaced on purpose, move the old anchor files out of JUNCTION_AUDIT_ANCHOR_DIR and keep them: the next anchor starts from this trail`,
      },
    ]);
    // Its own anchors still vouch for it (a rewrite not from the first row keeps the short message: above).
    expect(await verifyAuditAnchors(other.runtimeDb, { dir: other.dir, key })).toMatchObject({ ok: true });
  });
});

describe('start-up without the audit key (issue 15, bad input)', () => {
  it('a production worker refuses to start with one line naming JUNCTION_AUDIT_KEY, missing or malformed', async () => {
    const run = (auditKey: string | undefined) =>
      new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const env: NodeJS.ProcessEnv = {
          ...process.env,
          NODE_ENV: 'production',
          DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none',
          AUTH_SECRET: 'x'.repeat(40),
          JUNCTION_SECRETS_KEY: randomBytes(32).toString('base64'),
          JUNCTION_AUDIT_KEY: auditKey,
        };
        if (auditKey === undefined) delete env.JUNCTION_AUDIT_KEY;
        const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'worker/index.ts')], {
          cwd: ROOT,
          env,
          stdio: ['ignore', 'ignore', 'pipe'],
        });
        let stderr = '';
        child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
        child.on('exit', (code) => resolve({ code, stderr }));
      });
    expect(await run(undefined)).toEqual({
      code: 1,
      stderr: 'Invalid configuration: JUNCTION_AUDIT_KEY is required in production (missing)\n',
    });
    const malformed = await run('c2hvcnQ=');
    expect(malformed.code).toBe(1);
    expect(malformed.stderr).toMatch(/^Invalid configuration: JUNCTION_AUDIT_KEY must be 32 bytes, base64-encoded .*\(got 'c2hvcnQ='\)\n$/);
  });
});
