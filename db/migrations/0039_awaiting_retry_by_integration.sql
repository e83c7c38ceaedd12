-- A run_failed incident's failed runs nobody retried yet, counted on the inventory for each
-- integration with such an incident open (lib/platform/read-models/inventory.ts): the runs of
-- runs_awaiting_action_idx, by integration first. With that index alone the count read every
-- integration's awaiting runs of the week and fetched each row to compare its integration (6 ms per
-- incident at 10 M runs, bench/README.md §4); this one is an index-only range. Partial like it: only
-- failed runs nobody retried are in it.
CREATE INDEX "runs_awaiting_retry_by_integration_idx" ON "runs" USING btree ("integration", "created_at") WHERE status = 'failed' and not dry_run and retried_at is null;
