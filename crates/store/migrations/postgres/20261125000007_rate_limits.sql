-- Rate limits shared by every gateway on this database: one token bucket per
-- (tier, persona, requests|tokens). `level` is what the bucket held at `updated_at`
-- (Unix seconds, the clock of the gateway that last touched it; it never moves back);
-- a take refills it by the time elapsed since, capped at the bucket's capacity, and
-- takes only when enough is there, in one guarded statement. A token bucket may go
-- below zero (a debt repaid by time).
--
-- UNLOGGED: the buckets are written on every request and are worth nothing after a
-- crash, so they skip the write-ahead log (no fsync per take). A server crash empties
-- the table, and every bucket starts full again: at most one burst of each limit.
CREATE UNLOGGED TABLE rate_buckets (
    scope      TEXT PRIMARY KEY,
    level      DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
);
