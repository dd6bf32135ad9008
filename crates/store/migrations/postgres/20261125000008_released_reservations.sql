-- A reservation the sweeper released (its gateway looked dead: no settlement within the
-- deadline) is kept, marked, so that a settlement arriving late still counts its spend;
-- released reservations are forgotten a week later.
ALTER TABLE budget_reservations ADD COLUMN released BOOLEAN NOT NULL DEFAULT FALSE;
