-- Access (PROTOCOL.md 1.1): a room's read-only id, a hash of its owner token (the token itself is
-- shown once and never stored), and when anyone last joined it (expiry counts from the later of
-- that and its last edit).
ALTER TABLE rooms ADD COLUMN view_id UUID;
UPDATE rooms SET view_id = gen_random_uuid();
ALTER TABLE rooms ALTER COLUMN view_id SET NOT NULL;
CREATE UNIQUE INDEX rooms_view_id ON rooms (view_id);

-- Rooms created before this have no owner token: only an administrator (token mode) or expiry
-- deletes them.
ALTER TABLE rooms ADD COLUMN owner_token_hash TEXT;

ALTER TABLE rooms ADD COLUMN joined_at BIGINT NOT NULL DEFAULT 0;
UPDATE rooms SET joined_at = updated_at;
