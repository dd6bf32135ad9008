-- Gateway usage summed per UTC day, persona, tier, tool and workflow, kept current by a
-- trigger as each usage row arrives, so `proximity usage` and the dashboard's `/usage`
-- read a few thousand sums instead of a million rows (measured: bench/results/dashboard.md).
-- A missing persona or tier (a request without a key) is stored as ''.
CREATE TABLE usage_daily (
    day            TEXT NOT NULL,
    persona        TEXT NOT NULL,
    tier           TEXT NOT NULL,
    tool_id        TEXT NOT NULL,
    workflow       TEXT NOT NULL,
    requests       BIGINT NOT NULL,
    -- Status 400 and above, and of those 429 (rate limited).
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

CREATE TRIGGER usage_daily_add AFTER INSERT ON gateway_usage
BEGIN
    INSERT INTO usage_daily VALUES (
        substr(NEW.created_at, 1, 10), COALESCE(NEW.persona, ''), COALESCE(NEW.tier, ''),
        NEW.tool_id, NEW.workflow, 1, CASE WHEN NEW.status >= 400 THEN 1 ELSE 0 END,
        CASE WHEN NEW.status = 429 THEN 1 ELSE 0 END, NEW.input_tokens, NEW.output_tokens,
        NEW.cost_usd, NEW.latency_ms)
    ON CONFLICT (day, persona, tier, tool_id, workflow) DO UPDATE SET
        requests = requests + 1,
        errors = errors + excluded.errors,
        rate_limited = rate_limited + excluded.rate_limited,
        input_tokens = input_tokens + excluded.input_tokens,
        output_tokens = output_tokens + excluded.output_tokens,
        cost_usd = cost_usd + excluded.cost_usd,
        latency_ms_sum = latency_ms_sum + excluded.latency_ms_sum;
END;

CREATE TRIGGER usage_daily_remove AFTER DELETE ON gateway_usage
BEGIN
    UPDATE usage_daily SET
        requests = requests - 1,
        errors = errors - CASE WHEN OLD.status >= 400 THEN 1 ELSE 0 END,
        rate_limited = rate_limited - CASE WHEN OLD.status = 429 THEN 1 ELSE 0 END,
        input_tokens = input_tokens - OLD.input_tokens,
        output_tokens = output_tokens - OLD.output_tokens,
        cost_usd = cost_usd - OLD.cost_usd,
        latency_ms_sum = latency_ms_sum - OLD.latency_ms
    WHERE day = substr(OLD.created_at, 1, 10) AND persona = COALESCE(OLD.persona, '')
      AND tier = COALESCE(OLD.tier, '') AND tool_id = OLD.tool_id AND workflow = OLD.workflow;
END;
