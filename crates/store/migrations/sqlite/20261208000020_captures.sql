-- Captured requests and answers (`capture: true` on a tier), redacted before they are
-- written; `proximity capture promote` turns one into a case.
CREATE TABLE captures (
    id             INTEGER PRIMARY KEY,
    created_at     TEXT NOT NULL,
    -- The gateway's request id (the usage row's id).
    request_id     TEXT NOT NULL,
    persona        TEXT NOT NULL,
    tier           TEXT NOT NULL,
    -- The tool that served the answer.
    tool           TEXT NOT NULL,
    -- `x-proximity-workflow`, or `unknown`.
    workflow       TEXT NOT NULL,
    -- JSON list of {role, content}, redacted.
    messages       TEXT NOT NULL,
    -- The answer's text, redacted.
    answer         TEXT NOT NULL,
    -- Set by `proximity capture promote`: the case id and the suite file it went to.
    promoted_case  TEXT,
    promoted_suite TEXT
);
CREATE INDEX captures_persona_workflow ON captures (persona, workflow);
