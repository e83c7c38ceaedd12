-- An operator may dismiss a failed webhook event that can never be applied (it refers to something
-- deleted upstream, say): its status becomes 'dismissed', no replay picks it up again, and the
-- integration's events_failed incident can close once no failed event is left. Who dismissed it,
-- when and why are kept on the event for the Events tab (and in the audit trail, with the
-- correlation id); the handler's reason stays in "outcome".
ALTER TABLE "webhook_events" ADD COLUMN "dismissed_at" timestamp with time zone;
--> statement-breakpoint
ALTER TABLE "webhook_events" ADD COLUMN "dismissed_by" text;
--> statement-breakpoint
ALTER TABLE "webhook_events" ADD COLUMN "dismiss_reason" text;
