-- A re-sent operation is recognised by the room (PROTOCOL.md: its `opId` is found among the
-- operations after its base revision, in memory or read back from this log), so the database
-- need not index `op_id`: the index doubled the pages each group commit writes (one more B-tree
-- leaf per room) and could only ever refuse a client that reused a key for a new operation.
DROP INDEX operations_room_op_id;
