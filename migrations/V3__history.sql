-- Rule history. `evaluations` says which rules were evaluated at which runs; `findings` holds
-- violation episodes: a key a rule found at a streak of consecutive evaluated runs, from
-- `first_run` to `last_run`, resolved at `resolved_run` (the next evaluated run, where it was
-- absent; NULL while it is still open). A violation that goes away and comes back is a second
-- episode. History belongs to one version of a rule: `fingerprint` is a hash of the rule's text,
-- and a rule whose text changed starts its history again.

CREATE TABLE evaluations (
    rule         TEXT NOT NULL,
    run_id       INTEGER NOT NULL REFERENCES runs(id),
    fingerprint  TEXT NOT NULL,
    checked      INTEGER NOT NULL,          -- rows (or groups) the rule ranged over
    evaluated_at TEXT NOT NULL,
    PRIMARY KEY (rule, run_id)
);

CREATE TABLE findings (
    id           INTEGER PRIMARY KEY,
    rule         TEXT NOT NULL,
    key          TEXT NOT NULL,             -- JSON array: the violation's key values
    subject      TEXT,                      -- JSON value, as last seen
    fields       TEXT NOT NULL,             -- JSON object of the rule's `show`, as last seen
    first_run    INTEGER NOT NULL REFERENCES runs(id),
    last_run     INTEGER NOT NULL REFERENCES runs(id),
    resolved_run INTEGER REFERENCES runs(id),
    CHECK (first_run <= last_run AND (resolved_run IS NULL OR resolved_run > last_run))
);
-- "Which episodes contain run R": last_run >= R, then first_run <= R.
CREATE INDEX findings_by_run ON findings(rule, last_run, first_run);
CREATE INDEX findings_by_key ON findings(rule, key, first_run);
