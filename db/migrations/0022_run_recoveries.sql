-- Integrations with a failed run whose recovery alerting has not been told of yet (issue 18). A run
-- that ends failed puts its integration here, in the transaction of its run.failed event; the
-- worker's batch settle announces a success (run.succeeded) only for an integration listed here or
-- with an open run_failed incident, and takes it off the list in the same transaction. Every other
-- success is one alerting would discard, and a job per run on the events queue besides. Existing
-- integrations start on the list: their first success after the upgrade is announced as before.
CREATE TABLE "run_recoveries" (
  "integration" text PRIMARY KEY NOT NULL,
  "failed_at" timestamp with time zone DEFAULT now() NOT NULL
);--> statement-breakpoint
INSERT INTO "run_recoveries" ("integration") SELECT "name" FROM "integrations";
