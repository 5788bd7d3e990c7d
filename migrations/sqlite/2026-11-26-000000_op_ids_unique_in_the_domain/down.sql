CREATE UNIQUE INDEX operations_room_op_id ON operations (room_id, op_id);
