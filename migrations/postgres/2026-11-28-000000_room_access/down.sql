ALTER TABLE rooms DROP COLUMN joined_at;
ALTER TABLE rooms DROP COLUMN owner_token_hash;
ALTER TABLE rooms DROP COLUMN view_id;
