-- Issue 18, volume: the Overview's "failed runs awaiting action" without a probe per failed run.
-- It counted the failed, non-dry runs of the last 7 days that no run retries (`not exists (select
-- from runs x where x.retry_of = r.id)`): one lookup in runs_retry_of_idx of every weekly partition
-- per failed run, 6 s at 10 M runs. A run now records when it was first retried (retried_at), kept
-- by a trigger on insert, and a partial index holds exactly the runs that count, by created_at: the
-- count is an index-only count of one range.
ALTER TABLE "runs" ADD COLUMN "retried_at" timestamp with time zone;--> statement-breakpoint
-- The run a new run retries is marked retried, once (the first retry's created_at). A retry is
-- created after the run it retries (same transaction at the earliest: then both have the same
-- created_at), so the created_at bound lets PostgreSQL skip the weeks after the retry's; should a
-- retry ever be older than its run (a backfill writing both), the unbounded update still marks it.
-- SECURITY INVOKER (the default): whoever inserts runs may update them, the runtime role included
-- (db/roles.ts). The WHEN clause keeps the runner's inserts of new runs from calling it at all.
CREATE FUNCTION "runs_mark_retried"() RETURNS trigger
  LANGUAGE plpgsql SET search_path = public, pg_temp
  AS $$
begin
  update runs set retried_at = coalesce(retried_at, NEW.created_at)
   where id = NEW.retry_of and created_at <= NEW.created_at;
  if not found then
    update runs set retried_at = coalesce(retried_at, NEW.created_at) where id = NEW.retry_of;
  end if;
  return null;
end $$;--> statement-breakpoint
-- On the partitioned table: PostgreSQL clones it onto every partition, those created or attached later too.
CREATE TRIGGER "runs_mark_retried" AFTER INSERT ON "runs"
  FOR EACH ROW WHEN (NEW.retry_of IS NOT NULL) EXECUTE FUNCTION "runs_mark_retried"();--> statement-breakpoint
-- The runs retried before this migration: when their first retry was created.
UPDATE "runs" r SET "retried_at" = x.first_retry
  FROM (SELECT "retry_of", min("created_at") AS first_retry FROM "runs" WHERE "retry_of" IS NOT NULL GROUP BY "retry_of") x
 WHERE r."id" = x."retry_of";--> statement-breakpoint
-- Exactly the runs the Overview counts as awaiting action (and its Runs list shows), by created_at.
CREATE INDEX "runs_awaiting_action_idx" ON "runs" USING btree ("created_at") WHERE status = 'failed' and not dry_run and retried_at is null;--> statement-breakpoint
-- The ranges of created_at at or after p_from that the rollup (migration 0017) does not cover at
-- p_now: the partial hour p_from falls in (when it is not on the hour), each hour since not sealed
-- yet, and the current hour onwards. The caller reads the sealed hours h with p_from <= h < the
-- current hour from run_rollup_counts, and bounds created_at >= p_from here: a run is then counted
-- once, in its sealed hour or live. STABLE, PL/pgSQL, ROWS 3 and PARALLEL UNSAFE for the reasons
-- given at run_rollup_live_ranges: typically the current hour and the one that closed last.
CREATE FUNCTION "run_rollup_open_ranges"("p_from" timestamp with time zone, "p_now" timestamp with time zone)
  RETURNS TABLE ("lo" timestamp with time zone, "hi" timestamp with time zone)
  LANGUAGE plpgsql STABLE PARALLEL UNSAFE ROWS 3
  AS $$
declare
  first_hour timestamptz := date_trunc('hour', p_from, 'UTC');
  first_full timestamptz := case when first_hour = p_from then p_from else first_hour + interval '1 hour' end;
  current_hour timestamptz := date_trunc('hour', p_now, 'UTC');
begin
  return query
    select first_hour, first_full where first_hour < first_full and first_full <= current_hour
    union all
    select h, h + interval '1 hour'
      from generate_series(first_full, current_hour - interval '1 hour', interval '1 hour') h
     where not exists (select from run_rollup_hours s where s.hour = h)
    union all
    select current_hour, 'infinity'::timestamptz;
end $$;
