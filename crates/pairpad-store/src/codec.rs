//! The stored form of an operation: the ot.js JSON array of the wire protocol (`[5, "abc", -2]`),
//! so a row can be read by anyone who knows the protocol.

use pairpad_domain::{Component, RepoError, TextOperation};
use serde_json::Value;

// A run is at most `MAX_LEN` characters, so `-(n as i64)` is exact.
const _: () = assert!(TextOperation::MAX_LEN as u128 <= i64::MAX as u128);

/// Encodes an operation as its JSON array.
pub fn encode(op: &TextOperation) -> String {
    let items: Vec<Value> = op
        .components()
        .iter()
        .map(|c| match c {
            Component::Retain(n) => Value::from(*n),
            Component::Insert(s) => Value::from(s.as_str()),
            Component::Delete(n) => Value::from(-(*n as i64)),
        })
        .collect();
    Value::Array(items).to_string()
}

/// Decodes a stored operation; anything else than a JSON array of integers and strings, or one
/// spanning more than `TextOperation::MAX_LEN` characters, is corrupt.
///
/// A `0` is read as the no-op it is, though the wire refuses it: before lengths were checked, an
/// operation whose delete counts wrapped around to zero could be stored (as `[0,5]`), and its room
/// must still load.
pub fn decode(text: &str) -> Result<TextOperation, RepoError> {
    let corrupt = || RepoError::Corrupt(format!("not an operation: {}", text.chars().take(80).collect::<String>()));
    let Value::Array(items) = serde_json::from_str(text).map_err(|_| corrupt())? else {
        return Err(corrupt());
    };
    let mut components = Vec::with_capacity(items.len());
    for item in items {
        components.push(match item {
            Value::String(s) => Component::Insert(s),
            Value::Number(n) => {
                let n = n.as_i64().ok_or_else(corrupt)?;
                let count = usize::try_from(n.unsigned_abs()).map_err(|_| corrupt())?;
                if n < 0 { Component::Delete(count) } else { Component::Retain(count) }
            }
            _ => return Err(corrupt()),
        });
    }
    TextOperation::from_components(components).map_err(|_| corrupt())
}

#[cfg(test)]
mod tests {
    use super::*;

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
        ] {
            assert!(matches!(decode(text), Err(RepoError::Corrupt(_))), "{text}");
        }
        let longest = TextOperation::from_components([Component::Delete(TextOperation::MAX_LEN)]).unwrap();
        assert_eq!(decode(&encode(&longest)).unwrap(), longest);
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    /// A stored item: a count at the edges of `i64` and `u64`, or some text.
    fn item() -> impl Strategy<Value = Value> {
        prop_oneof![
            prop::sample::select(vec![i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX - 1, i64::MAX]).prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            prop::sample::select(vec![i64::MAX as u64 + 1, u64::MAX]).prop_map(Value::from),
            "[a🦀é]{0,3}".prop_map(Value::from),
        ]
    }

    proptest! {
        #[test]
        fn decode_refuses_exactly_what_does_not_fit(items in proptest::collection::vec(item(), 0..8)) {
            let (mut base, mut target, mut fits_i64) = (0u128, 0u128, true);
            for item in &items {
                match item {
                    Value::String(s) => target += s.chars().count() as u128,
                    Value::Number(n) => match n.as_i64() {
                        Some(n) if n < 0 => base += n.unsigned_abs() as u128,
                        Some(n) => (base, target) = (base + n as u128, target + n as u128),
                        None => fits_i64 = false,
                    },
                    _ => unreachable!(),
                }
            }
            let max = TextOperation::MAX_LEN as u128;
            match decode(&Value::Array(items).to_string()) {
                Ok(op) => {
                    prop_assert!(fits_i64);
                    prop_assert_eq!((op.base_len() as u128, op.target_len() as u128), (base, target));
                    prop_assert_eq!(decode(&encode(&op)).unwrap(), op);
                }
                Err(e) => {
                    prop_assert!(matches!(e, RepoError::Corrupt(_)), "{e}");
                    prop_assert!(!fits_i64 || base > max || target > max);
                }
            }
        }
    }
}
