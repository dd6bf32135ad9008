-- The functions an answer called (JSON: [{id, name, arguments}]); NULL when none.
ALTER TABLE results ADD COLUMN tool_calls TEXT;
