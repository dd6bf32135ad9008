-- Live checks: the verdicts of the checks a workflow declares (`live:`), applied by the
-- gateway to a sample of its real answers, counted per UTC day, persona, tool and
-- workflow, with the checks skipped because the gateway's check queue was full. Only
-- counts: the answers themselves are never kept here.
CREATE TABLE live_checks (
    day        TEXT NOT NULL,
    persona    TEXT NOT NULL,
    tool_id    TEXT NOT NULL,
    workflow   TEXT NOT NULL,
    pass       BIGINT NOT NULL,
    structural BIGINT NOT NULL,
    silent     BIGINT NOT NULL,
    loud       BIGINT NOT NULL,
    skipped    BIGINT NOT NULL,
    PRIMARY KEY (day, persona, tool_id, workflow)
);
