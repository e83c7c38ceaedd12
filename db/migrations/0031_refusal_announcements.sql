-- A burst of events refused by a handler is announced to alerting by ONE queued job per
-- integration (pg-boss upsert by singletonKey), not one job per event: the refusals it stands for
-- are the events with refusal_unannounced_at set, which alerting counts and clears when it handles it.
ALTER TABLE "webhook_events" ADD COLUMN "refusal_unannounced_at" timestamp with time zone;--> statement-breakpoint
CREATE INDEX "webhook_events_unannounced_idx" ON "webhook_events" USING btree ("integration","id") WHERE refusal_unannounced_at is not null;
