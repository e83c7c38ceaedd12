-- The inventory says how many of an integration's webhook events are failed now (its open
-- events_failed incident counts every refusal since it opened, so after dismissals or replays it
-- read "4 failed webhook events" beside a Failed tab holding one). Counted from this partial index:
-- failed events are few, whatever the table holds.
CREATE INDEX "webhook_events_failed_idx" ON "webhook_events" USING btree ("integration") WHERE status = 'failed';
