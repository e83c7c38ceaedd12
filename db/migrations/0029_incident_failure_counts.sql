-- An incident of an event-run outage counts runs and inbound events (one run failed, its 3 events
-- marked failed): "4 failures" mixed them. failed_runs and failed_events count them apart for
-- run_failed and events_failed incidents (null for the other kinds). A run_failed incident's
-- event_count is its failed runs; an events_failed one's from before this migration may have
-- counted a run too (folded), so it stays null there: the wording falls back to the plain count.
-- event_run marks a run_failed incident opened by a run that applies the integration's events
-- (an event run, a retry of one, any run of an integration with no execute).
ALTER TABLE "incidents" ADD COLUMN "failed_runs" integer;--> statement-breakpoint
ALTER TABLE "incidents" ADD COLUMN "failed_events" integer;--> statement-breakpoint
ALTER TABLE "incidents" ADD COLUMN "event_run" boolean DEFAULT false NOT NULL;--> statement-breakpoint
UPDATE "incidents" SET "failed_runs" = "event_count", "failed_events" = 0 WHERE "kind" = 'run_failed';
