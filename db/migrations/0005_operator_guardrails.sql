CREATE TABLE "bulk_operations" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"kind" text DEFAULT 'retry' NOT NULL,
	"created_by" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"run_ids" jsonb NOT NULL,
	"retried_run_ids" jsonb NOT NULL,
	"total" integer NOT NULL,
	"pace_runs" integer NOT NULL,
	"pace_period_ms" integer NOT NULL,
	"reason" text,
	"cancelled_at" timestamp with time zone,
	"cancelled_by" text
);
--> statement-breakpoint
ALTER TABLE "integrations" ADD COLUMN "credentials_error" text;--> statement-breakpoint
ALTER TABLE "integrations" ADD COLUMN "credentials_failing_since" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "runs" ADD COLUMN "bulk_operation_id" uuid;--> statement-breakpoint
ALTER TABLE "runs" ADD COLUMN "hold" text;--> statement-breakpoint
ALTER TABLE "runs" ADD COLUMN "released_at" timestamp with time zone;--> statement-breakpoint
CREATE INDEX "bulk_operations_created_idx" ON "bulk_operations" USING btree ("created_at" DESC NULLS LAST,"id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "attempts_started_idx" ON "attempts" USING btree ("started_at");--> statement-breakpoint
CREATE INDEX "runs_held_idx" ON "runs" USING btree ("integration","created_at") WHERE hold is not null;--> statement-breakpoint
CREATE INDEX "runs_released_idx" ON "runs" USING btree ("integration","released_at") WHERE released_at is not null;--> statement-breakpoint
CREATE INDEX "runs_bulk_operation_idx" ON "runs" USING btree ("bulk_operation_id") WHERE bulk_operation_id is not null;