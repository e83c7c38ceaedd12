import postgres from 'postgres';
import { z } from 'zod';
import { setupDatabaseRoles, ZRoleSetup } from '../db/roles';

/**
 * `npm run db:roles`: creates (or updates) the owner and runtime roles of db/roles.ts and their
 * grants, as a database administrator. Idempotent: run it again after adding roles or to reset
 * passwords. Then migrate as the owner and run web and worker as the runtime role:
 *
 *   DATABASE_URL=postgres://admin@db/junction JUNCTION_DB_OWNER_PASSWORD=... JUNCTION_DB_RUNTIME_PASSWORD=... npm run db:roles
 *   DATABASE_URL=postgres://junction_owner:...@db/junction npm run db:migrate
 *   DATABASE_URL=postgres://junction_app:...@db/junction JUNCTION_MIGRATE_ON_START=false npm run start:worker
 */

const ZArgs = z.object({
  DATABASE_URL: z
    .string()
    .refine(
      (v) => /^postgres(ql)?:\/\//.test(v) && URL.canParse(v),
      'must be a postgres:// URL of an administrator (superuser) connected to the application database',
    ),
  JUNCTION_DB_OWNER: z.string().default('junction_owner'),
  JUNCTION_DB_OWNER_PASSWORD: z.string().optional(),
  JUNCTION_DB_RUNTIME: z.string().default('junction_app'),
  JUNCTION_DB_RUNTIME_PASSWORD: z.string().optional(),
});

const names: Record<string, string> = {
  database: 'DATABASE_URL (its database name)',
  owner: 'JUNCTION_DB_OWNER',
  ownerPassword: 'JUNCTION_DB_OWNER_PASSWORD',
  runtime: 'JUNCTION_DB_RUNTIME',
  runtimePassword: 'JUNCTION_DB_RUNTIME_PASSWORD',
};

async function main(): Promise<number> {
  const cleaned = Object.fromEntries(Object.entries(process.env).filter(([, v]) => v !== undefined && v !== ''));
  const args = ZArgs.safeParse(cleaned);
  if (!args.success) {
    const issue = args.error.issues[0];
    console.error(`Invalid configuration: ${String(issue.path[0])} ${issue.message}`);
    return 1;
  }
  const url = new URL(args.data.DATABASE_URL);
  const setup = ZRoleSetup.safeParse({
    database: decodeURIComponent(url.pathname.slice(1)),
    owner: args.data.JUNCTION_DB_OWNER,
    ownerPassword: args.data.JUNCTION_DB_OWNER_PASSWORD,
    runtime: args.data.JUNCTION_DB_RUNTIME,
    runtimePassword: args.data.JUNCTION_DB_RUNTIME_PASSWORD,
  });
  if (!setup.success) {
    const issue = setup.error.issues[0];
    console.error(`Invalid configuration: ${names[String(issue.path[0])] ?? String(issue.path[0])} ${issue.message}`);
    return 1;
  }
  const admin = postgres(args.data.DATABASE_URL, { max: 1, onnotice: () => {} });
  try {
    await setupDatabaseRoles(admin, setup.data);
  } finally {
    await admin.end();
  }
  const { database, owner, runtime } = setup.data;
  console.log(`Roles ready in database '${database}':`);
  console.log(`  ${owner}: owns the schema; migrate with it (npm run db:migrate)`);
  console.log(`  ${runtime}: web and worker (JUNCTION_MIGRATE_ON_START=false); INSERT and SELECT only on audit_log, no DDL`);
  if (!setup.data.ownerPassword || !setup.data.runtimePassword)
    console.log('  (a role without a password given kept its password, or has none: set one or use another authentication method)');
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`db:roles failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
