//! Diesel table definitions. PostgreSQL stores ids as native UUIDs and SQLite as text, so each
//! backend has its own schema (and its own migrations folder).

/// Tables as created by `migrations/postgres`.
pub mod pg {
    diesel::table! {
        rooms (id) {
            id -> Uuid,
            language -> Text,
            code -> Text,
            code_revision -> BigInt,
            created_at -> BigInt,
            updated_at -> BigInt,
            view_id -> Uuid,
            owner_token_hash -> Nullable<Text>,
            joined_at -> BigInt,
        }
    }

    diesel::table! {
        operations (room_id, revision) {
            room_id -> Uuid,
            revision -> BigInt,
            operation -> Text,
            op_id -> Nullable<Text>,
            user_id -> Uuid,
            created_at -> BigInt,
            author_name -> Text,
        }
    }

    diesel::table! {
        checkpoints (room_id, revision) {
            room_id -> Uuid,
            revision -> BigInt,
            code -> Text,
        }
    }

    diesel::allow_tables_to_appear_in_same_query!(rooms, operations, checkpoints);
}

/// Tables as created by `migrations/sqlite`.
pub mod sqlite {
    diesel::table! {
        rooms (id) {
            id -> Text,
            language -> Text,
            code -> Text,
            code_revision -> BigInt,
            created_at -> BigInt,
            updated_at -> BigInt,
            view_id -> Text,
            owner_token_hash -> Nullable<Text>,
            joined_at -> BigInt,
        }
    }

    diesel::table! {
        operations (room_id, revision) {
            room_id -> Text,
            revision -> BigInt,
            operation -> Text,
            op_id -> Nullable<Text>,
            user_id -> Text,
            created_at -> BigInt,
            author_name -> Text,
        }
    }

    diesel::table! {
        checkpoints (room_id, revision) {
            room_id -> Text,
            revision -> BigInt,
            code -> Text,
        }
    }

    diesel::allow_tables_to_appear_in_same_query!(rooms, operations, checkpoints);
}
