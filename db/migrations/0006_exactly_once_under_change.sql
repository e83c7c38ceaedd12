-- Exactly once under change (issue 13).
-- runs.checkpoint: the handler's durable progress (ctx.cursor.checkpoint), written after each
-- acknowledged unit of work; a retried attempt of the run resumes from it, and when the run ends
-- it becomes the integration's cursor (on success a value staged with ctx.cursor.set wins).
ALTER TABLE "runs" ADD COLUMN "checkpoint" jsonb;--> statement-breakpoint
ALTER TABLE "runs" ADD COLUMN "checkpoint_at" timestamp with time zone;--> statement-breakpoint
-- attempts.resumed_from: the checkpoint an attempt started from (shown on the run page).
ALTER TABLE "attempts" ADD COLUMN "resumed_from" jsonb;--> statement-breakpoint
-- customers.external_updated_at: the version (the CRM's updated_at) of the contact last applied by
-- crm-sync; an older version is never applied over a newer one.
ALTER TABLE "customers" ADD COLUMN "external_updated_at" timestamp with time zone;
