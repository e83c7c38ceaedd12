-- Hand-written (issue 15). Where audit verification stands: the last verified row, so the Audit
-- page re-checks only newer rows, and the outcome of the last full verification against the signed
-- anchors kept outside the database. One row (id 1). The runtime role may update it (grants in
-- db/roles.ts): tampering with it only makes a page check more rows or report a stale result; the
-- anchors are what the owner cannot forge.
CREATE TABLE "audit_chain_state" (
	"id" integer PRIMARY KEY DEFAULT 1 NOT NULL CHECK ("id" = 1),
	"verified_id" bigint DEFAULT 0 NOT NULL,
	"verified_hash" text DEFAULT 'genesis' NOT NULL,
	"verified_rows" bigint DEFAULT 0 NOT NULL,
	"verified_at" timestamp with time zone,
	"full_checked_at" timestamp with time zone,
	"full_ok" boolean,
	"full_findings" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"anchor_seq" integer,
	"anchor_at" timestamp with time zone,
	"anchor_last_id" bigint
);
--> statement-breakpoint
INSERT INTO "audit_chain_state" ("id") VALUES (1);
