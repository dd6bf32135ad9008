-- Runs: one evaluation of tools x cases x samples.
CREATE TABLE runs (
    id          TEXT PRIMARY KEY,
    program     TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    status      TEXT NOT NULL,
    config      TEXT NOT NULL,
    planned     BIGINT NOT NULL
);

-- Results: one sample's output and everything judged about it. The primary key makes a
-- result exist at most once per run, whatever happens to the process writing it.
CREATE TABLE results (
    run_id           TEXT NOT NULL REFERENCES runs (id),
    case_id          TEXT NOT NULL,
    tool_id          TEXT NOT NULL,
    sample           BIGINT NOT NULL,
    persona          TEXT NOT NULL,
    workflow         TEXT NOT NULL,
    kind             TEXT NOT NULL,
    source           TEXT NOT NULL,
    case_weight      DOUBLE PRECISION NOT NULL,
    tool_fingerprint TEXT NOT NULL,
    model_version    TEXT,
    output           TEXT NOT NULL,
    error_class      TEXT,
    error_message    TEXT,
    input_tokens     BIGINT NOT NULL,
    output_tokens    BIGINT NOT NULL,
    cost_usd         DOUBLE PRECISION NOT NULL,
    latency_ms       BIGINT NOT NULL,
    attempts         BIGINT NOT NULL,
    cached           BOOLEAN NOT NULL,
    verdict          TEXT NOT NULL,
    reason           TEXT NOT NULL,
    assertions       TEXT NOT NULL,
    mean_logprob     DOUBLE PRECISION,
    created_at       TEXT NOT NULL,
    PRIMARY KEY (run_id, case_id, tool_id, sample)
);

-- Response cache: a provider's answer, keyed by tool configuration and request.
CREATE TABLE response_cache (
    key              TEXT PRIMARY KEY,
    tool_fingerprint TEXT NOT NULL,
    response         TEXT NOT NULL,
    created_at       TEXT NOT NULL
);
