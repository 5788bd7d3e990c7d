//! Checks of client-given fields that no domain rule covers, shared by every path that takes them.

/// The longest `opId` accepted, in characters: a key is a client's id and a counter, and every
/// stored operation keeps its key.
pub const MAX_OP_ID_CHARS: usize = 128;

/// Checks an operation's `opId`: at most [`MAX_OP_ID_CHARS`] characters, without U+0000 (which
/// the protocol refuses in all text, see [`pairpad_domain::NulInText`]). The error is the
/// message for the client's `invalid_field` error.
pub fn check_op_id(op_id: &str) -> Result<(), &'static str> {
    if pairpad_domain::check_text(op_id).is_err() {
        return Err("an opId must not contain the character U+0000 (NUL)");
    }
    if op_id.chars().count() > MAX_OP_ID_CHARS {
        return Err("an opId is at most 128 characters");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn op_ids_are_short_and_without_nul() {
        assert_eq!(check_op_id("c1-42"), Ok(()));
        assert_eq!(check_op_id(&"é".repeat(MAX_OP_ID_CHARS)), Ok(()));
        assert!(check_op_id(&"x".repeat(MAX_OP_ID_CHARS + 1)).is_err());
        assert!(check_op_id("a\0b").unwrap_err().contains("U+0000"));
    }
}
