-- History is kept (PROTOCOL.md 1.1, "History"): every operation stays in the log, with its
-- author's name then, and every snapshot stays as a checkpoint, so the text at any revision is
-- one checkpoint plus at most `rooms.snapshot_every` operations. `rooms.code` stays the latest
-- snapshot, which loading a room starts from.
CREATE TABLE checkpoints (
    room_id  TEXT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    revision BIGINT NOT NULL,
    code     TEXT NOT NULL,
    PRIMARY KEY (room_id, revision)
);

-- Earlier versions kept only the latest snapshot (and compacted the log before it): that is the
-- oldest text such a room still has.
INSERT INTO checkpoints (room_id, revision, code) SELECT id, code_revision, code FROM rooms;

ALTER TABLE operations ADD COLUMN author_name TEXT NOT NULL DEFAULT '';
