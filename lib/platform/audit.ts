import { randomUUID } from 'node:crypto';
import type { DatabaseOrTransaction } from '../../db/client';
import { auditLog } from '../../db/schema';

/**
 * The audit trail. Rows are only ever inserted: the database chains each row to the previous one
 * with a SHA-256 hash and rejects UPDATE, DELETE and TRUNCATE (db/migrations/0001_audit_append_only.sql).
 */

export type AuditKind = 'config' | 'action' | 'user';

export interface AuditEntry {
  kind: AuditKind;
  integration?: string | null;
  /** The changed field for 'config', the action name ('run_now', 'pause', ...) for 'action'. */
  fieldName: string;
  oldValue?: unknown;
  newValue?: unknown;
}

export interface AppendAuditParams {
  actor: string;
  correlationId?: string;
  entries: AuditEntry[];
}

/** Appends entries in the caller's transaction, so a change and its audit rows commit together. */
export async function appendAudit(db: DatabaseOrTransaction, params: AppendAuditParams): Promise<void> {
  if (params.entries.length === 0) return;
  const correlationId = params.correlationId ?? randomUUID();
  await db.insert(auditLog).values(
    params.entries.map((e) => ({
      changedBy: params.actor,
      kind: e.kind,
      integration: e.integration ?? null,
      fieldName: e.fieldName,
      oldValue: e.oldValue ?? null,
      newValue: e.newValue ?? null,
      correlationId,
    })),
  );
}

export interface RecordActionParams {
  actor: string;
  integration?: string | null;
  /** 'run_now' | 'dry_run' | 'retry' | 'bulk_retry' | 'cancel' | 'pause' | 'resume' | 'breaker_reset' | 'breaker_open' | ... */
  action: string;
  details?: Record<string, unknown>;
  correlationId?: string;
}

/** Records an operator action (who did what to which integration) in the same trail as config. */
export async function recordAction(db: DatabaseOrTransaction, params: RecordActionParams): Promise<void> {
  await appendAudit(db, {
    actor: params.actor,
    correlationId: params.correlationId,
    entries: [{ kind: 'action', integration: params.integration, fieldName: params.action, newValue: params.details ?? null }],
  });
}
