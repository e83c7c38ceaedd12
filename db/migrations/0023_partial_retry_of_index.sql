-- runs_retry_of_idx held an entry for every run, though only an operator's retry has retry_of, and
-- every lookup by it is an equality (the retries of a run): an entry fewer to write at each insert
-- and each update of a run row (its status changes are never HOT), which a run at event rates pays
-- three times (issue 18).
DROP INDEX "runs_retry_of_idx";--> statement-breakpoint
CREATE INDEX "runs_retry_of_idx" ON "runs" USING btree ("retry_of") WHERE retry_of is not null;
