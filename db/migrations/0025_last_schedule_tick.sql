-- The latest scheduled tick that started a run. pg-boss delivers a job again when the worker that
-- took it stops before completing it (a crash, a lost connection), and may send a second job for a
-- tick already sent: without it each delivery started its own run of the same tick. A tick at or
-- before it starts no run; it is set in the transaction that inserts the tick's run.
ALTER TABLE "integrations" ADD COLUMN "last_schedule_tick" timestamp with time zone;
