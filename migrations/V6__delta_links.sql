-- Where a source's incremental (delta) collection of an entity resumes: the service's delta
-- link, the request it answers (a changed `$select` reads everything again), and the snapshot
-- whose open rows it is the state of (a link is used only while that snapshot's rows are still
-- the entity's open rows). Written in the snapshot's own savepoint, so a collection that fails
-- keeps the link it started from. Never shown in output or logs: the link is a credential of
-- sorts, it reads the tenant's changes.
CREATE TABLE delta_links (
    source       TEXT NOT NULL,
    entity       TEXT NOT NULL,
    request      TEXT NOT NULL,
    link         TEXT NOT NULL,
    snapshot_id  INTEGER NOT NULL,
    PRIMARY KEY (source, entity)
);
