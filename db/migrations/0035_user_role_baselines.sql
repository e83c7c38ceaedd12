-- Hand-written: every user's role in the audit trail, under a key that is theirs alone.
-- 1. users.audit_key: what the trail names a user by (`user.<key>.role`). It was the e-mail, which
--    is not unique: an address given to a new hire merged two people's rows, and the configuration
--    check (config-drift.ts accessDrift) compared one with the other's. The oldest holder of an
--    e-mail keeps it as the key; a later one gets the e-mail and the start of their id.
-- 2. A first sign-in is audited from now on (lib/auth/users.ts upsertSignedInUser); a user who
--    signed in before has no row for the role the identity provider gave them unless an admin
--    changed it since. Their role as stored now is recorded once, by 'system', in the form the
--    console audits it (null → role).
ALTER TABLE "users" ADD COLUMN "audit_key" text;
--> statement-breakpoint
UPDATE users u SET audit_key = k.key
  FROM (SELECT id,
               CASE WHEN row_number() OVER (PARTITION BY coalesce(email, id::text) ORDER BY created_at, id) = 1
                    THEN coalesce(email, id::text)
                    ELSE email || ' #' || left(id::text, 8) END AS key
          FROM users) k
 WHERE k.id = u.id;
--> statement-breakpoint
ALTER TABLE "users" ADD CONSTRAINT "users_audit_key_unique" UNIQUE("audit_key");
--> statement-breakpoint
INSERT INTO audit_log (changed_by, kind, integration, field_name, old_value, new_value, correlation_id)
SELECT 'system', 'user', NULL, 'user.' || u.audit_key || '.role', NULL, to_jsonb(u.role), gen_random_uuid()::text
  FROM users u
 WHERE NOT EXISTS (SELECT 1 FROM audit_log a
                    WHERE a.integration IS NULL AND a.kind = 'user'
                      AND a.field_name = 'user.' || u.audit_key || '.role')
 ORDER BY u.created_at, u.id;
