-- Hand-written: every user's role in the audit trail. From now on a first sign-in is audited
-- (lib/auth/users.ts upsertSignedInUser); a user who signed in before has no row for the role the
-- identity provider gave them unless an admin changed it since, and the configuration check
-- (config-drift.ts accessDrift) could not compare it. Their role as stored now is recorded once,
-- by 'system', in the form the console audits it (`user.<e-mail or id>.role`, null → role).
INSERT INTO audit_log (changed_by, kind, integration, field_name, old_value, new_value, correlation_id)
SELECT 'system', 'user', NULL, 'user.' || coalesce(u.email, u.id::text) || '.role', NULL, to_jsonb(u.role), gen_random_uuid()::text
  FROM users u
 WHERE NOT EXISTS (SELECT 1 FROM audit_log a
                    WHERE a.integration IS NULL AND a.kind = 'user'
                      AND a.field_name = 'user.' || coalesce(u.email, u.id::text) || '.role')
 ORDER BY u.created_at, u.id;
