CREATE TABLE "run_daily_counts" (
	"day" date NOT NULL,
	"integration" text NOT NULL,
	"finished" integer DEFAULT 0 NOT NULL,
	"succeeded" integer DEFAULT 0 NOT NULL,
	CONSTRAINT "run_daily_counts_day_integration_pk" PRIMARY KEY("day","integration")
);
--> statement-breakpoint
CREATE INDEX "runs_failed_created_idx" ON "runs" USING btree ("created_at","id") WHERE status = 'failed' and not dry_run;--> statement-breakpoint
-- Hand-written below (drizzle-kit does not generate triggers): run_daily_counts follows runs in
-- the same transaction as every change of a run, so it is exactly the plain recount
--   select (created_at at time zone 'UTC')::date, integration, count(*), count(*) filter (where status = 'succeeded')
--     from runs where not dry_run and status in ('succeeded', 'failed') group by 1, 2
-- at any snapshot. The WHEN clauses keep the cost off the common writes: inserting a queued run,
-- starting, retrying or progressing one never calls the function; a run reaching succeeded or
-- failed makes one upsert of its (day, integration) row, and so does deleting a finished run.
-- The writes on runs wait here until the backfill is done, so no change is counted twice or lost
-- (the migrator runs every migration in one transaction).
LOCK TABLE "runs" IN SHARE ROW EXCLUSIVE MODE;
--> statement-breakpoint
CREATE FUNCTION run_daily_counts_apply() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' THEN
    IF NOT OLD.dry_run AND OLD.status IN ('succeeded', 'failed') THEN
      UPDATE run_daily_counts
         SET finished = finished - 1, succeeded = succeeded - (OLD.status = 'succeeded')::int
       WHERE day = (OLD.created_at AT TIME ZONE 'UTC')::date AND integration = OLD.integration;
    END IF;
  END IF;
  IF TG_OP <> 'DELETE' THEN
    IF NOT NEW.dry_run AND NEW.status IN ('succeeded', 'failed') THEN
      INSERT INTO run_daily_counts AS c (day, integration, finished, succeeded)
      VALUES ((NEW.created_at AT TIME ZONE 'UTC')::date, NEW.integration, 1, (NEW.status = 'succeeded')::int)
      ON CONFLICT (day, integration) DO UPDATE
        SET finished = c.finished + 1, succeeded = c.succeeded + excluded.succeeded;
    END IF;
  END IF;
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE TRIGGER run_daily_counts_insert AFTER INSERT ON "runs" FOR EACH ROW
  WHEN (NOT NEW.dry_run AND NEW.status IN ('succeeded', 'failed'))
  EXECUTE FUNCTION run_daily_counts_apply();
--> statement-breakpoint
CREATE TRIGGER run_daily_counts_update AFTER UPDATE ON "runs" FOR EACH ROW
  WHEN (((NOT OLD.dry_run AND OLD.status IN ('succeeded', 'failed')) OR (NOT NEW.dry_run AND NEW.status IN ('succeeded', 'failed')))
        AND (OLD.status IS DISTINCT FROM NEW.status OR OLD.dry_run IS DISTINCT FROM NEW.dry_run
             OR OLD.integration IS DISTINCT FROM NEW.integration OR OLD.created_at IS DISTINCT FROM NEW.created_at))
  EXECUTE FUNCTION run_daily_counts_apply();
--> statement-breakpoint
CREATE TRIGGER run_daily_counts_delete AFTER DELETE ON "runs" FOR EACH ROW
  WHEN (NOT OLD.dry_run AND OLD.status IN ('succeeded', 'failed'))
  EXECUTE FUNCTION run_daily_counts_apply();
--> statement-breakpoint
CREATE FUNCTION run_daily_counts_clear() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM run_daily_counts;
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE TRIGGER run_daily_counts_truncate AFTER TRUNCATE ON "runs" FOR EACH STATEMENT
  EXECUTE FUNCTION run_daily_counts_clear();
--> statement-breakpoint
INSERT INTO run_daily_counts (day, integration, finished, succeeded)
SELECT (created_at AT TIME ZONE 'UTC')::date, integration, count(*), count(*) FILTER (WHERE status = 'succeeded')
  FROM "runs"
 WHERE NOT dry_run AND status IN ('succeeded', 'failed')
 GROUP BY 1, 2;
