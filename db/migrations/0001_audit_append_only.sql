-- Hand-written: the audit trail is append-only in the database itself, not only in the app.
-- 1. A BEFORE INSERT trigger chains every row to the previous one with a SHA-256 hash, under a
--    transaction-scoped advisory lock so the chain follows commit order (the id is re-drawn
--    after the lock for the same reason).
-- 2. UPDATE, DELETE and TRUNCATE are rejected for every role. A superuser who disables the
--    trigger to tamper with a row is caught by verifying the chain (audit_row_hash below).
CREATE OR REPLACE FUNCTION audit_row_hash(prev text, r audit_log) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT encode(sha256(convert_to(concat_ws(E'\x1f',
    prev, r.id::text, to_char(r.changed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'),
    r.changed_by, r.kind, coalesce(r.integration, ''), r.field_name,
    coalesce(r.old_value::text, 'null'), coalesce(r.new_value::text, 'null'), r.correlation_id
  ), 'UTF8')), 'hex')
$$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION audit_log_chain() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  last_hash text;
BEGIN
  PERFORM pg_advisory_xact_lock(727275);
  NEW.id := nextval(pg_get_serial_sequence('audit_log', 'id'));
  SELECT hash INTO last_hash FROM audit_log ORDER BY id DESC LIMIT 1;
  NEW.prev_hash := coalesce(last_hash, 'genesis');
  NEW.hash := audit_row_hash(NEW.prev_hash, NEW);
  RETURN NEW;
END
$$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION audit_log_reject_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only: % is not allowed', TG_OP
    USING ERRCODE = 'insufficient_privilege',
          HINT = 'Audit rows are immutable; record a new change instead.';
END
$$;
--> statement-breakpoint
CREATE TRIGGER audit_log_chain BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_chain();
--> statement-breakpoint
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_reject_change();
--> statement-breakpoint
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log FOR EACH STATEMENT EXECUTE FUNCTION audit_log_reject_change();
