-- The snapshot store: runs, their snapshots, the recorded entity schemas, and per-snapshot
-- entity statistics. Entity data lives in one versioned table per entity, created on demand
-- (see src/store/entity.rs); never edit this file once shipped: add a new migration.

CREATE TABLE runs (
    id          INTEGER PRIMARY KEY,
    taken_at    TEXT NOT NULL,          -- ISO-8601 UTC: the time the data is "as of"
    started_at  TEXT NOT NULL,
    finished_at TEXT NOT NULL
);

CREATE TABLE snapshots (
    id       INTEGER PRIMARY KEY,
    run_id   INTEGER NOT NULL REFERENCES runs(id),
    source   TEXT NOT NULL,
    status   TEXT NOT NULL CHECK (status IN ('complete', 'failed')),
    error    TEXT,
    UNIQUE (run_id, source)
);
CREATE INDEX snapshots_by_source ON snapshots(source, status, run_id);

CREATE TABLE entities (
    id          INTEGER PRIMARY KEY,
    source      TEXT NOT NULL,
    name        TEXT NOT NULL,
    table_name  TEXT NOT NULL UNIQUE,
    key_columns TEXT NOT NULL,          -- JSON array of column names; [] = keyed by content
    UNIQUE (source, name)
);

CREATE TABLE entity_columns (
    entity_id   INTEGER NOT NULL REFERENCES entities(id),
    position    INTEGER NOT NULL,       -- order of first appearance; never reused
    name        TEXT NOT NULL,
    type        TEXT NOT NULL CHECK (type IN ('text', 'integer', 'real', 'bool', 'timestamp')),
    since_snapshot INTEGER NOT NULL REFERENCES snapshots(id),
    PRIMARY KEY (entity_id, position),
    UNIQUE (entity_id, name)
);

-- Which entities a snapshot collected, with what it found. Reading an entity "as of" a run
-- uses the latest complete snapshot that has a row here for it.
CREATE TABLE snapshot_entities (
    snapshot_id INTEGER NOT NULL REFERENCES snapshots(id),
    entity_id   INTEGER NOT NULL REFERENCES entities(id),
    rows        INTEGER NOT NULL,
    added       INTEGER NOT NULL,
    changed     INTEGER NOT NULL,
    removed     INTEGER NOT NULL,
    PRIMARY KEY (snapshot_id, entity_id)
);
