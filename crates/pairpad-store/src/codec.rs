//! The stored form of an operation: the ot.js JSON array of the wire protocol (`[5, "abc", -2]`),
//! so a row can be read by anyone who knows the protocol.

use pairpad_domain::{Component, RepoError, TextOperation};
use serde_json::Value;

/// Encodes an operation as its JSON array.
pub fn encode(op: &TextOperation) -> String {
    let items: Vec<Value> = op
        .components()
        .iter()
        .map(|c| match c {
            Component::Retain(n) => Value::from(*n as u64),
            Component::Insert(s) => Value::from(s.as_str()),
            Component::Delete(n) => Value::from(-(*n as i64)),
        })
        .collect();
    Value::Array(items).to_string()
}

/// Decodes a stored operation; anything else than a JSON array of integers and strings is corrupt.
pub fn decode(text: &str) -> Result<TextOperation, RepoError> {
    let corrupt = || RepoError::Corrupt(format!("not an operation: {}", text.chars().take(80).collect::<String>()));
    let Value::Array(items) = serde_json::from_str(text).map_err(|_| corrupt())? else {
        return Err(corrupt());
    };
    let mut components = Vec::with_capacity(items.len());
    for item in items {
        components.push(match item {
            Value::String(s) => Component::Insert(s),
            Value::Number(n) => match n.as_i64() {
                Some(n) if n > 0 => Component::Retain(n as usize),
                Some(n) if n < 0 => Component::Delete(n.unsigned_abs() as usize),
                _ => return Err(corrupt()),
            },
            _ => return Err(corrupt()),
        });
    }
    Ok(TextOperation::from_components(components))
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
        ]);
        assert_eq!(encode(&op), r#"[2,"🦀\"\n",-3]"#);
        assert_eq!(decode(&encode(&op)).unwrap(), op);
        assert!(decode("{}").is_err());
        assert!(decode("[0]").is_err());
    }
}
