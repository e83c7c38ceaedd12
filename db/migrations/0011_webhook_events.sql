-- Signed webhook intake (lib/platform/intake): events pushed by external systems are stored with
-- their processing job in one transaction, deduplicated by the sender's event id, and applied by
-- the runner in order. Runs started by events carry the trigger 'event'.
ALTER TYPE "run_trigger" ADD VALUE IF NOT EXISTS 'event';
--> statement-breakpoint
CREATE TABLE "webhook_events" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"integration" text NOT NULL,
	"event_id" text NOT NULL,
	"event_type" text NOT NULL,
	"ordering_key" text,
	"version" bigint,
	"status" text DEFAULT 'pending' NOT NULL,
	"payload" jsonb NOT NULL,
	"signed_at" timestamp with time zone,
	"duplicates" integer DEFAULT 0 NOT NULL,
	"last_duplicate_at" timestamp with time zone,
	"received_at" timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
	"started_at" timestamp with time zone,
	"processed_at" timestamp with time zone,
	"run_id" uuid,
	"outcome" text,
	"replays" integer DEFAULT 0 NOT NULL,
	CONSTRAINT "webhook_events_integration_event_id_unique" UNIQUE("integration","event_id")
);
--> statement-breakpoint
ALTER TABLE "webhook_events" ADD CONSTRAINT "webhook_events_integration_integrations_name_fk" FOREIGN KEY ("integration") REFERENCES "public"."integrations"("name") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "webhook_events_pending_idx" ON "webhook_events" USING btree ("integration","id") WHERE status = 'pending';--> statement-breakpoint
CREATE INDEX "webhook_events_received_idx" ON "webhook_events" USING btree ("integration","received_at" DESC,"id" DESC);--> statement-breakpoint
-- Per ordering key (say a payment id), the newest version applied: an older event is 'stale'.
CREATE TABLE "webhook_ordering" (
	"integration" text NOT NULL,
	"ordering_key" text NOT NULL,
	"version" bigint NOT NULL,
	"event_id" text NOT NULL,
	"applied_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "webhook_ordering_pk" PRIMARY KEY("integration","ordering_key")
);
--> statement-breakpoint
-- Refused deliveries: metadata only, never the body or a signature.
CREATE TABLE "webhook_rejections" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"integration" text NOT NULL,
	"status" integer NOT NULL,
	"reason" text NOT NULL,
	"event_id" text,
	"content_type" text,
	"content_length" integer,
	"remote" text,
	"received_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE INDEX "webhook_rejections_received_idx" ON "webhook_rejections" USING btree ("integration","received_at" DESC,"id" DESC);--> statement-breakpoint
-- Signing secrets, several active at once for rotation; sealed like integration secrets.
CREATE TABLE "webhook_secrets" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"integration" text NOT NULL,
	"label" text NOT NULL,
	"sealed" text NOT NULL,
	"key_id" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"created_by" text NOT NULL,
	"revoked_at" timestamp with time zone,
	"revoked_by" text
);
--> statement-breakpoint
ALTER TABLE "webhook_secrets" ADD CONSTRAINT "webhook_secrets_integration_integrations_name_fk" FOREIGN KEY ("integration") REFERENCES "public"."integrations"("name") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "webhook_secrets_integration_idx" ON "webhook_secrets" USING btree ("integration") WHERE revoked_at IS NULL;
--> statement-breakpoint
-- Host data for the payment-events integration: each invoice's payment state (newest version
-- only) and its payment history (one row per applied event: the host's payment timeline).
ALTER TABLE "invoices" ADD COLUMN "payment_status" text;--> statement-breakpoint
ALTER TABLE "invoices" ADD COLUMN "payment_id" text;--> statement-breakpoint
ALTER TABLE "invoices" ADD COLUMN "payment_version" bigint;--> statement-breakpoint
ALTER TABLE "invoices" ADD COLUMN "paid_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "invoices" ADD COLUMN "refunded_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "invoices" ADD COLUMN "payout_id" text;--> statement-breakpoint
ALTER TABLE "invoices" ADD COLUMN "paid_out_at" timestamp with time zone;--> statement-breakpoint
CREATE INDEX "invoices_payment_id_idx" ON "invoices" USING btree ("payment_id") WHERE payment_id IS NOT NULL;--> statement-breakpoint
CREATE TABLE "invoice_payment_history" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"invoice_id" uuid NOT NULL,
	"event_id" text NOT NULL,
	"event_type" text NOT NULL,
	"payment_id" text,
	"payout_id" text,
	"version" bigint,
	"amount" numeric(14, 2),
	"currency" text,
	"applied_at" timestamp with time zone DEFAULT clock_timestamp() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "invoice_payment_history" ADD CONSTRAINT "invoice_payment_history_invoice_id_invoices_id_fk" FOREIGN KEY ("invoice_id") REFERENCES "public"."invoices"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "invoice_payment_history_invoice_idx" ON "invoice_payment_history" USING btree ("invoice_id","id");
