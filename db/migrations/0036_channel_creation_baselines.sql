-- Hand-written: every alert channel's creation in the audit trail. The configuration check
-- (config-drift.ts channelConfigDrift) now reports a channel with no creation row as inserted
-- around the console; a channel that never went through the console (the demo seed inserted one
-- before it wrote creation rows) gets them now, once, by 'system', with what is stored: the rows
-- createChannel writes (alerts/channel-changes.ts auditEntries), one correlation id per channel.
-- A channel that has a name row (created or renamed through the console) is left as it is.
INSERT INTO audit_log (changed_by, kind, integration, field_name, old_value, new_value, correlation_id)
SELECT 'system', 'config', NULL, 'channel.' || c.name || '.' || f.field, NULL, f.value, c.correlation
  FROM (SELECT ch.*, gen_random_uuid()::text AS correlation FROM alert_channels ch
         WHERE NOT EXISTS (SELECT 1 FROM audit_log a
                            WHERE a.integration IS NULL AND a.kind = 'config' AND a.field_name = 'channel.' || ch.name || '.name')) c
  CROSS JOIN LATERAL (VALUES
    (1, 'name', to_jsonb(c.name)),
    (2, 'type', to_jsonb(c.type)),
    (3, 'enabled', to_jsonb(c.enabled)),
    -- As shownWebhookUrl shows it: a password in the URL (refused since) masked.
    (4, 'url', CASE WHEN c.type = 'webhook' AND jsonb_typeof(c.config -> 'url') = 'string'
                    THEN to_jsonb(regexp_replace(c.config ->> 'url', '^([A-Za-z][A-Za-z0-9+.-]*://[^:/@]*):[^@/]*@', '\1:***@'))
               END),
    (5, 'to', CASE WHEN jsonb_typeof(c.config -> 'to') = 'array' THEN c.config -> 'to' END),
    (6, 'from', CASE WHEN jsonb_typeof(c.config -> 'from') = 'string' THEN c.config -> 'from' END),
    (7, 'smtpUrl', CASE WHEN jsonb_typeof(c.config -> 'smtpUrl') = 'string' THEN c.config -> 'smtpUrl' END),
    -- Its sealed secret (a Slack channel's is its URL), as set, never its value.
    (8, CASE c.type WHEN 'webhook' THEN 'hmacSecret' WHEN 'email' THEN 'smtpPassword' ELSE 'url' END,
        CASE WHEN c.sealed_secret IS NOT NULL OR (c.type = 'slack' AND jsonb_typeof(c.config -> 'url') = 'string')
             THEN '{"replaced": true}'::jsonb END)
  ) AS f(n, field, value)
 WHERE f.value IS NOT NULL
 ORDER BY c.created_at, c.id, f.n;
