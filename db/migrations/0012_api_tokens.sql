-- API tokens for scripts and CI jobs: a named bearer token with a role (viewer or operator) and an
-- expiry. Only the SHA-256 of the value is kept (the value is shown once, at creation); the
-- prefix (the first characters, e.g. "jct_AbCd") lets people tell their tokens apart.
CREATE TABLE "api_tokens" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" text NOT NULL,
	"role" "role" NOT NULL,
	"token_hash" text NOT NULL,
	"prefix" text NOT NULL,
	"created_by_user_id" uuid NOT NULL,
	"created_by" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"last_used_at" timestamp with time zone,
	"revoked_at" timestamp with time zone,
	"revoked_by" text,
	CONSTRAINT "api_tokens_token_hash_unique" UNIQUE("token_hash"),
	CONSTRAINT "api_tokens_role_check" CHECK ("role" in ('viewer', 'operator'))
);
--> statement-breakpoint
ALTER TABLE "api_tokens" ADD CONSTRAINT "api_tokens_created_by_user_id_users_id_fk" FOREIGN KEY ("created_by_user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "api_tokens_created_idx" ON "api_tokens" USING btree ("created_at");--> statement-breakpoint
-- One live token per name: a name says which script a token belongs to in the audit trail.
CREATE UNIQUE INDEX "api_tokens_live_name_idx" ON "api_tokens" USING btree ("name") WHERE "revoked_at" IS NULL;
--> statement-breakpoint
-- The W3C traceparent of the request that created a run: the worker continues that trace, so a
-- console action, its run, each attempt and each outbound call form one trace.
ALTER TABLE "runs" ADD COLUMN "trace_parent" text;
