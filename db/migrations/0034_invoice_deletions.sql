-- A posted invoice deleted in the host left nothing for the accounting export to read, so its
-- booking stayed in the ledger for ever. The host records each deletion of an invoice that was
-- posted (status 'posted', or posted_at set: the export reads both) here, in the deleting
-- transaction (deleted_at = now(), late-commit safe like updated_at), and the export sends it a
-- reversal. A draft never posted was never booked: not recorded. Deleted again after being
-- restored with the same id: the newer deletion replaces the older one.
CREATE TABLE "invoice_deletions" (
	"invoice_id" uuid PRIMARY KEY NOT NULL,
	"number" text NOT NULL,
	"posted_at" timestamp with time zone NOT NULL,
	"deleted_at" timestamp with time zone DEFAULT now() NOT NULL
);--> statement-breakpoint
CREATE INDEX "invoice_deletions_deleted_idx" ON "invoice_deletions" USING btree ("deleted_at","invoice_id");--> statement-breakpoint
CREATE FUNCTION "record_invoice_deletion"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO invoice_deletions (invoice_id, number, posted_at, deleted_at)
  VALUES (OLD.id, OLD.number, coalesce(OLD.posted_at, OLD.updated_at), now())
  ON CONFLICT (invoice_id) DO UPDATE SET number = EXCLUDED.number, posted_at = EXCLUDED.posted_at, deleted_at = EXCLUDED.deleted_at;
  RETURN OLD;
END
$$;--> statement-breakpoint
CREATE TRIGGER "invoices_record_deletion" AFTER DELETE ON "invoices"
  FOR EACH ROW WHEN (OLD.posted_at IS NOT NULL OR OLD.status = 'posted') EXECUTE FUNCTION "record_invoice_deletion"();
