-- Issue 18, log volume: one row per flush of an attempt's log instead of one row per line. The
-- lines of a flush are stored column-wise: the first line's time plus a millisecond offset per
-- line (null when they are all 0: a row of one line), one letter per line for the level (d, i, w, e), the messages as one text[] and the data as
-- one jsonb array (one element per line, null where a line has none) only when some line has data.
-- `dropped` counts the lines an attempt logged past its cap (debug, info, warn, error) that were not
-- kept before this row's lines (lib/platform/log.ts). Partitioned by week of the run's created_at
-- like attempt_logs was (migration 0016); attempt_logs becomes a view of the lines, one per row.
CREATE TABLE "attempt_log_batches" (
  "id" bigserial NOT NULL,
  "attempt_id" uuid NOT NULL,
  "run_created_at" timestamp(3) with time zone NOT NULL,
  "at" timestamp(3) with time zone NOT NULL,
  "offsets" integer[],
  "levels" text NOT NULL,
  "messages" text[] NOT NULL,
  "data" jsonb,
  "dropped" integer[],
  CONSTRAINT "attempt_log_batches_pkey" PRIMARY KEY ("id", "run_created_at"),
  CONSTRAINT "attempt_log_batches_attempt_fk" FOREIGN KEY ("attempt_id", "run_created_at")
    REFERENCES "public"."attempts"("id", "run_created_at") ON DELETE cascade ON UPDATE no action
) PARTITION BY RANGE ("run_created_at");--> statement-breakpoint
CREATE TABLE "attempt_log_batches_default" PARTITION OF "attempt_log_batches" DEFAULT;--> statement-breakpoint
CREATE INDEX "attempt_log_batches_attempt_idx" ON "attempt_log_batches" USING btree ("attempt_id", "id");--> statement-breakpoint
-- A partition for every week that has one of runs.
DO $$
declare
  p record;
  w timestamptz;
begin
  for p in
    select substr(c.relname, 7) as suffix
      from pg_inherits i join pg_class c on c.oid = i.inhrelid
     where i.inhparent = 'public.runs'::regclass and c.relname ~ '^runs_w[0-9]{8}$'
  loop
    w := to_date(p.suffix, 'YYYYMMDD')::timestamp at time zone 'UTC';
    execute format('create table public.%I partition of public.attempt_log_batches for values from (%L) to (%L)',
                   'attempt_log_batches_w' || p.suffix, w, w + interval '7 days');
  end loop;
end $$;--> statement-breakpoint
-- Existing lines, 200 per row (a full flush) in the order of their ids.
INSERT INTO "attempt_log_batches" ("attempt_id", "run_created_at", "at", "offsets", "levels", "messages", "data")
SELECT c.attempt_id, c.run_created_at, c.base,
       array(select (round(extract(epoch from t - c.base) * 1000))::int from unnest(c.ats) with ordinality u(t, n) order by n),
       c.levels, c.messages, c.data
  FROM (
    SELECT l.attempt_id, l.run_created_at, min(l.id) AS first_id, (array_agg(l.at ORDER BY l.id))[1] AS base,
           array_agg(l.at ORDER BY l.id) AS ats,
           string_agg(CASE l.level WHEN 'debug' THEN 'd' WHEN 'warn' THEN 'w' WHEN 'error' THEN 'e' ELSE 'i' END, '' ORDER BY l.id) AS levels,
           array_agg(l.message ORDER BY l.id) AS messages,
           CASE WHEN bool_or(l.data IS NOT NULL) THEN jsonb_agg(l.data ORDER BY l.id) END AS data
      FROM (SELECT *, (row_number() OVER (PARTITION BY attempt_id ORDER BY id) - 1) / 200 AS chunk FROM "attempt_logs") l
     GROUP BY l.attempt_id, l.run_created_at, l.chunk
  ) c
 ORDER BY c.first_id;--> statement-breakpoint
DROP TABLE "attempt_logs";--> statement-breakpoint
-- The lines, one per row, in order of id (a row's id times 2^20 plus the line's place in it).
CREATE VIEW "attempt_logs" AS
SELECT b.id * 1048576 + l.n AS id, b.id AS batch_id, b.attempt_id, b.run_created_at,
       b.at + coalesce(l.off, 0) * interval '1 millisecond' AS at,
       CASE substr(b.levels, l.n::int, 1) WHEN 'd' THEN 'debug' WHEN 'w' THEN 'warn' WHEN 'e' THEN 'error' ELSE 'info' END AS level,
       l.message, nullif(b.data -> (l.n::int - 1), 'null'::jsonb) AS data
  FROM "attempt_log_batches" b
 CROSS JOIN LATERAL unnest(coalesce(b.offsets, '{}'), b.messages) WITH ORDINALITY AS l(off, message, n);--> statement-breakpoint
CREATE OR REPLACE FUNCTION "ensure_run_partitions"("p_from" timestamp with time zone, "p_weeks" integer) RETURNS integer
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
  AS $$
declare
  w timestamptz;
  suffix text;
  created integer := 0;
  caller_lock_timeout text := current_setting('lock_timeout');
begin
  if p_weeks < 1 or p_weeks > 520 then
    raise exception 'p_weeks must be between 1 and 520, got %', p_weeks;
  end if;
  perform pg_advisory_xact_lock(727276);
  perform set_config('lock_timeout', '5s', true);
  for i in 0 .. p_weeks - 1 loop
    w := run_partition_week(p_from) + make_interval(weeks => i);
    suffix := to_char(w at time zone 'UTC', 'YYYYMMDD');
    continue when to_regclass(format('public.%I', 'runs_w' || suffix)) is not null;
    begin
      execute format('create table public.%I partition of public.runs for values from (%L) to (%L)',
                     'runs_w' || suffix, w, w + interval '7 days');
      execute format('create table public.%I partition of public.attempts for values from (%L) to (%L)',
                     'attempts_w' || suffix, w, w + interval '7 days');
      execute format('create table public.%I partition of public.attempt_log_batches for values from (%L) to (%L)',
                     'attempt_log_batches_w' || suffix, w, w + interval '7 days');
      created := created + 1;
    exception when others then
      raise warning 'run partitions of the week of % not created: %', w, sqlerrm;
    end;
  end loop;
  perform set_config('lock_timeout', caller_lock_timeout, true);
  return created;
end $$;--> statement-breakpoint
CREATE OR REPLACE FUNCTION "drop_run_partitions"("p_older_than" timestamp with time zone) RETURNS text[]
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
  AS $$
declare
  p record;
  busy boolean;
  dropped text[] := '{}';
  caller_lock_timeout text := current_setting('lock_timeout');
begin
  perform pg_advisory_xact_lock(727276);
  perform set_config('lock_timeout', '5s', true);
  for p in
    select substr(c.relname, 7) as suffix
      from pg_inherits i join pg_class c on c.oid = i.inhrelid
     where i.inhparent = 'public.runs'::regclass and c.relname ~ '^runs_w[0-9]{8}$'
       and (to_date(substr(c.relname, 7), 'YYYYMMDD')::timestamp at time zone 'UTC') + interval '7 days' <= p_older_than
     order by c.relname
  loop
    execute format($q$select exists (select from public.%I where status not in ('succeeded', 'failed', 'cancelled'))$q$, 'runs_w' || p.suffix)
       into busy;
    continue when busy;
    begin
      execute format('alter table public.attempt_log_batches detach partition public.%I', 'attempt_log_batches_w' || p.suffix);
      execute format('drop table public.%I', 'attempt_log_batches_w' || p.suffix);
      execute format('alter table public.attempts detach partition public.%I', 'attempts_w' || p.suffix);
      execute format('drop table public.%I', 'attempts_w' || p.suffix);
      execute format('alter table public.runs detach partition public.%I', 'runs_w' || p.suffix);
      execute format('drop table public.%I', 'runs_w' || p.suffix);
      dropped := dropped || ('runs_w' || p.suffix);
    exception when lock_not_available then
      raise warning 'run partitions of the week % not dropped: %', p.suffix, sqlerrm;
    end;
  end loop;
  perform set_config('lock_timeout', caller_lock_timeout, true);
  return dropped;
end $$;
