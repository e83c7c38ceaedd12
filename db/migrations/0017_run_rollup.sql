-- Issue 18, volume: the inventory's last-24-hours counts per integration from an hourly rollup of
-- sealed hours instead of a pass over every run of the day (111 000 runs at 10 M runs in 90 days).
-- An hour (UTC, by the run's created_at, the same key the old count used) is sealed once it has
-- closed and every non-dry run created in it has a terminal status: terminal statuses never change
-- (a retry is a new run), so its counts are final. The rollup job (lib/platform/read-models/
-- run-rollup.ts, from the worker's maintenance loop) seals hours; nothing is written per run, so the
-- runner's hot path is untouched. The query reads the rest (the current hour, the partial hour 24
-- hours back, any hour not sealed yet) live from runs.
CREATE TABLE "run_rollup_hours" (
	"hour" timestamp with time zone PRIMARY KEY NOT NULL,
	"sealed_at" timestamp with time zone DEFAULT now() NOT NULL
);--> statement-breakpoint
-- One row per integration that has runs in a sealed hour; an hour with no run has none.
CREATE TABLE "run_rollup_counts" (
	"hour" timestamp with time zone NOT NULL REFERENCES "run_rollup_hours" ("hour") ON DELETE CASCADE,
	"integration" text NOT NULL,
	"finished" integer NOT NULL,
	"succeeded" integer NOT NULL,
	CONSTRAINT "run_rollup_counts_pkey" PRIMARY KEY ("hour", "integration")
);
--> statement-breakpoint
-- The ranges of created_at the inventory reads live at p_now: the partial hour 24 hours back, each
-- hour of the day not sealed yet, and the current hour onwards. STABLE: it reads with the calling
-- statement's snapshot, so the rollup and the live ranges agree. PL/pgSQL so it is not inlined:
-- ROWS 3 tells the planner these are a few short index ranges, and PARALLEL UNSAFE keeps the
-- statement serial, since starting parallel workers (10 ms and more on a loaded machine) costs more
-- than the few thousand index entries it reads.
CREATE FUNCTION "run_rollup_live_ranges"("p_now" timestamp with time zone)
  RETURNS TABLE ("lo" timestamp with time zone, "hi" timestamp with time zone)
  LANGUAGE plpgsql STABLE PARALLEL UNSAFE ROWS 3
  AS $$
declare
  first_full timestamptz := date_trunc('hour', p_now - interval '24 hours', 'UTC') + interval '1 hour';
  current_hour timestamptz := date_trunc('hour', p_now, 'UTC');
begin
  return query
    select first_full - interval '1 hour', first_full
    union all
    select h, h + interval '1 hour'
      from generate_series(first_full, current_hour - interval '1 hour', interval '1 hour') h
     where not exists (select from run_rollup_hours s where s.hour = h)
    union all
    select current_hour, 'infinity'::timestamptz;
end $$;
