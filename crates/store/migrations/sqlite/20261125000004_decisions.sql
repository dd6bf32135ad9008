-- From evidence to decisions: field notes, recorded plans, decisions and the evidence
-- each decision rests on.

-- Field notes: first-hand encounters with a tool in real work.
CREATE TABLE field_notes (
    id            INTEGER PRIMARY KEY,
    created_at    TEXT NOT NULL,
    -- The day of the encounter (YYYY-MM-DD).
    date          TEXT NOT NULL,
    author        TEXT NOT NULL,
    -- `leader` or `practitioner`.
    role          TEXT NOT NULL,
    persona       TEXT NOT NULL,
    tool          TEXT NOT NULL,
    workflow      TEXT,
    task          TEXT NOT NULL,
    what_happened TEXT NOT NULL,
    -- `worked`, `failed_visibly`, `failed_silently`, `worked_with_fixes`.
    outcome       TEXT NOT NULL,
    -- `hallucination`, `context_decay`, `structure`, `refusal`, `other`.
    failure_mode  TEXT,
    minutes_saved DOUBLE PRECISION NOT NULL,
    minutes_lost  DOUBLE PRECISION NOT NULL,
    prompt        TEXT,
    output        TEXT,
    -- Set by `proximity note promote`: the case id and the suite file it went to.
    promoted_case  TEXT,
    promoted_suite TEXT
);
CREATE INDEX field_notes_persona_tool ON field_notes (persona, tool);

-- Plans recorded with `proximity plan --record`, citable as decision evidence.
CREATE TABLE plans (
    id         INTEGER PRIMARY KEY,
    created_at TEXT NOT NULL,
    -- The runs whose results the plan used (JSON list of run ids).
    runs       TEXT NOT NULL,
    -- The plan as `proximity plan --format json` prints it.
    body       TEXT NOT NULL
);

-- Decisions: a recorded call, the scope it covers and when it must be reviewed.
CREATE TABLE decisions (
    id           INTEGER PRIMARY KEY,
    created_at   TEXT NOT NULL,
    author       TEXT,
    title        TEXT NOT NULL,
    statement    TEXT NOT NULL,
    -- JSON lists of ids.
    personas     TEXT NOT NULL,
    tools        TEXT NOT NULL,
    tiers        TEXT NOT NULL,
    horizon_days INTEGER NOT NULL
);

-- The evidence a decision rests on: `run`, `baseline`, `note` or `plan`, by reference.
CREATE TABLE decision_evidence (
    decision_id INTEGER NOT NULL REFERENCES decisions (id),
    kind        TEXT NOT NULL,
    reference   TEXT NOT NULL,
    PRIMARY KEY (decision_id, kind, reference)
);
