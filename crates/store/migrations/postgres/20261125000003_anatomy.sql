-- Failure anatomy: whether a result's output matched the hedge lexicon (a confidence
-- signal beside the verdict). NULL: not recorded (a provider error, or a result stored
-- before this column existed).
ALTER TABLE results ADD COLUMN hedged BOOLEAN;
