//! The one codec of an operation: the ot.js array (`[5, "abc", -2]`) of the wire and of the store.
//! A positive integer retains, a negative one deletes, a string inserts.
//!
//! Decoding has two strictnesses: [`to_operation`] for what a client sends (a `0` is refused and
//! [`OperationLimits`] apply) and [`from_stored`] for what the store holds (a `0` is the no-op it
//! is, read back from rows older versions wrote).

use std::borrow::Cow;

use pairpad_domain::{Component, OtError, TextOperation};
use serde::de::Error as _;
use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

// A run is at most `MAX_LEN` characters, so `-(n as i64)` is exact.
const _: () = assert!(TextOperation::MAX_LEN as u128 <= i64::MAX as u128);

/// One component of an operation on the wire: `n > 0` retains, `-n` deletes, a string inserts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum WireComponent {
    /// A retain or delete count.
    Count(i64),
    /// Inserted text.
    Text(String),
}

/// Decoded by the JSON value's own type rather than `#[serde(untagged)]`, which buffers every
/// component and, for each string, first fails to read it as a number (building an error
/// message): every operation from a client, in the store and to the Rust client passes here.
impl<'de> Deserialize<'de> for WireComponent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ComponentVisitor;

        impl serde::de::Visitor<'_> for ComponentVisitor {
            type Value = WireComponent;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an integer (a retain or delete count) or a string (inserted text)")
            }

            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<WireComponent, E> {
                Ok(WireComponent::Count(n))
            }

            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<WireComponent, E> {
                i64::try_from(n)
                    .map(WireComponent::Count)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Unsigned(n), &self))
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<WireComponent, E> {
                Ok(WireComponent::Text(text.to_owned()))
            }

            fn visit_string<E: serde::de::Error>(self, text: String) -> Result<WireComponent, E> {
                Ok(WireComponent::Text(text))
            }
        }

        deserializer.deserialize_any(ComponentVisitor)
    }
}

impl WireComponent {
    /// The components of `operation`, as sent.
    pub fn from_operation(operation: &TextOperation) -> Vec<WireComponent> {
        operation
            .components()
            .iter()
            .map(|c| match c {
                Component::Retain(n) => WireComponent::Count(*n as i64),
                Component::Insert(text) => WireComponent::Text(text.clone()),
                Component::Delete(n) => WireComponent::Count(-(*n as i64)),
            })
            .collect()
    }
}

/// The most an operation from a client may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OperationLimits {
    /// Components per operation: each costs the room's task time, whatever it does.
    pub max_components: usize,
    /// The longest retain or delete: no document is longer (the `max_document_chars` setting).
    pub max_count: usize,
}

impl OperationLimits {
    /// No limit beyond what any text can hold (for operations from a trusted server).
    pub const UNLIMITED: OperationLimits = OperationLimits { max_components: usize::MAX, max_count: usize::MAX };
}

/// Why wire components cannot form an operation; the message tells the client.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvalidOperation {
    /// A `0`, which means nothing.
    #[error("an operation is an array of non-zero integers and strings")]
    ZeroCount,
    /// More components than allowed.
    #[error("an operation has at most {max} components; this one has {count}")]
    TooManyComponents {
        /// The components sent.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A retain or delete longer than any document.
    #[error("a retain or delete covers at most {max} characters, the longest document; this one covers {count}")]
    CountTooLarge {
        /// The count sent (its magnitude for a delete).
        count: u64,
        /// The limit.
        max: usize,
    },
    /// The lengths add up to more than any text can hold (only with huge limits).
    #[error("invalid operation: {0}")]
    Ot(#[from] OtError),
}

/// Builds a domain operation from the components a client sent, within `limits`; a `0` is refused.
pub fn to_operation(
    components: Vec<WireComponent>,
    limits: OperationLimits,
) -> Result<TextOperation, InvalidOperation> {
    if components.len() > limits.max_components {
        return Err(InvalidOperation::TooManyComponents { count: components.len(), max: limits.max_components });
    }
    let mut parts = Vec::with_capacity(components.len());
    for component in components {
        parts.push(match component {
            WireComponent::Text(text) => Component::Insert(text),
            WireComponent::Count(0) => return Err(InvalidOperation::ZeroCount),
            WireComponent::Count(n) => {
                let too_large = || InvalidOperation::CountTooLarge { count: n.unsigned_abs(), max: limits.max_count };
                let count = usize::try_from(n.unsigned_abs()).map_err(|_| too_large())?;
                if count > limits.max_count {
                    return Err(too_large());
                }
                if n < 0 { Component::Delete(count) } else { Component::Retain(count) }
            }
        });
    }
    Ok(TextOperation::from_components(parts)?)
}

/// Builds a domain operation from stored components. A `0` is read as the no-op it is, though the
/// wire refuses it: before lengths were checked, an operation whose delete counts wrapped around
/// to zero could be stored (as `[0,5]`), and its room must still load. Lengths beyond
/// [`TextOperation::MAX_LEN`] are an error.
pub fn from_stored(components: Vec<WireComponent>) -> Result<TextOperation, OtError> {
    let mut parts = Vec::with_capacity(components.len());
    for component in components {
        parts.push(match component {
            WireComponent::Text(text) => Component::Insert(text),
            WireComponent::Count(n) => {
                let count = usize::try_from(n.unsigned_abs()).map_err(|_| OtError::TooLong)?;
                if n < 0 { Component::Delete(count) } else { Component::Retain(count) }
            }
        });
    }
    TextOperation::from_components(parts)
}

/// An operation as its ot.js array: borrowed to encode it, owned once decoded. Decoding is
/// strict (no `0`) but has no limits beyond [`TextOperation::MAX_LEN`]: it is for operations a
/// server sends. Clients' operations are decoded as [`WireComponent`]s and checked with
/// [`to_operation`]; stored ones with [`from_stored`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ops<'a>(pub Cow<'a, TextOperation>);

impl<'a> Ops<'a> {
    /// Borrows `operation` to encode it.
    pub fn borrowed(operation: &'a TextOperation) -> Self {
        Self(Cow::Borrowed(operation))
    }

    /// The operation.
    pub fn into_operation(self) -> TextOperation {
        self.0.into_owned()
    }
}

impl Serialize for Ops<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let components = self.0.components();
        let mut seq = serializer.serialize_seq(Some(components.len()))?;
        for component in components {
            match component {
                Component::Retain(n) => seq.serialize_element(n)?,
                Component::Insert(text) => seq.serialize_element(text)?,
                // Exact: a run is at most `TextOperation::MAX_LEN` <= `i64::MAX` characters.
                Component::Delete(n) => seq.serialize_element(&-(*n as i64))?,
            }
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for Ops<'_> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let components = Vec::<WireComponent>::deserialize(deserializer)?;
        let operation = to_operation(components, OperationLimits::UNLIMITED).map_err(D::Error::custom)?;
        Ok(Self(Cow::Owned(operation)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;

    const LIMITS: OperationLimits = OperationLimits { max_components: 4, max_count: 10 };

    #[test]
    fn a_component_is_an_integer_or_a_string_and_nothing_else() {
        let parse = |json: &str| serde_json::from_str::<Vec<WireComponent>>(json);
        assert_eq!(
            parse(r#"[5, "🦀\u0041", -2, 9223372036854775807]"#).unwrap(),
            [
                WireComponent::Count(5),
                WireComponent::Text("🦀A".into()),
                WireComponent::Count(-2),
                WireComponent::Count(i64::MAX)
            ]
        );
        for refused in ["[1.5]", "[1e3]", "[true]", "[null]", "[[1]]", r#"[{"n":1}]"#, "[9223372036854775808]"] {
            let error = parse(refused).expect_err(refused);
            assert!(error.is_data(), "{refused}: {error}");
        }
    }

    fn op(components: impl IntoIterator<Item = Component>) -> TextOperation {
        TextOperation::from_components(components).unwrap()
    }

    /// The store's reading: JSON text to an operation.
    fn decode_stored(text: &str) -> Option<TextOperation> {
        from_stored(serde_json::from_str(text).ok()?).ok()
    }

    #[test]
    fn round_trips() {
        let op = op([Component::Retain(2), Component::Insert("🦀\"\n".into()), Component::Delete(3)]);
        let json = serde_json::to_string(&Ops::borrowed(&op)).unwrap();
        assert_eq!(json, r#"[2,"🦀\"\n",-3]"#);
        assert_eq!(decode_stored(&json).unwrap(), op);
        assert_eq!(serde_json::from_str::<Ops<'_>>(&json).unwrap().into_operation(), op);
        assert_eq!(to_operation(WireComponent::from_operation(&op), OperationLimits::UNLIMITED).unwrap(), op);
        assert!(decode_stored("{}").is_none());
    }

    #[test]
    fn zero_components_are_invalid_on_the_wire() {
        assert_eq!(to_operation(vec![WireComponent::Count(0)], LIMITS).unwrap_err(), InvalidOperation::ZeroCount);
        assert!(serde_json::from_str::<Ops<'_>>("[0,5]").is_err());
    }

    #[test]
    fn zero_runs_written_by_older_versions_are_no_ops() {
        assert_eq!(decode_stored("[0,5]").unwrap(), op([Component::Retain(5)]));
        assert_eq!(decode_stored("[0]").unwrap(), TextOperation::new());
    }

    #[test]
    fn stored_lengths_beyond_any_text_are_corrupt() {
        for text in [
            "[-9223372036854775808,-9223372036854775808,5]",
            "[9223372036854775807,\"x\",9223372036854775807,7]",
            "[-9223372036854775808]",
            "[18446744073709551615]",
            "[1.5]",
        ] {
            assert!(decode_stored(text).is_none(), "{text}");
        }
        let longest = op([Component::Delete(TextOperation::MAX_LEN)]);
        assert_eq!(decode_stored(&serde_json::to_string(&Ops::borrowed(&longest)).unwrap()).unwrap(), longest);
    }

    #[test]
    fn operations_beyond_the_limits_are_invalid() {
        let counts = |counts: &[i64]| counts.iter().map(|&n| WireComponent::Count(n)).collect::<Vec<_>>();
        assert!(to_operation(counts(&[10, -10, 10, -10]), LIMITS).is_ok());
        assert_eq!(
            to_operation(counts(&[1, 1, 1, 1, 1]), LIMITS).unwrap_err(),
            InvalidOperation::TooManyComponents { count: 5, max: 4 }
        );
        assert_eq!(
            to_operation(counts(&[i64::MIN, i64::MIN, 5]), LIMITS).unwrap_err(),
            InvalidOperation::CountTooLarge { count: 1 << 63, max: 10 }
        );
        let huge = OperationLimits::UNLIMITED;
        assert_eq!(
            to_operation(counts(&[i64::MIN, i64::MIN, 5]), huge).unwrap_err(),
            InvalidOperation::Ot(OtError::TooLong)
        );
        let mut wrapping = counts(&[i64::MAX, i64::MAX, 7]);
        wrapping.insert(1, WireComponent::Text("x".into()));
        assert_eq!(to_operation(wrapping, huge).unwrap_err(), InvalidOperation::Ot(OtError::TooLong));
    }

    /// A count at the edges of `i64`, or some text.
    fn wire_component() -> impl Strategy<Value = WireComponent> {
        prop_oneof![
            prop::sample::select(vec![i64::MIN, i64::MIN + 1, -11, -10, -1, 0, 1, 10, 11, i64::MAX - 1, i64::MAX])
                .prop_map(WireComponent::Count),
            any::<i64>().prop_map(WireComponent::Count),
            "[a🦀é]{0,3}".prop_map(WireComponent::Text),
        ]
    }

    fn limits() -> impl Strategy<Value = OperationLimits> {
        (0..6usize, prop::sample::select(vec![0, 10, TextOperation::MAX_LEN, usize::MAX]))
            .prop_map(|(max_components, max_count)| OperationLimits { max_components, max_count })
    }

    /// A stored item: a count at the edges of `i64` and `u64`, or some text.
    fn stored_item() -> impl Strategy<Value = Value> {
        prop_oneof![
            prop::sample::select(vec![i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX - 1, i64::MAX]).prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            prop::sample::select(vec![i64::MAX as u64 + 1, u64::MAX]).prop_map(Value::from),
            "[a🦀é]{0,3}".prop_map(Value::from),
        ]
    }

    proptest! {
        #[test]
        fn to_operation_accepts_exactly_what_is_within_limits(
            components in proptest::collection::vec(wire_component(), 0..8),
            limits in limits(),
        ) {
            let (mut base, mut target, mut zero, mut longest) = (0u128, 0u128, false, 0u128);
            for component in &components {
                match component {
                    WireComponent::Text(s) => target += s.chars().count() as u128,
                    WireComponent::Count(n) => {
                        let count = n.unsigned_abs() as u128;
                        (zero, longest) = (zero || *n == 0, longest.max(count));
                        base += count;
                        if *n > 0 { target += count }
                    }
                }
            }
            let count = components.len();
            let max_len = TextOperation::MAX_LEN as u128;
            match to_operation(components, limits) {
                Ok(op) => {
                    prop_assert!(count <= limits.max_components && !zero && longest <= limits.max_count as u128);
                    prop_assert_eq!((op.base_len() as u128, op.target_len() as u128), (base, target));
                }
                Err(InvalidOperation::TooManyComponents { .. }) => prop_assert!(count > limits.max_components),
                Err(InvalidOperation::ZeroCount) => prop_assert!(zero),
                Err(InvalidOperation::CountTooLarge { .. }) => prop_assert!(longest > limits.max_count as u128),
                Err(InvalidOperation::Ot(_)) => prop_assert!(base > max_len || target > max_len),
            }
        }

        #[test]
        fn stored_decoding_refuses_exactly_what_does_not_fit(items in proptest::collection::vec(stored_item(), 0..8)) {
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
            match decode_stored(&Value::Array(items).to_string()) {
                Some(op) => {
                    prop_assert!(fits_i64);
                    prop_assert_eq!((op.base_len() as u128, op.target_len() as u128), (base, target));
                    let json = serde_json::to_string(&Ops::borrowed(&op)).unwrap();
                    prop_assert_eq!(decode_stored(&json).unwrap(), op);
                }
                None => prop_assert!(!fits_i64 || base > max || target > max),
            }
        }
    }
}
