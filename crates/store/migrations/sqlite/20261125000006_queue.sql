-- The eval work queue: `proximity eval --queue` writes one row per (case, tool, sample)
-- of a run; `proximity worker` processes claim rows under a lease (owner and expiry),
-- extend it while they work, and mark a row done once its result is written. A worker
-- that dies stops extending its leases; once they expire, other workers take the rows.
CREATE TABLE work_items (
    run_id      TEXT NOT NULL REFERENCES runs (id),
    case_id     TEXT NOT NULL,
    tool_id     TEXT NOT NULL,
    sample      BIGINT NOT NULL,
    -- The response-cache key the enqueuing program computed: a worker whose program
    -- computes another (a changed case or tool) refuses the item.
    request_key TEXT NOT NULL,
    -- `queued`, `leased` or `done`.
    state       TEXT NOT NULL,
    lease_owner TEXT,
    -- Unix seconds by the database's clock (never a worker's: worker clocks may differ).
    lease_until DOUBLE PRECISION,
    claims      BIGINT NOT NULL DEFAULT 0,
    last_error  TEXT,
    PRIMARY KEY (run_id, case_id, tool_id, sample)
);
CREATE INDEX work_items_claim ON work_items (state, lease_until);
