-- Replays of webhook events go at the pace of bulk retry and not while the breaker is open: the
-- chosen events are split over held event runs of one bulk operation (kind 'replay'), and an event
-- waits for its replay run to be released before any run applies it. The status it had before the
-- replay is kept so that cancelling the operation puts it back.
ALTER TABLE "webhook_events" ADD COLUMN "replay_run_id" uuid;
--> statement-breakpoint
ALTER TABLE "webhook_events" ADD COLUMN "replayed_from" text;
--> statement-breakpoint
CREATE INDEX "webhook_events_replay_run_idx" ON "webhook_events" ("replay_run_id") WHERE "replay_run_id" IS NOT NULL;
--> statement-breakpoint
-- Host data (payment-events): a payout as recorded per payment it covers, so a payout that arrives
-- before its payments' payment.succeeded is applied when they arrive instead of settling nothing.
CREATE TABLE "payment_payouts" (
	"payment_id" text PRIMARY KEY NOT NULL,
	"payout_id" text NOT NULL,
	"event_id" text NOT NULL,
	"version" bigint,
	"amount" numeric(14, 2),
	"currency" text,
	"paid_out_at" timestamp with time zone NOT NULL,
	"recorded_at" timestamp with time zone DEFAULT now() NOT NULL
);
