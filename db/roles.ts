import type postgres from 'postgres';
import { z } from 'zod';

/**
 * Least-privilege database roles (issue 15).
 *
 * - The OWNER role owns the database, its schemas and every table: it runs the migrations
 *   (`npm run db:migrate`) and nothing else. Only it can ALTER audit_log or switch its triggers off,
 *   which is why the audit anchors (lib/platform/governance/audit-anchors.ts) exist: they catch what it does.
 * - The RUNTIME role is what web and worker connect with (JUNCTION_MIGRATE_ON_START=false): DML on
 *   the application's tables and pg-boss's, INSERT and SELECT only on audit_log, SELECT on the
 *   migration journal (the health check compares it with the build), no DDL anywhere.
 *
 * Grants are schema-wide plus default privileges for tables the owner creates later, so tables
 * added by future migrations are covered without editing this file; audit_log is the one
 * exception, restricted again here and after every migration run (restrictAuditLog).
 */

const ZRoleName = z
  .string()
  .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a lower-case PostgreSQL identifier (letters, digits, _; at most 63)');

export const ZRoleSetup = z.object({
  database: ZRoleName,
  owner: ZRoleName,
  ownerPassword: z.string().min(12, 'must be at least 12 characters').optional(),
  runtime: ZRoleName,
  runtimePassword: z.string().min(12, 'must be at least 12 characters').optional(),
});
export type TRoleSetup = z.infer<typeof ZRoleSetup>;

/** The schemas the platform uses: the application's, drizzle's migration journal, pg-boss's. */
const SCHEMAS = ['public', 'drizzle', 'pgboss'] as const;

function literal(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

function ensureRole(name: string, password: string | undefined): string {
  return `
    do $$ begin
      if not exists (select from pg_roles where rolname = ${literal(name)}) then
        create role ${name} login;
      end if;
    end $$;
    alter role ${name} login nosuperuser nocreatedb nocreaterole noreplication nobypassrls${password ? ` password ${literal(password)}` : ''};`;
}

/** Revokes everything but INSERT and SELECT on audit_log from every role except its owner. */
export const RESTRICT_AUDIT_LOG_SQL = `
  do $$
  declare
    g record;
  begin
    for g in
      select distinct grantee from information_schema.role_table_grants
       where table_schema = 'public' and table_name = 'audit_log'
         and privilege_type in ('UPDATE', 'DELETE', 'TRUNCATE', 'TRIGGER', 'REFERENCES')
         and grantee <> (select pg_get_userbyid(relowner) from pg_class where oid = 'public.audit_log'::regclass)
    loop
      execute format('revoke update, delete, truncate, trigger, references on public.audit_log from %I', g.grantee);
    end loop;
  end $$;`;

/**
 * Creates (or updates) both roles and their grants in `database`; idempotent. `admin` must be a
 * superuser (or a role that may create roles and owns the objects) connected to that database.
 * Existing objects of the platform's schemas are handed to the owner role, so an installation that
 * ran as a superuser until now can switch.
 */
export async function setupDatabaseRoles(admin: postgres.Sql, input: TRoleSetup): Promise<void> {
  const p = ZRoleSetup.parse(input);
  if (p.owner === p.runtime) throw new Error('the owner and runtime roles must differ: the runtime role must not own the tables');
  const [{ current }] = await admin<{ current: string }[]>`select current_database() as current`;
  if (current !== p.database)
    throw new Error(
      `connected to database '${current}', expected '${p.database}': connect the admin URL to the database the roles are for`,
    );

  await admin.unsafe(ensureRole(p.owner, p.ownerPassword));
  await admin.unsafe(ensureRole(p.runtime, p.runtimePassword));
  await admin.unsafe(`
    alter database ${p.database} owner to ${p.owner};
    revoke all on database ${p.database} from public;
    grant connect, temporary on database ${p.database} to ${p.runtime};
    revoke create on schema public from public;
    create schema if not exists drizzle authorization ${p.owner};
    create schema if not exists pgboss authorization ${p.owner};`);

  // Hand every object of the platform's schemas to the owner (sequences owned by a column follow their table).
  await admin.unsafe(`
    do $$
    declare
      o record;
    begin
      for o in select nspname from pg_namespace where nspname in (${SCHEMAS.map(literal).join(', ')}) loop
        execute format('alter schema %I owner to %I', o.nspname, ${literal(p.owner)});
      end loop;
      for o in
        select c.relkind, n.nspname, c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
         where n.nspname in (${SCHEMAS.map(literal).join(', ')}) and c.relkind in ('r', 'p', 'v', 'm', 'S', 'f')
           and pg_get_userbyid(c.relowner) <> ${literal(p.owner)}
           and not (c.relkind = 'S' and exists (select from pg_depend d where d.objid = c.oid and d.deptype in ('a', 'i')))
           and not c.relispartition
      loop
        execute format('alter %s %I.%I owner to %I',
          case o.relkind when 'S' then 'sequence' when 'v' then 'view' when 'm' then 'materialized view' when 'f' then 'foreign table' else 'table' end,
          o.nspname, o.relname, ${literal(p.owner)});
      end loop;
      for o in
        select n.nspname, p.oid::regprocedure::text as signature, p.prokind from pg_proc p join pg_namespace n on n.oid = p.pronamespace
         where n.nspname in (${SCHEMAS.map(literal).join(', ')}) and pg_get_userbyid(p.proowner) <> ${literal(p.owner)}
           and not exists (select from pg_depend d where d.objid = p.oid and d.deptype = 'e')
      loop
        execute format('alter %s %s owner to %I', case o.prokind when 'p' then 'procedure' when 'a' then 'aggregate' else 'function' end, o.signature, ${literal(p.owner)});
      end loop;
      for o in
        select n.nspname, t.typname from pg_type t join pg_namespace n on n.oid = t.typnamespace
         where n.nspname in (${SCHEMAS.map(literal).join(', ')}) and t.typtype in ('e', 'd', 'c') and pg_get_userbyid(t.typowner) <> ${literal(p.owner)}
           and not (t.typtype = 'c' and exists (select from pg_class c where c.oid = t.typrelid and c.relkind <> 'c'))
      loop
        execute format('alter type %I.%I owner to %I', o.nspname, o.typname, ${literal(p.owner)});
      end loop;
    end $$;`);

  // The runtime role: DML on the application's and pg-boss's tables, now and for tables the owner creates later.
  await admin.unsafe(`
    grant usage on schema public, pgboss, drizzle to ${p.runtime};
    grant select, insert, update, delete on all tables in schema public to ${p.runtime};
    grant select, insert, update, delete on all tables in schema pgboss to ${p.runtime};
    grant usage, select on all sequences in schema public to ${p.runtime};
    grant usage, select on all sequences in schema pgboss to ${p.runtime};
    grant select on all tables in schema drizzle to ${p.runtime};
    alter default privileges for role ${p.owner} in schema public grant select, insert, update, delete on tables to ${p.runtime};
    alter default privileges for role ${p.owner} in schema pgboss grant select, insert, update, delete on tables to ${p.runtime};
    alter default privileges for role ${p.owner} in schema public grant usage, select on sequences to ${p.runtime};
    alter default privileges for role ${p.owner} in schema pgboss grant usage, select on sequences to ${p.runtime};
    alter default privileges for role ${p.owner} in schema drizzle grant select on tables to ${p.runtime};
    grant execute on all functions in schema public to ${p.runtime};
    alter default privileges for role ${p.owner} in schema public grant execute on functions to ${p.runtime};
    -- The change-capture helper reads pg_stat_activity to see other sessions' queries (their
    -- backend_xmin and state); without this role a non-superuser sees only its own sessions.
    grant pg_read_all_stats to ${p.runtime};`);

  const [audit] = await admin<{ exists: boolean }[]>`select to_regclass('public.audit_log') is not null as exists`;
  if (audit.exists) await admin.unsafe(RESTRICT_AUDIT_LOG_SQL);
}
