-- A room and its latest snapshot: `code` is the text at revision `code_revision`. The room's
-- latest revision is its last operation's (or `code_revision` when it has none); the current text
-- is the snapshot with the operations after `code_revision` applied.
CREATE TABLE rooms (
    id            TEXT PRIMARY KEY NOT NULL,
    language      TEXT NOT NULL,
    code          TEXT NOT NULL,
    code_revision BIGINT NOT NULL,
    created_at    BIGINT NOT NULL, -- milliseconds since the Unix epoch
    updated_at    BIGINT NOT NULL
);

-- The operation log: one row per committed operation, in the ot.js JSON form. The primary key is
-- the sequencer: two writers can never both commit a room's revision N.
CREATE TABLE operations (
    room_id    TEXT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    revision   BIGINT NOT NULL,
    operation  TEXT NOT NULL,
    op_id      TEXT,
    user_id    TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (room_id, revision)
);

-- A client's idempotency key is unique within a room.
CREATE UNIQUE INDEX operations_room_op_id ON operations (room_id, op_id);
