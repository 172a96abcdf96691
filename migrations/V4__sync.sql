-- Sync management: the store's identity (a plan names the store it was made from), the audit
-- log, suppressions, and what apply did with each planned action (for verification).

CREATE TABLE store_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Append-only: every collect, evaluation, plan, apply attempt and suppression change. Each
-- entry's `hash` is SHA-256 over its canonical JSON (every column but `hash`, `prev_hash`
-- included), so editing, removing or reordering an entry breaks the chain (`log --verify`).
CREATE TABLE audit_log (
    seq       INTEGER PRIMARY KEY,
    at        TEXT NOT NULL,
    actor     TEXT NOT NULL,
    command   TEXT NOT NULL,
    plan_id   TEXT,
    action_id INTEGER,
    target    TEXT,
    request   TEXT,                 -- method and path, or SQL verb and table; never a secret
    outcome   TEXT,
    error     TEXT,
    rule      TEXT,
    key       TEXT,                 -- JSON array
    subject   TEXT,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: entries are never changed'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: entries are never removed'); END;

CREATE TABLE suppressions (
    id         INTEGER PRIMARY KEY,
    rule       TEXT NOT NULL,
    key        TEXT NOT NULL,       -- JSON array of the violation's key values, as text
    reason     TEXT NOT NULL,
    until      TEXT,                -- ISO-8601 UTC; NULL: until removed
    created_at TEXT NOT NULL,
    actor      TEXT NOT NULL,
    removed_at TEXT
);
CREATE INDEX suppressions_by_rule ON suppressions(rule, key);

-- One row per violation an applied action was meant to resolve: its latest outcome.
CREATE TABLE applied_actions (
    plan_id    TEXT NOT NULL,
    action_id  INTEGER NOT NULL,
    rule       TEXT NOT NULL,
    key        TEXT NOT NULL,       -- JSON array
    plan_run   INTEGER NOT NULL,
    verb       TEXT NOT NULL,
    target     TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    applied_at TEXT NOT NULL,
    PRIMARY KEY (plan_id, action_id, rule, key)
);
