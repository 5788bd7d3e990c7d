//! Operational transformation of plain text, in the form popularised by ot.js.
//!
//! An operation walks the whole document it applies to: it retains, inserts or deletes runs of
//! characters. Every length counts Unicode scalar values (Rust `char`s), the unit of the wire
//! protocol, so an operation means the same thing to every client whatever its string encoding.
//!
//! The three laws the server and the clients rely on, checked by property tests:
//! - `apply(apply(d, a), b) == apply(d, compose(a, b))`;
//! - with `(a', b') = transform(a, b)`: `apply(apply(d, a), b') == apply(apply(d, b), a')`;
//! - `apply` rejects an operation whose base length is not the document's length.

use std::fmt;

/// One run of an operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Component {
    /// Keep the next `n` characters.
    Retain(usize),
    /// Insert this text at the current position.
    Insert(String),
    /// Remove the next `n` characters.
    Delete(usize),
}

/// Why an operation could not be built, applied, composed or transformed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OtError {
    /// The operation spans a document of another length than the one it was given.
    #[error("the operation spans {expected} characters but the document has {actual}")]
    BaseLengthMismatch {
        /// The operation's base length.
        expected: usize,
        /// The document's length.
        actual: usize,
    },
    /// Two operations cannot be combined because their lengths do not line up.
    #[error("the operations do not line up: {0}")]
    Incompatible(&'static str),
    /// The operation would span or produce more characters than any text can hold.
    #[error(
        "the operation spans or produces more than {} characters, more than any text can hold",
        TextOperation::MAX_LEN
    )]
    TooLong,
}

/// A normalised text operation: no empty runs, adjacent runs of one kind merged, and an insert
/// always before an adjacent delete, so equal edits have equal representations.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct TextOperation {
    components: Vec<Component>,
    base_len: usize,
    target_len: usize,
}

impl fmt::Debug for TextOperation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.components).finish()
    }
}

impl TextOperation {
    /// The most characters an operation may span or produce. No text in memory holds more: an
    /// allocation is at most `isize::MAX` bytes. Refusing longer operations when they are built,
    /// rather than saturating, keeps `base_len` and `target_len` the exact sums of the runs, so
    /// no arithmetic on them can wrap; it also keeps every count within `i64`, the integers of
    /// the wire and of the stored form.
    pub const MAX_LEN: usize = isize::MAX as usize;

    /// An empty operation (the identity on the empty document).
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds an operation from its runs, normalising them. Zero-length runs are dropped.
    /// Fails with [`OtError::TooLong`] if its lengths would exceed [`TextOperation::MAX_LEN`].
    pub fn from_components(components: impl IntoIterator<Item = Component>) -> Result<Self, OtError> {
        let mut op = Self::new();
        for component in components {
            match component {
                Component::Retain(n) => op.retain(n)?,
                Component::Insert(s) => op.insert(&s)?,
                Component::Delete(n) => op.delete(n)?,
            };
        }
        Ok(op)
    }

    /// The operation that turns `old` into `new` with one contiguous replacement: the common
    /// prefix and suffix are retained, the middle deleted and re-inserted.
    pub fn diff(old: &str, new: &str) -> Self {
        let prefix: Vec<char> = old.chars().zip(new.chars()).take_while(|(a, b)| a == b).map(|(a, _)| a).collect();
        let old_len = old.chars().count();
        let new_len = new.chars().count();
        let max_suffix = old_len.min(new_len) - prefix.len();
        let suffix = old.chars().rev().zip(new.chars().rev()).take(max_suffix).take_while(|(a, b)| a == b).count();
        let inserted: String = new.chars().skip(prefix.len()).take(new_len - prefix.len() - suffix).collect();
        let deleted = old_len - prefix.len() - suffix;
        let components = [
            Component::Retain(prefix.len()),
            Component::Delete(deleted),
            Component::Insert(inserted),
            Component::Retain(suffix),
        ];
        // The lengths are those of `old` and `new`, texts in memory, so they are within MAX_LEN.
        Self::from_components(components).expect("a diff of two texts spans at most MAX_LEN characters")
    }

    /// The runs of this operation.
    pub fn components(&self) -> &[Component] {
        &self.components
    }

    /// The length of the document this operation applies to.
    pub fn base_len(&self) -> usize {
        self.base_len
    }

    /// The length of the document this operation produces.
    pub fn target_len(&self) -> usize {
        self.target_len
    }

    /// Whether applying this operation leaves every document unchanged.
    pub fn is_noop(&self) -> bool {
        self.components.iter().all(|c| matches!(c, Component::Retain(_)))
    }

    /// Appends a retain of `n` characters.
    pub fn retain(&mut self, n: usize) -> Result<&mut Self, OtError> {
        if n == 0 {
            return Ok(self);
        }
        let (base_len, target_len) = (add_len(self.base_len, n)?, add_len(self.target_len, n)?);
        (self.base_len, self.target_len) = (base_len, target_len);
        if let Some(Component::Retain(last)) = self.components.last_mut() {
            // Cannot wrap: `last + n` is at most the new `base_len`.
            *last += n;
        } else {
            self.components.push(Component::Retain(n));
        }
        Ok(self)
    }

    /// Appends an insert of `text`.
    pub fn insert(&mut self, text: &str) -> Result<&mut Self, OtError> {
        if text.is_empty() {
            return Ok(self);
        }
        self.target_len = add_len(self.target_len, text.chars().count())?;
        let len = self.components.len();
        match self.components.as_mut_slice() {
            [.., Component::Insert(last)] => last.push_str(text),
            // An insert next to a delete goes before it, so that equal edits look the same.
            [.., Component::Insert(before), Component::Delete(_)] => before.push_str(text),
            [.., Component::Delete(_)] => self.components.insert(len - 1, Component::Insert(text.to_owned())),
            _ => self.components.push(Component::Insert(text.to_owned())),
        }
        Ok(self)
    }

    /// Appends a delete of `n` characters.
    pub fn delete(&mut self, n: usize) -> Result<&mut Self, OtError> {
        if n == 0 {
            return Ok(self);
        }
        self.base_len = add_len(self.base_len, n)?;
        if let Some(Component::Delete(last)) = self.components.last_mut() {
            // Cannot wrap: `last + n` is at most the new `base_len`.
            *last += n;
        } else {
            self.components.push(Component::Delete(n));
        }
        Ok(self)
    }

    /// Applies the operation to a string. Lengths count code points, not bytes.
    ///
    /// ```
    /// use pairpad_domain::{OtError, TextOperation};
    ///
    /// let mut op = TextOperation::new();
    /// op.retain(3)?.delete(2)?.insert("e!")?;
    /// assert_eq!((op.base_len(), op.target_len()), (5, 5));
    /// assert_eq!(op.apply("héllo")?, "héle!");
    /// assert_eq!(op.apply("hello, world"), Err(OtError::BaseLengthMismatch { expected: 5, actual: 12 }));
    /// # Ok::<(), OtError>(())
    /// ```
    pub fn apply(&self, text: &str) -> Result<String, OtError> {
        let actual = text.chars().count();
        self.check_base(actual)?;
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        for component in &self.components {
            match component {
                Component::Retain(n) => {
                    let at = byte_offset(rest, *n);
                    out.push_str(&rest[..at]);
                    rest = &rest[at..];
                }
                Component::Insert(s) => out.push_str(s),
                Component::Delete(n) => rest = &rest[byte_offset(rest, *n)..],
            }
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Applies the operation to a rope in place: each run costs O(log n), not O(n).
    pub fn apply_to_rope(&self, rope: &mut ropey::Rope) -> Result<(), OtError> {
        self.check_base(rope.len_chars())?;
        let mut pos = 0;
        for component in &self.components {
            match component {
                Component::Retain(n) => pos += n,
                Component::Insert(s) => {
                    rope.insert(pos, s);
                    pos += s.chars().count();
                }
                Component::Delete(n) => rope.remove(pos..pos + n),
            }
        }
        Ok(())
    }

    fn check_base(&self, actual: usize) -> Result<(), OtError> {
        if self.base_len == actual {
            Ok(())
        } else {
            Err(OtError::BaseLengthMismatch { expected: self.base_len, actual })
        }
    }

    /// The single operation with the effect of `self` followed by `next`.
    pub fn compose(&self, next: &TextOperation) -> Result<TextOperation, OtError> {
        if self.target_len != next.base_len {
            return Err(OtError::Incompatible("the first operation's target length is not the second's base length"));
        }
        let mut out = TextOperation::new();
        let mut first = Runs::new(&self.components);
        let mut second = Runs::new(&next.components);
        loop {
            match (first.peek(), second.peek()) {
                (None, None) => return Ok(out),
                // Deletes of the first and inserts of the second pass straight through.
                (Some(Component::Delete(n)), _) => {
                    out.delete(n)?;
                    first.advance_all();
                }
                (_, Some(Component::Insert(s))) => {
                    out.insert(&s)?;
                    second.advance_all();
                }
                (None, _) | (_, None) => return Err(OtError::Incompatible("compose ran past the end")),
                (Some(a), Some(b)) => {
                    let n = a.len().min(b.len());
                    match (&a, &b) {
                        (Component::Retain(_), Component::Retain(_)) => out.retain(n)?,
                        (Component::Insert(s), Component::Retain(_)) => out.insert(prefix_chars(s, n))?,
                        (Component::Retain(_), Component::Delete(_)) => out.delete(n)?,
                        // Text inserted by the first and deleted by the second vanishes.
                        (Component::Insert(_), Component::Delete(_)) => &mut out,
                        _ => unreachable!("deletes of the first and inserts of the second were handled above"),
                    };
                    first.advance(n);
                    second.advance(n);
                }
            }
        }
    }

    /// Transforms two concurrent operations on the same document into `(a', b')` such that
    /// `b'` applies after `a` and `a'` after `b`, with the same result. When both insert at the same
    /// position, `a`'s text goes first.
    ///
    /// ```
    /// use pairpad_domain::TextOperation;
    ///
    /// // Two users edit "cat" at once: one makes it "cats", the other "a cat".
    /// let mut plural = TextOperation::new();
    /// plural.retain(3)?.insert("s")?;
    /// let mut article = TextOperation::new();
    /// article.insert("a ")?.retain(3)?;
    ///
    /// let (plural_after, article_after) = TextOperation::transform(&plural, &article)?;
    /// assert_eq!(plural_after.apply(&article.apply("cat")?)?, "a cats");
    /// assert_eq!(article_after.apply(&plural.apply("cat")?)?, "a cats");
    /// # Ok::<(), pairpad_domain::OtError>(())
    /// ```
    pub fn transform(a: &TextOperation, b: &TextOperation) -> Result<(TextOperation, TextOperation), OtError> {
        if a.base_len != b.base_len {
            return Err(OtError::Incompatible("concurrent operations must share their base length"));
        }
        let mut a_prime = TextOperation::new();
        let mut b_prime = TextOperation::new();
        let mut ra = Runs::new(&a.components);
        let mut rb = Runs::new(&b.components);
        loop {
            match (ra.peek(), rb.peek()) {
                (None, None) => return Ok((a_prime, b_prime)),
                (Some(Component::Insert(s)), _) => {
                    let n = s.chars().count();
                    a_prime.insert(&s)?;
                    b_prime.retain(n)?;
                    ra.advance_all();
                }
                (_, Some(Component::Insert(s))) => {
                    let n = s.chars().count();
                    a_prime.retain(n)?;
                    b_prime.insert(&s)?;
                    rb.advance_all();
                }
                (None, _) | (_, None) => return Err(OtError::Incompatible("transform ran past the end")),
                (Some(x), Some(y)) => {
                    let n = x.len().min(y.len());
                    match (&x, &y) {
                        (Component::Retain(_), Component::Retain(_)) => {
                            a_prime.retain(n)?;
                            b_prime.retain(n)?;
                        }
                        // Both deleted the same text: nothing left to do for either.
                        (Component::Delete(_), Component::Delete(_)) => {}
                        (Component::Delete(_), Component::Retain(_)) => {
                            a_prime.delete(n)?;
                        }
                        (Component::Retain(_), Component::Delete(_)) => {
                            b_prime.delete(n)?;
                        }
                        _ => unreachable!("inserts were handled above"),
                    }
                    ra.advance(n);
                    rb.advance(n);
                }
            }
        }
    }

    /// Maps a cursor position in the base document to the target document. A cursor at an
    /// insert point stays before the inserted text, unless `after_inserts`. A cursor past the end
    /// of the base document is at its end.
    pub fn transform_index(&self, index: usize, after_inserts: bool) -> usize {
        // Clamped, nothing below can wrap: `pos` stays within `base_len`, and `new_index` within
        // `base_len` plus every insert, at most 2 × MAX_LEN < usize::MAX.
        let index = index.min(self.base_len);
        let mut new_index = index;
        let mut pos = 0;
        for component in &self.components {
            if pos > index || (pos == index && !after_inserts && !matches!(component, Component::Delete(_))) {
                break;
            }
            match component {
                Component::Retain(n) => pos += n,
                Component::Insert(s) => new_index += s.chars().count(),
                Component::Delete(n) => {
                    new_index -= (*n).min(index - pos);
                    pos += n;
                }
            }
        }
        new_index
    }
}

impl Component {
    fn len(&self) -> usize {
        match self {
            Component::Retain(n) | Component::Delete(n) => *n,
            Component::Insert(s) => s.chars().count(),
        }
    }
}

/// A cursor over an operation's runs that can consume part of a run.
struct Runs<'a> {
    components: &'a [Component],
    index: usize,
    /// Characters of the current run already consumed.
    offset: usize,
}

impl<'a> Runs<'a> {
    fn new(components: &'a [Component]) -> Self {
        Self { components, index: 0, offset: 0 }
    }

    /// The rest of the current run.
    fn peek(&self) -> Option<Component> {
        let component = self.components.get(self.index)?;
        Some(match component {
            Component::Retain(n) => Component::Retain(n - self.offset),
            Component::Delete(n) => Component::Delete(n - self.offset),
            Component::Insert(s) if self.offset == 0 => Component::Insert(s.clone()),
            Component::Insert(s) => Component::Insert(s[byte_offset(s, self.offset)..].to_owned()),
        })
    }

    fn advance(&mut self, n: usize) {
        self.offset += n;
        if let Some(component) = self.components.get(self.index)
            && self.offset >= component.len()
        {
            self.advance_all();
        }
    }

    fn advance_all(&mut self) {
        self.index += 1;
        self.offset = 0;
    }
}

/// `len + n`, if it is a length an operation may have.
fn add_len(len: usize, n: usize) -> Result<usize, OtError> {
    len.checked_add(n).filter(|&sum| sum <= TextOperation::MAX_LEN).ok_or(OtError::TooLong)
}

/// The byte offset of the `n`th character of `s` (or its length).
fn byte_offset(s: &str, n: usize) -> usize {
    s.char_indices().nth(n).map_or(s.len(), |(i, _)| i)
}

fn prefix_chars(s: &str, n: usize) -> &str {
    &s[..byte_offset(s, n)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(components: &[Component]) -> TextOperation {
        TextOperation::from_components(components.iter().cloned()).unwrap()
    }

    use Component::{Delete as D, Insert as I, Retain as R};

    fn ins(s: &str) -> Component {
        I(s.to_owned())
    }

    #[test]
    fn apply_counts_code_points() {
        let o = op(&[R(2), ins("🦀"), D(1), R(1)]);
        assert_eq!(o.apply("日本語x").unwrap(), "日本🦀x");
        assert_eq!(o.base_len(), 4);
        assert_eq!(o.target_len(), 4);
    }

    #[test]
    fn apply_rejects_wrong_base_length() {
        let o = op(&[R(3)]);
        assert_eq!(o.apply("ab"), Err(OtError::BaseLengthMismatch { expected: 3, actual: 2 }));
        let mut rope = ropey::Rope::from_str("abcd");
        assert!(o.apply_to_rope(&mut rope).is_err());
        assert_eq!(rope.to_string(), "abcd");
    }

    #[test]
    fn normalises_insert_before_delete() {
        let a = op(&[D(2), ins("x")]);
        assert_eq!(a.components(), &[ins("x"), D(2)]);
        assert_eq!(op(&[R(0), ins(""), R(1), R(2)]).components(), &[R(3)]);
    }

    #[test]
    fn diff_is_minimal_replacement() {
        let d = TextOperation::diff("hello world", "hello brave world");
        assert_eq!(d.components(), &[R(6), ins("brave "), R(5)]);
        assert_eq!(TextOperation::diff("aaa", "aa").components(), &[R(2), D(1)]);
        assert_eq!(TextOperation::diff("é🦀", "é🦀").components(), &[R(2)]);
        assert_eq!(TextOperation::diff("", "").components(), &[]);
    }

    #[test]
    fn concurrent_inserts_at_one_position_put_the_transformed_one_first() {
        let a = op(&[R(1), ins("A")]);
        let b = op(&[R(1), ins("B")]);
        let (a2, b2) = TextOperation::transform(&a, &b).unwrap();
        let via_a = b2.apply(&a.apply("x").unwrap()).unwrap();
        let via_b = a2.apply(&b.apply("x").unwrap()).unwrap();
        assert_eq!(via_a, "xAB");
        assert_eq!(via_b, "xAB");
    }

    #[test]
    fn transform_index_moves_cursors() {
        let o = op(&[R(2), ins("ab"), D(2), R(3)]);
        assert_eq!(o.transform_index(1, false), 1);
        assert_eq!(o.transform_index(2, false), 2);
        assert_eq!(o.transform_index(2, true), 4);
        assert_eq!(o.transform_index(3, false), 4);
        assert_eq!(o.transform_index(7, false), 7);
        assert_eq!(o.transform_index(usize::MAX, true), 7);
    }

    #[test]
    fn lengths_that_would_wrap_are_refused() {
        let half = usize::MAX / 2 + 1;
        assert_eq!(TextOperation::from_components([D(half), D(half), R(5)]), Err(OtError::TooLong));
        assert_eq!(
            TextOperation::from_components([R(usize::MAX), ins("x"), R(usize::MAX), R(7)]),
            Err(OtError::TooLong)
        );
        assert_eq!(TextOperation::from_components([R(TextOperation::MAX_LEN), ins("x")]), Err(OtError::TooLong));
        let longest = op(&[R(TextOperation::MAX_LEN)]);
        assert_eq!((longest.base_len(), longest.target_len()), (TextOperation::MAX_LEN, TextOperation::MAX_LEN));
        // Valid on their own, but transformed `a` would produce more than MAX_LEN characters.
        let a = op(&[ins("a"), R(TextOperation::MAX_LEN - 1)]);
        assert_eq!(TextOperation::transform(&a, &a), Err(OtError::TooLong));
    }
}
