-- Alerts: the state of each alert (firing or not, since which run, when it was last sent, in
-- run time), and the notifications still due (a receiver that failed is tried again at the
-- next `alert`).

CREATE TABLE alert_state (
    alert         TEXT PRIMARY KEY,
    firing        INTEGER NOT NULL,
    since_run     INTEGER,            -- the run it started firing at
    starts_at     TEXT,               -- that run's time
    last_sent_at  TEXT,               -- run time of the last firing notification
    last_run      INTEGER NOT NULL,   -- the run it was last evaluated at
    fingerprint   TEXT NOT NULL
);

CREATE TABLE alert_outbox (
    id         INTEGER PRIMARY KEY,
    alert      TEXT NOT NULL,
    receiver   TEXT NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('firing', 'resolved')),
    run_id     INTEGER NOT NULL,
    payload    TEXT NOT NULL,         -- the notification as the generic webhook sends it
    attempts   INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    sent_at    TEXT                   -- NULL while due
);
