-- An attempt's time limit is configuration, like the retry delays: admins edit it in the config
-- editor (audited), the runner reads it from the row. Nullable on purpose: this migration cannot
-- know the code's value (defaults.attemptTimeout), so rows from before it start NULL and the
-- registry's sync at the next start of web or worker fills every NULL from the code (or 1h), never
-- overwriting a value that is set. Until then, and for an orphaned integration the sync no longer
-- touches, the runner and the console read NULL as the code's value (the registry's
-- attemptTimeoutMs); new rows are inserted with it.
ALTER TABLE "integrations" ADD COLUMN "attempt_timeout" text;
