-- Gateway usage summed per UTC day, persona, tier, tool and workflow, kept current by a
-- statement trigger as usage rows arrive (one upsert per batch, in key order, so
-- gateways flushing at the same time wait on each other's rows instead of deadlocking),
-- so `proximity usage` and the dashboard's `/usage` read a few thousand sums instead of
-- a million rows. A missing persona or tier (a request without a key) is stored as ''.
CREATE TABLE usage_daily (
    day            TEXT NOT NULL,
    persona        TEXT NOT NULL,
    tier           TEXT NOT NULL,
    tool_id        TEXT NOT NULL,
    workflow       TEXT NOT NULL,
    requests       BIGINT NOT NULL,
    errors         BIGINT NOT NULL,
    rate_limited   BIGINT NOT NULL,
    input_tokens   BIGINT NOT NULL,
    output_tokens  BIGINT NOT NULL,
    cost_usd       DOUBLE PRECISION NOT NULL,
    latency_ms_sum BIGINT NOT NULL,
    PRIMARY KEY (day, persona, tier, tool_id, workflow)
);

INSERT INTO usage_daily
SELECT substr(created_at, 1, 10), COALESCE(persona, ''), COALESCE(tier, ''), tool_id, workflow,
       COUNT(*), SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END),
       SUM(CASE WHEN status = 429 THEN 1 ELSE 0 END), SUM(input_tokens), SUM(output_tokens),
       SUM(cost_usd), SUM(latency_ms)
FROM gateway_usage
GROUP BY 1, 2, 3, 4, 5;

CREATE FUNCTION usage_daily_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO usage_daily
    SELECT substr(created_at, 1, 10), COALESCE(persona, ''), COALESCE(tier, ''), tool_id,
           workflow, COUNT(*), SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END),
           SUM(CASE WHEN status = 429 THEN 1 ELSE 0 END), SUM(input_tokens),
           SUM(output_tokens), SUM(cost_usd), SUM(latency_ms)
    FROM new_rows
    GROUP BY 1, 2, 3, 4, 5
    ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (day, persona, tier, tool_id, workflow) DO UPDATE SET
        requests = usage_daily.requests + excluded.requests,
        errors = usage_daily.errors + excluded.errors,
        rate_limited = usage_daily.rate_limited + excluded.rate_limited,
        input_tokens = usage_daily.input_tokens + excluded.input_tokens,
        output_tokens = usage_daily.output_tokens + excluded.output_tokens,
        cost_usd = usage_daily.cost_usd + excluded.cost_usd,
        latency_ms_sum = usage_daily.latency_ms_sum + excluded.latency_ms_sum;
    RETURN NULL;
END
$$;

CREATE TRIGGER usage_daily_add AFTER INSERT ON gateway_usage
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION usage_daily_add();

CREATE FUNCTION usage_daily_remove() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE usage_daily u SET
        requests = u.requests - d.requests,
        errors = u.errors - d.errors,
        rate_limited = u.rate_limited - d.rate_limited,
        input_tokens = u.input_tokens - d.input_tokens,
        output_tokens = u.output_tokens - d.output_tokens,
        cost_usd = u.cost_usd - d.cost_usd,
        latency_ms_sum = u.latency_ms_sum - d.latency_ms_sum
    FROM (
        SELECT substr(created_at, 1, 10) AS day, COALESCE(persona, '') AS persona,
               COALESCE(tier, '') AS tier, tool_id, workflow, COUNT(*) AS requests,
               SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END) AS errors,
               SUM(CASE WHEN status = 429 THEN 1 ELSE 0 END) AS rate_limited,
               SUM(input_tokens) AS input_tokens, SUM(output_tokens) AS output_tokens,
               SUM(cost_usd) AS cost_usd, SUM(latency_ms) AS latency_ms_sum
        FROM old_rows GROUP BY 1, 2, 3, 4, 5
    ) d
    WHERE u.day = d.day AND u.persona = d.persona AND u.tier = d.tier
      AND u.tool_id = d.tool_id AND u.workflow = d.workflow;
    RETURN NULL;
END
$$;

CREATE TRIGGER usage_daily_remove AFTER DELETE ON gateway_usage
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION usage_daily_remove();
