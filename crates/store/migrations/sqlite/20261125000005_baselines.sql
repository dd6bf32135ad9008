-- Baselines and drift: a baseline pins a finished run's results, per tool fingerprint, under
-- a unique name; it is never updated or deleted (the triggers below refuse it). Drift
-- findings are what `proximity drift` found, read by decision review.

CREATE TABLE baselines (
    name        TEXT PRIMARY KEY,
    run_id      TEXT NOT NULL REFERENCES runs (id),
    accepted_at TEXT NOT NULL,
    accepted_by TEXT NOT NULL,
    note        TEXT
);

-- One row per tool version the baseline covers. `config` is the tool's configuration as
-- fingerprinted (JSON), kept when it could be recomputed from the program at acceptance
-- (its fingerprint matched the results'); NULL when the program had changed since the run.
CREATE TABLE baseline_tools (
    baseline           TEXT NOT NULL REFERENCES baselines (name),
    tool_id            TEXT NOT NULL,
    tool_fingerprint   TEXT NOT NULL,
    config_fingerprint TEXT,
    model_version      TEXT,
    config             TEXT,
    results            BIGINT NOT NULL,
    passed             BIGINT NOT NULL,
    PRIMARY KEY (baseline, tool_id, tool_fingerprint)
);

CREATE TRIGGER baselines_no_update BEFORE UPDATE ON baselines
BEGIN SELECT RAISE(ABORT, 'baselines are immutable'); END;
CREATE TRIGGER baselines_no_delete BEFORE DELETE ON baselines
BEGIN SELECT RAISE(ABORT, 'baselines are immutable'); END;
CREATE TRIGGER baseline_tools_no_update BEFORE UPDATE ON baseline_tools
BEGIN SELECT RAISE(ABORT, 'baselines are immutable'); END;
CREATE TRIGGER baseline_tools_no_delete BEFORE DELETE ON baseline_tools
BEGIN SELECT RAISE(ABORT, 'baselines are immutable'); END;

-- What `proximity drift` found on a tool: `quality`, `vendor_update` or `config_change`.
CREATE TABLE drift_findings (
    id       INTEGER PRIMARY KEY,
    found_at TEXT NOT NULL,
    tool     TEXT NOT NULL,
    baseline TEXT NOT NULL REFERENCES baselines (name),
    run_id   TEXT,
    kind     TEXT NOT NULL,
    summary  TEXT NOT NULL
);
CREATE INDEX drift_findings_tool ON drift_findings (tool, found_at);
