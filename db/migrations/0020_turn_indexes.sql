-- Issue 18, dispatch at volume: a run's turn (run-order.ts) asks for the earliest run of its
-- integration that has started and not finished, and for the earliest one queued before it. Both
-- walked runs_integration_created_idx through every run of the integration in each weekly
-- partition, finished ones included, and filtered: a start cost grew with the integration's runs
-- that week (about 0.2 ms per start at 300 runs, per fetch of 16 about 12 ms at 6 000), at event
-- rates without bound. These partial indexes hold only unfinished runs, so each question reads
-- one index entry. Their predicates are the ones firstTurnJson and checkTurn write, literally:
-- PostgreSQL uses a partial index only when the query's own conditions imply its predicate.
CREATE INDEX "runs_started_turn_idx" ON "runs" USING btree ("integration","created_at","id")
  WHERE status in ('queued', 'running', 'retrying', 'deferred') and not dry_run and started_at is not null;--> statement-breakpoint
CREATE INDEX "runs_waiting_turn_idx" ON "runs" USING btree ("integration","created_at","id")
  WHERE status in ('queued', 'running', 'retrying', 'deferred') and not dry_run and started_at is null and hold is null;
