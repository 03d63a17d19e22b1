-- The event log, the same shape as on SQLite (see src/store/postgres.rs).
CREATE TABLE IF NOT EXISTS events (
    position       BIGINT  PRIMARY KEY,
    stream         TEXT    NOT NULL,
    version        BIGINT  NOT NULL,
    event_id       TEXT    NOT NULL UNIQUE,
    event_type     TEXT    NOT NULL,
    schema_version INTEGER NOT NULL,
    payload        TEXT    NOT NULL,
    metadata       TEXT    NOT NULL,
    recorded_at    BIGINT  NOT NULL,
    prev_hash      TEXT    NOT NULL,
    hash           TEXT    NOT NULL,
    UNIQUE (stream, version)
)
