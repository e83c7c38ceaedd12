-- The latest recovery alerting has handled per (integration, kind), whether or not it closed an
-- incident. A failure older than it never opens an incident, however late its event is handled:
-- a recovery handled before its failure (another worker, a retried event job, a worker down for
-- longer than the recovery's one later look) closed nothing, and the incident that failure opened
-- stayed open for good. Existing closed incidents seed it with their recovery times.
CREATE TABLE "incident_recoveries" (
  "integration" text NOT NULL,
  "kind" text NOT NULL,
  "recovered_at" timestamp with time zone NOT NULL,
  CONSTRAINT "incident_recoveries_pkey" PRIMARY KEY ("integration", "kind")
);--> statement-breakpoint
INSERT INTO "incident_recoveries" ("integration", "kind", "recovered_at")
  SELECT "integration", "kind", max("closed_at") FROM "incidents" WHERE "closed_at" IS NOT NULL GROUP BY "integration", "kind";
