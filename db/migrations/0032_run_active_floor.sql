-- Issue 18, a year of runs on one database: the turn subqueries (lib/platform/execution/run-order.ts)
-- look for an unfinished run of the integration, which may be of any week, so each probed every
-- weekly partition's turn index: at 52 weeks the batch path lost 42 % of its drain. This one row
-- holds a bound at or below the created_at of every unfinished run (queued, running, retrying,
-- deferred; dry-runs too); those subqueries also ask `created_at >= since`, and PostgreSQL skips
-- the weeks before it when the statement runs (run-time partition pruning).
--
-- Why it cannot pass an unfinished run, a late-committing one included (run-floor.test.ts):
-- - It is raised only by raise_run_active_floor(), holding the row's lock, to an hour (its margin) before the
--   oldest unfinished run it can see, or before the start of the oldest transaction still open
--   when that is earlier. A run's created_at is its inserting transaction's start (now(), kept to
--   the millisecond: rounded, so up to half a millisecond before it), or later (run-create.ts),
--   so a run committed after the raise looked is after that bound. The hour is for the server's
--   clock stepping back (a time sync, a fail-over to another host): runs written then are dated
--   before the runs already there. It costs nothing that matters: partitions are weeks.
-- - A run written unfinished with a created_at before its transaction's start (the demo seed, a
--   backfill, a finished run's status set back) lowers it in its own transaction, by the triggers
--   below: a reader that sees the run sees the lower bound. The trigger always updates the row, so
--   it takes the row's lock even when the bound is low enough already, and a raise either waits for
--   its transaction to end (and then sees the run) or comes first (and the trigger lowers its value).
CREATE TABLE "run_active_floor" (
  "id" integer PRIMARY KEY DEFAULT 1 CHECK ("id" = 1),
  "since" timestamp with time zone NOT NULL,
  "raised_at" timestamp with time zone
);--> statement-breakpoint
-- No bound until the worker's maintenance loop first raises it.
INSERT INTO "run_active_floor" ("id", "since") VALUES (1, '-infinity');--> statement-breakpoint
-- SECURITY INVOKER (the default): whoever writes runs may update this table, the runtime role
-- included (db/roles.ts).
CREATE FUNCTION "runs_lower_active_floor"() RETURNS trigger
  LANGUAGE plpgsql SET search_path = public, pg_temp
  AS $$
begin
  update run_active_floor set since = least(since, NEW.created_at) where id = 1;
  return null;
end $$;--> statement-breakpoint
-- The WHEN clauses keep the usual writes (a new run at now(), a status moving between unfinished
-- ones or to a finished one) from calling it at all. On the partitioned table: PostgreSQL clones
-- them onto every partition, those created later too.
CREATE TRIGGER "runs_lower_active_floor" AFTER INSERT ON "runs"
  FOR EACH ROW WHEN (NEW.status IN ('queued', 'running', 'retrying', 'deferred')
                     AND NEW.created_at < now() - interval '1 millisecond')
  EXECUTE FUNCTION "runs_lower_active_floor"();--> statement-breakpoint
CREATE TRIGGER "runs_lower_active_floor_on_update" AFTER UPDATE OF "status", "created_at" ON "runs"
  FOR EACH ROW WHEN (NEW.status IN ('queued', 'running', 'retrying', 'deferred')
                     AND (OLD.status NOT IN ('queued', 'running', 'retrying', 'deferred') OR NEW.created_at <> OLD.created_at)
                     AND NEW.created_at < now() - interval '1 millisecond')
  EXECUTE FUNCTION "runs_lower_active_floor"();--> statement-breakpoint
-- Raises the bound as far as is safe now, and returns it; NULL when another raise (or a trigger's
-- transaction) holds the row, a prepared transaction exists (its start is not known), or a session
-- of this database hides its transaction from the caller (a role without pg_read_all_stats: db/roles.ts
-- grants it to the runtime role): the bound is then left as it is, which is always safe. READ COMMITTED only: each statement below
-- must see what committed before it ran, so that a transaction gone from pg_stat_activity when it
-- is read has its runs visible to the statement that reads the runs.
CREATE FUNCTION "raise_run_active_floor"("p_margin" interval DEFAULT '1 hour') RETURNS timestamp with time zone
  LANGUAGE plpgsql SET search_path = public, pg_temp
  AS $$
declare
  open_since timestamptz;
  oldest timestamptz;
  bound timestamptz;
begin
  if current_setting('transaction_isolation') <> 'read committed' then
    raise exception 'raise_run_active_floor() needs READ COMMITTED (this transaction is %)', current_setting('transaction_isolation');
  end if;
  perform 1 from run_active_floor where id = 1 for update skip locked;
  if not found then
    return null;
  end if;
  if exists (select from pg_prepared_xacts where database = current_database()) then
    return null;
  end if;
  -- First the transactions still open (a fresh read of the statistics), then the runs: a run not
  -- visible to the second statement belongs to a transaction that was open at the first or began
  -- after it.
  perform pg_stat_clear_snapshot();
  if exists (select from pg_stat_activity a
              where a.datname = current_database() and a.pid <> pg_backend_pid() and a.query = '<insufficient privilege>') then
    return null;
  end if;
  select least(clock_timestamp(), min(a.xact_start)) into open_since
    from pg_stat_activity a
   where a.datname = current_database() and a.pid <> pg_backend_pid() and a.xact_start is not null;
  select min(r.created_at) into oldest from runs r where r.status in ('queued', 'running', 'retrying', 'deferred');
  -- At least a millisecond: created_at is rounded to it.
  bound := least(open_since, coalesce(oldest, 'infinity')) - greatest(p_margin, interval '1 millisecond');
  update run_active_floor set since = bound, raised_at = now() where id = 1;
  return bound;
end $$;
