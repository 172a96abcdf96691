-- The columns each snapshot of an entity collected, as a JSON array of names, so that rules
-- are checked against what a source has now and not against every column it ever had.
-- NULL for snapshots recorded before this migration: they had all the recorded columns.
ALTER TABLE snapshot_entities ADD COLUMN columns TEXT;
