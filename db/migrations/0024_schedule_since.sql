-- When the schedule as configured now took effect: a scheduled tick at or before it starts no run.
-- pg-boss sends a cron tick up to a minute after it fell, so without it a tick from before a
-- schedule change, or from a pause, started a run after the change or the resume. Set by the
-- config service when the schedule or time zone changes and by resume; existing integrations
-- start from the upgrade.
ALTER TABLE "integrations" ADD COLUMN "schedule_since" timestamp with time zone DEFAULT now() NOT NULL;
