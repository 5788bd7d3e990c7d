DROP TABLE operations;
DROP TABLE rooms;
