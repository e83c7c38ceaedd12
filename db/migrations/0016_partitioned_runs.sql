-- Issue 18, volume: runs, attempts and attempt_logs partitioned by week of the RUN's created_at,
-- so that retention drops a week's three aligned partitions (drop_run_partitions) instead of
-- deleting rows one by one. attempts and attempt_logs carry a copy of the run's created_at
-- (run_created_at) as their partition key; a primary key or foreign key on a partitioned table must
-- contain it, hence (id, created_at) and (id, run_created_at).
--
-- A table cannot be ALTERed into a partitioned one: the old tables are renamed, the partitioned
-- ones created with the same columns, the rows copied, the old tables dropped, and the keys and
-- indexes built once over the copied rows. Run it with the worker stopped (every migration runs in
-- one transaction under the migration lock, so a web or worker that starts meanwhile waits for it).
ALTER TABLE "attempt_logs" RENAME TO "attempt_logs_unpartitioned";--> statement-breakpoint
ALTER TABLE "attempts" RENAME TO "attempts_unpartitioned";--> statement-breakpoint
ALTER TABLE "runs" RENAME TO "runs_unpartitioned";--> statement-breakpoint
-- created_at to the millisecond: the application copies it into attempts and attempt_logs from a
-- JavaScript Date, which has no microseconds, and the composite foreign keys compare it exactly.
ALTER TABLE "runs_unpartitioned" ALTER COLUMN "created_at" TYPE timestamp(3) with time zone;--> statement-breakpoint
ALTER TABLE "attempt_logs_unpartitioned" ALTER COLUMN "id" DROP DEFAULT;--> statement-breakpoint
ALTER SEQUENCE "attempt_logs_id_seq" OWNED BY NONE;--> statement-breakpoint
CREATE TABLE "runs" (LIKE "runs_unpartitioned" INCLUDING DEFAULTS) PARTITION BY RANGE ("created_at");--> statement-breakpoint
CREATE TABLE "attempts" (LIKE "attempts_unpartitioned" INCLUDING DEFAULTS, "run_created_at" timestamp(3) with time zone NOT NULL) PARTITION BY RANGE ("run_created_at");--> statement-breakpoint
CREATE TABLE "attempt_logs" (LIKE "attempt_logs_unpartitioned" INCLUDING DEFAULTS, "run_created_at" timestamp(3) with time zone NOT NULL) PARTITION BY RANGE ("run_created_at");--> statement-breakpoint
ALTER TABLE "attempt_logs" ALTER COLUMN "id" SET DEFAULT nextval('attempt_logs_id_seq');--> statement-breakpoint
ALTER SEQUENCE "attempt_logs_id_seq" OWNED BY "attempt_logs"."id";--> statement-breakpoint
-- A row whose week has no partition yet lands here instead of failing; the health page reports
-- it (it should stay empty: migrate and the worker create the weeks ahead).
CREATE TABLE "runs_default" PARTITION OF "runs" DEFAULT;--> statement-breakpoint
CREATE TABLE "attempts_default" PARTITION OF "attempts" DEFAULT;--> statement-breakpoint
CREATE TABLE "attempt_logs_default" PARTITION OF "attempt_logs" DEFAULT;--> statement-breakpoint
-- The Monday 00:00 UTC that starts the week holding `at`.
CREATE FUNCTION "run_partition_week"("at" timestamp with time zone) RETURNS timestamp with time zone
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ select date_trunc('week', "at" at time zone 'UTC') at time zone 'UTC' $$;--> statement-breakpoint
-- Creates the weeks [week of p_from, + p_weeks) of the three tables, if missing; returns how many
-- weeks it created. SECURITY DEFINER: it runs as the owner role, so the worker can create the
-- weeks ahead while connected as the runtime role, which has no DDL rights of its own. A week whose
-- rows already sit in the DEFAULT partition cannot be created (PostgreSQL refuses): it is skipped
-- with a warning, and the health page reports the default partition as not empty. Creating a
-- partition locks its parent: a lock not granted within 5 s (a long query on the table) skips the
-- week until the next call instead of queueing every query of the platform behind it; the weeks
-- are created four ahead, so a skipped call costs nothing.
CREATE FUNCTION "ensure_run_partitions"("p_from" timestamp with time zone, "p_weeks" integer) RETURNS integer
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
      execute format('create table public.%I partition of public.attempt_logs for values from (%L) to (%L)',
                     'attempt_logs_w' || suffix, w, w + interval '7 days');
      created := created + 1;
    exception when others then
      raise warning 'run partitions of the week of % not created: %', w, sqlerrm;
    end;
  end loop;
  perform set_config('lock_timeout', caller_lock_timeout, true);
  return created;
end $$;--> statement-breakpoint
-- Retention: detaches and drops the weeks that end at or before p_older_than, referencing tables first
-- (logs, attempts, runs), skipping any week that still holds an unfinished run (pruneRuns keeps
-- deleting the finished rows of such a week). Returns the weeks it dropped. A lock it cannot get
-- within 5 s (a long query on the tables) skips the week until the next round instead of queueing
-- every query of the platform behind it.
CREATE FUNCTION "drop_run_partitions"("p_older_than" timestamp with time zone) RETURNS text[]
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
      execute format('alter table public.attempt_logs detach partition public.%I', 'attempt_logs_w' || p.suffix);
      execute format('drop table public.%I', 'attempt_logs_w' || p.suffix);
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
end $$;--> statement-breakpoint
-- Only the owner and roles granted EXECUTE (the runtime role: db/roles.ts) may create or drop
-- weeks: functions are executable by PUBLIC unless revoked, and these run as the owner.
REVOKE EXECUTE ON FUNCTION "ensure_run_partitions"(timestamp with time zone, integer) FROM PUBLIC;--> statement-breakpoint
REVOKE EXECUTE ON FUNCTION "drop_run_partitions"(timestamp with time zone) FROM PUBLIC;--> statement-breakpoint
-- The weeks that hold existing runs, and the current week plus the next four.
SELECT ensure_run_partitions(w, 1) FROM (SELECT DISTINCT run_partition_week(created_at) AS w FROM runs_unpartitioned) weeks;--> statement-breakpoint
SELECT ensure_run_partitions(now(), 5);--> statement-breakpoint
INSERT INTO "runs" SELECT * FROM "runs_unpartitioned";--> statement-breakpoint
INSERT INTO "attempts" SELECT a.*, r.created_at FROM "attempts_unpartitioned" a JOIN "runs_unpartitioned" r ON r.id = a.run_id;--> statement-breakpoint
INSERT INTO "attempt_logs" SELECT l.*, a.run_created_at FROM "attempt_logs_unpartitioned" l JOIN "attempts" a ON a.id = l.attempt_id;--> statement-breakpoint
DROP TABLE "attempt_logs_unpartitioned";--> statement-breakpoint
DROP TABLE "attempts_unpartitioned";--> statement-breakpoint
DROP TABLE "runs_unpartitioned";--> statement-breakpoint
ALTER TABLE "runs" ADD CONSTRAINT "runs_pkey" PRIMARY KEY ("id", "created_at");--> statement-breakpoint
ALTER TABLE "attempts" ADD CONSTRAINT "attempts_pkey" PRIMARY KEY ("id", "run_created_at");--> statement-breakpoint
ALTER TABLE "attempt_logs" ADD CONSTRAINT "attempt_logs_pkey" PRIMARY KEY ("id", "run_created_at");--> statement-breakpoint
ALTER TABLE "runs" ADD CONSTRAINT "runs_integration_integrations_name_fk" FOREIGN KEY ("integration") REFERENCES "public"."integrations"("name");--> statement-breakpoint
ALTER TABLE "attempts" ADD CONSTRAINT "attempts_run_fk" FOREIGN KEY ("run_id", "run_created_at") REFERENCES "public"."runs"("id", "created_at") ON DELETE cascade;--> statement-breakpoint
ALTER TABLE "attempt_logs" ADD CONSTRAINT "attempt_logs_attempt_fk" FOREIGN KEY ("attempt_id", "run_created_at") REFERENCES "public"."attempts"("id", "run_created_at") ON DELETE cascade;--> statement-breakpoint
CREATE INDEX "runs_held_idx" ON "runs" USING btree ("integration","created_at") WHERE hold is not null;--> statement-breakpoint
CREATE INDEX "runs_released_idx" ON "runs" USING btree ("integration","released_at") WHERE released_at is not null;--> statement-breakpoint
CREATE INDEX "runs_bulk_operation_idx" ON "runs" USING btree ("bulk_operation_id") WHERE bulk_operation_id is not null;--> statement-breakpoint
CREATE INDEX "runs_created_idx" ON "runs" USING btree ("created_at" DESC NULLS LAST,"id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "runs_integration_created_idx" ON "runs" USING btree ("integration","created_at" DESC NULLS LAST,"id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "runs_status_created_idx" ON "runs" USING btree ("status","created_at" DESC NULLS LAST,"id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "runs_retry_of_idx" ON "runs" USING btree ("retry_of");--> statement-breakpoint
CREATE INDEX "attempts_run_idx" ON "attempts" USING btree ("run_id","number");--> statement-breakpoint
CREATE INDEX "attempts_started_idx" ON "attempts" USING btree ("started_at");--> statement-breakpoint
CREATE INDEX "attempts_running_idx" ON "attempts" USING btree ("started_at") WHERE outcome = 'running';--> statement-breakpoint
CREATE INDEX "attempt_logs_attempt_idx" ON "attempt_logs" USING btree ("attempt_id","id");
