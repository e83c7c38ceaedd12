-- Issue 14. Interrupted attempts (worker lost, database unavailable) are recorded but do not use
-- up one of the run's attempts; runs.interruptions counts them against a separate cap.
ALTER TYPE "public"."attempt_outcome" ADD VALUE IF NOT EXISTS 'interrupted';--> statement-breakpoint
ALTER TABLE "runs" ADD COLUMN "interruptions" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
-- The liveness sweeper reads the running attempts every second or two.
CREATE INDEX "attempts_running_idx" ON "attempts" USING btree ("started_at") WHERE outcome = 'running';--> statement-breakpoint
-- One key check value per secrets key id: start-up refuses a JUNCTION_SECRETS_KEY that does not match it.
CREATE TABLE "secret_key_checks" (
	"key_id" text PRIMARY KEY NOT NULL,
	"check_value" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
