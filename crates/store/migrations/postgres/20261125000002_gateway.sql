-- The gateway: virtual keys, the usage of every request, and budgets.

-- Virtual keys: only a SHA-256 hash of each key is kept; the key is shown once.
CREATE TABLE virtual_keys (
    id          TEXT PRIMARY KEY,
    key_hash    TEXT NOT NULL UNIQUE,
    persona     TEXT NOT NULL,
    name        TEXT,
    created_at  TEXT NOT NULL,
    expires_at  TEXT,
    revoked_at  TEXT,
    budget_usd  DOUBLE PRECISION
);

-- One row per gateway request, written before the response is acknowledged.
CREATE TABLE gateway_usage (
    id               TEXT PRIMARY KEY,
    created_at       TEXT NOT NULL,
    key_id           TEXT,
    persona          TEXT,
    tier             TEXT,
    tool_id          TEXT NOT NULL,
    served_by        TEXT,
    tool_fingerprint TEXT,
    workflow         TEXT NOT NULL,
    input_tokens     BIGINT NOT NULL,
    output_tokens    BIGINT NOT NULL,
    cost_usd         DOUBLE PRECISION NOT NULL,
    latency_ms       BIGINT NOT NULL,
    ttft_ms          BIGINT,
    status           BIGINT NOT NULL,
    error_class      TEXT,
    stream           BOOLEAN NOT NULL,
    attempts         BIGINT NOT NULL
);
CREATE INDEX gateway_usage_created_at ON gateway_usage (created_at);

-- Spend per budget scope (`persona:<id>`, `key:<id>`) and month (`YYYY-MM`): what was
-- settled and what is reserved by requests in flight. A reservation succeeds only when
-- spent + reserved + its amount stays within the limit (one guarded UPDATE).
CREATE TABLE budget_ledger (
    scope        TEXT NOT NULL,
    month        TEXT NOT NULL,
    spent_usd    DOUBLE PRECISION NOT NULL DEFAULT 0,
    reserved_usd DOUBLE PRECISION NOT NULL DEFAULT 0,
    PRIMARY KEY (scope, month)
);

-- Reservations of requests in flight, so those of a crashed gateway can be released.
CREATE TABLE budget_reservations (
    id         TEXT PRIMARY KEY,
    month      TEXT NOT NULL,
    scopes     TEXT NOT NULL,
    amount_usd DOUBLE PRECISION NOT NULL,
    created_at TEXT NOT NULL
);
