-- An admin's request for a full audit verification now (the Audit page's "Check now"): the worker
-- that runs the audit guard looks for one every few seconds and runs the check at once. Pending
-- while requested_at is after full_checked_at.
ALTER TABLE "audit_chain_state" ADD COLUMN "check_requested_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "audit_chain_state" ADD COLUMN "check_requested_by" text;
