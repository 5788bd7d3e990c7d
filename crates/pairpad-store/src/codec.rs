//! The stored form of an operation: the ot.js JSON array of the wire protocol (`[5, "abc", -2]`),
//! so a row can be read by anyone who knows the protocol. The codec is `pairpad-protocol`'s; this
//! module picks its tolerant reading ([`pairpad_protocol::from_stored`]) and names errors.

use pairpad_domain::{RepoError, TextOperation};
use pairpad_protocol::{Ops, WireComponent};

/// Encodes an operation as its JSON array.
pub fn encode(op: &TextOperation) -> String {
    // An array of integers and strings always serialises.
    serde_json::to_string(&Ops::borrowed(op)).unwrap_or_else(|_| unreachable!("an operation always serialises"))
}

/// Decodes a stored operation; anything else than a JSON array of integers and strings, or one
/// spanning more than `TextOperation::MAX_LEN` characters, is corrupt.
///
/// A `0` is read as the no-op it is, though the wire refuses it: before lengths were checked, an
/// operation whose delete counts wrapped around to zero could be stored (as `[0,5]`), and its room
/// must still load.
pub fn decode(text: &str) -> Result<TextOperation, RepoError> {
    let corrupt = || RepoError::Corrupt(format!("not an operation: {}", text.chars().take(80).collect::<String>()));
    let components: Vec<WireComponent> = serde_json::from_str(text).map_err(|_| corrupt())?;
    pairpad_protocol::from_stored(components).map_err(|_| corrupt())
}

#[cfg(test)]
mod tests {
    // The codec's property tests are in `pairpad-protocol`; these check the store's wrapper.
    use super::*;
    use pairpad_domain::Component;

    #[test]
    fn round_trips() {
        let op = TextOperation::from_components([
            Component::Retain(2),
            Component::Insert("🦀\"\n".into()),
            Component::Delete(3),
        ])
        .unwrap();
        assert_eq!(encode(&op), r#"[2,"🦀\"\n",-3]"#);
        assert_eq!(decode(&encode(&op)).unwrap(), op);
        assert!(decode("{}").is_err());
    }

    #[test]
    fn zero_runs_written_by_older_versions_are_no_ops() {
        assert_eq!(decode("[0,5]").unwrap(), TextOperation::from_components([Component::Retain(5)]).unwrap());
        assert_eq!(decode("[0]").unwrap(), TextOperation::new());
    }

    #[test]
    fn lengths_beyond_any_text_are_corrupt() {
        for text in [
            "[-9223372036854775808,-9223372036854775808,5]",
            "[9223372036854775807,\"x\",9223372036854775807,7]",
            "[-9223372036854775808]",
            "[18446744073709551615]",
            "[1.5]",
            "[[1]]",
            "[true]",
        ] {
            assert!(matches!(decode(text), Err(RepoError::Corrupt(_))), "{text}");
        }
        let longest = TextOperation::from_components([Component::Delete(TextOperation::MAX_LEN)]).unwrap();
        assert_eq!(decode(&encode(&longest)).unwrap(), longest);
    }
}
