-- The causes of failure an open run_failed incident has alerted (lib/platform/alerts/incidents.ts):
-- a failure with another cause (a 403 while the incident opened on a 503) is news, sent once as an
-- update of the incident; the same cause again is only counted. Empty for incidents from before:
-- their next failure records its cause without alerting.
ALTER TABLE "incidents" ADD COLUMN "alerted_causes" text[] NOT NULL DEFAULT '{}';
