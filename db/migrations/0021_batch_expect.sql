-- A condition a whole statement depends on (issue 18, the worker's batch settle in runner.ts): the
-- statement fails, and the transaction it was sent in with the events and job completions behind
-- it rolls back, unless `p_ok` holds. Raised as assert_failure (P0004) with the message given.
CREATE FUNCTION "junction_expect"("p_ok" boolean, "p_message" text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
  IF p_ok IS NOT TRUE THEN
    RAISE EXCEPTION USING ERRCODE = 'P0004', MESSAGE = p_message;
  END IF;
  RETURN true;
END $$;
