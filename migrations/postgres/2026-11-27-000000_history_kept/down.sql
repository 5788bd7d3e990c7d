ALTER TABLE operations DROP COLUMN author_name;
DROP TABLE checkpoints;
