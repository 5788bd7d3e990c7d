-- Access (PROTOCOL.md 1.1): a room's read-only id, a hash of its owner token (the token itself is
-- shown once and never stored), and when anyone last joined it (expiry counts from the later of
-- that and its last edit).
ALTER TABLE rooms ADD COLUMN view_id TEXT NOT NULL DEFAULT '';
-- A random version 4 UUID for each existing room, in the canonical lowercase form.
UPDATE rooms SET view_id = lower(
    hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2) || '-'
    || substr('89ab', 1 + abs(random()) % 4, 1) || substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6))
);
CREATE UNIQUE INDEX rooms_view_id ON rooms (view_id);

-- Rooms created before this have no owner token: only an administrator (token mode) or expiry
-- deletes them.
ALTER TABLE rooms ADD COLUMN owner_token_hash TEXT;

ALTER TABLE rooms ADD COLUMN joined_at BIGINT NOT NULL DEFAULT 0;
UPDATE rooms SET joined_at = updated_at;
