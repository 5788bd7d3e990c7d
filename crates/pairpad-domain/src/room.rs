//! Rooms and the central-server side of operational transformation.
//!
//! A [`Room`] holds the document as a rope, its revision and a bounded window of the operations
//! committed most recently. [`Room::submit`] takes an edit made on top of some earlier revision,
//! transforms it over everything committed since, applies it and returns the operation as
//! committed. Persisting it and telling the participants is the caller's business.

use std::collections::VecDeque;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use crate::ot::{Component, OtError, TextOperation};

/// A room's identifier: a random (v4) UUID, shown in canonical lowercase hyphenated form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoomId(uuid::Uuid);

/// The text given as a room id is not a UUID.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a room id (a UUID such as 0b6a5a4e-5d4c-4b8e-9f5e-2f2b8c1d9a10)")]
pub struct InvalidRoomId(String);

impl RoomId {
    /// A fresh, unguessable room id.
    pub fn random() -> Self {
        Self(uuid::Uuid::new_v4())
    }

    /// Parses a room id in any letter case.
    pub fn parse(text: &str) -> Result<Self, InvalidRoomId> {
        let shown: String = text.chars().take(64).collect();
        uuid::Uuid::try_parse(text).map(Self).map_err(|_| InvalidRoomId(shown))
    }

    /// The underlying UUID.
    pub fn as_uuid(&self) -> uuid::Uuid {
        self.0
    }
}

impl From<uuid::Uuid> for RoomId {
    fn from(id: uuid::Uuid) -> Self {
        Self(id)
    }
}

impl FromStr for RoomId {
    type Err = InvalidRoomId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for RoomId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// A participant's identifier, unique per connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UserId(uuid::Uuid);

impl UserId {
    /// A fresh user id.
    pub fn random() -> Self {
        Self(uuid::Uuid::new_v4())
    }

    /// The underlying UUID.
    pub fn as_uuid(&self) -> uuid::Uuid {
        self.0
    }
}

impl From<uuid::Uuid> for UserId {
    fn from(id: uuid::Uuid) -> Self {
        Self(id)
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// A room's programming language: free text, trimmed and lowercased, 1 to 32 characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Language(String);

/// The text given as a language is empty or too long.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a language is 1 to {max} characters of letters, digits, `+`, `#`, `-`, `_` or `.`", max = Language::MAX_LEN)]
pub struct InvalidLanguage;

impl Language {
    /// The longest language name accepted.
    pub const MAX_LEN: usize = 32;

    /// Normalises and checks a language name.
    pub fn new(name: &str) -> Result<Self, InvalidLanguage> {
        let name = name.trim().to_lowercase();
        let valid_char = |c: char| c.is_alphanumeric() || "+#-_. ".contains(c);
        if name.is_empty() || name.chars().count() > Self::MAX_LEN || !name.chars().all(valid_char) {
            return Err(InvalidLanguage);
        }
        Ok(Self(name))
    }

    /// The language of rooms created without one.
    pub fn plaintext() -> Self {
        Self("plaintext".to_owned())
    }

    /// The normalised name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for Language {
    fn default() -> Self {
        Self::plaintext()
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Text holds U+0000. The protocol refuses it everywhere (documents, inserted text, `opId`s), on
/// every store alike: PostgreSQL's `text` cannot hold it, and an edit that a store cannot save
/// must be refused before it is sequenced, not when it is committed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("text must not contain the character U+0000 (NUL)")]
pub struct NulInText;

/// Checks that `text` may be part of a room: see [`NulInText`].
pub fn check_text(text: &str) -> Result<(), NulInText> {
    if text.contains('\0') { Err(NulInText) } else { Ok(()) }
}

/// Milliseconds since the Unix epoch. The domain never reads the clock: callers pass the time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl From<std::time::SystemTime> for Timestamp {
    /// Converts a time read by the caller; times before the epoch become 0.
    fn from(time: std::time::SystemTime) -> Self {
        let since_epoch = time.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        Self(i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX))
    }
}

/// A whole-document replacement, the original last-writer-wins API. The room turns it into the
/// smallest operation on its current text, so it merges with concurrent edits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeUpdate {
    /// The complete new text.
    pub code: String,
}

/// One operation as committed: the `revision` it produced, already transformed onto the revision
/// before it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommittedOp {
    /// The revision this operation produced (the first operation produces revision 1).
    pub revision: u64,
    /// The operation, applying to the document at `revision - 1`.
    pub operation: TextOperation,
    /// The client's idempotency key, if it sent one.
    pub op_id: Option<String>,
    /// Who made the edit.
    pub author: UserId,
    /// The author's display name then, for the room's history.
    pub author_name: Arc<str>,
    /// When it was committed.
    pub at: Timestamp,
}

/// A cursor or selection, in code points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Selection {
    /// Where the selection started.
    pub anchor: usize,
    /// Where the cursor is.
    pub head: usize,
}

/// What a connection may do in a room (PROTOCOL.md 1.1, "Access"). Either way it knows the room's
/// read-only id: a reader knows the room only by it, an editor may share it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Read-only: it receives every change and may change nothing.
    View {
        /// The room's read-only id, the only one a reader is shown.
        view_id: RoomId,
    },
    /// It may edit.
    Edit {
        /// The room's read-only id.
        view_id: RoomId,
    },
}

impl Access {
    /// Whether it may change the room.
    pub fn may_edit(&self) -> bool {
        matches!(self, Self::Edit { .. })
    }

    /// The id to show it for the room whose id is `room`: a reader never learns the edit id.
    pub fn shown_id(&self, room: RoomId) -> RoomId {
        match *self {
            Self::View { view_id } => view_id,
            Self::Edit { .. } => room,
        }
    }

    /// The same room, read-only.
    pub fn read_only(self) -> Self {
        match self {
            Self::View { view_id } | Self::Edit { view_id } => Self::View { view_id },
        }
    }
}

/// Someone connected to a room.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Participant {
    /// Unique per connection.
    pub user_id: UserId,
    /// The display name (shared with the operations it writes, see [`CommittedOp::author_name`]).
    pub name: Arc<str>,
    /// A CSS colour, stable for a given name.
    pub color: String,
}

impl Participant {
    /// A participant whose colour is derived from the name, so it survives reconnects.
    pub fn new(user_id: UserId, name: String) -> Self {
        const PALETTE: [&str; 12] = [
            "#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#9a6324", "#469990",
            "#800000", "#808000", "#000075",
        ];
        // FNV-1a: a fixed hash, unlike `DefaultHasher`, so the colour is stable across releases.
        let hash =
            name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
        let color = PALETTE[(hash % PALETTE.len() as u64) as usize].to_owned();
        Self { user_id, name: name.into(), color }
    }
}

/// Limits that protect a room's memory. No defaults here: the server's come from its
/// configuration (`config/default.toml`), tests name theirs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoomLimits {
    /// The longest document, in code points.
    pub max_document_chars: usize,
    /// How many recent operations stay in memory for transforming late edits and spotting
    /// re-sent ones. Older base revisions need the store.
    pub history_window: usize,
}

/// An edit a participant sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edit {
    /// The revision the operation was made on.
    pub base_revision: u64,
    /// The operation, spanning the document at `base_revision`.
    pub operation: TextOperation,
    /// The client's idempotency key.
    pub op_id: Option<String>,
    /// Who sent it.
    pub author: UserId,
    /// The author's display name.
    pub author_name: Arc<str>,
}

/// What [`Room::submit`] did with an edit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EditOutcome {
    /// The edit was transformed, applied and is now this operation.
    Applied(CommittedOp),
    /// An edit with the same `opId` was already committed as this revision; nothing changed.
    Duplicate {
        /// The revision the original produced.
        revision: u64,
    },
}

/// Why an edit was refused. The room is unchanged.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    /// The base revision is newer than the room's.
    #[error("revision {base} is newer than the room's revision {current}")]
    FutureRevision {
        /// The edit's base revision.
        base: u64,
        /// The room's revision.
        current: u64,
    },
    /// The operations since the base revision are neither in memory nor in what the caller passed.
    #[error("revision {base} is older than the history kept; reload the document")]
    StaleRevision {
        /// The edit's base revision.
        base: u64,
    },
    /// The operation does not fit the document at its base revision.
    #[error("invalid operation: {0}")]
    InvalidOperation(#[from] OtError),
    /// The operation inserts text the protocol refuses.
    #[error("invalid text: {0}")]
    InvalidText(#[from] NulInText),
    /// Applying it would make the document longer than allowed.
    #[error("the document would have {chars} characters; the limit is {max}")]
    DocumentTooLarge {
        /// The length the document would have.
        chars: usize,
        /// The limit.
        max: usize,
    },
}

/// A room's live state: the single place where its edits are sequenced.
#[derive(Clone, Debug)]
pub struct Room {
    id: RoomId,
    language: Language,
    document: ropey::Rope,
    revision: u64,
    created_at: Timestamp,
    updated_at: Timestamp,
    /// The most recent committed operations, oldest first, ending at `revision`.
    history: VecDeque<CommittedOp>,
    limits: RoomLimits,
    /// The document at `durable_revision`, the latest revision known to be stored: where
    /// [`Room::rebase`] starts again when another writer stored other operations after it. A rope
    /// clone shares its nodes, so keeping it costs little.
    durable: ropey::Rope,
    durable_revision: u64,
}

/// Why [`Room::rebase`] could not apply the operations it was given. The room is then unusable
/// (its document is reset partway) and must be loaded again.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RebaseError {
    /// The operations do not follow on from the durable revision one by one.
    #[error("expected revision {expected}, got {got}: the operations have a gap")]
    Gap {
        /// The revision that was due.
        expected: u64,
        /// The revision given.
        got: u64,
    },
    /// An operation does not fit the document.
    #[error("a stored operation does not apply: {0}")]
    Invalid(#[from] OtError),
}

impl Room {
    /// A room whose document is `code` at `revision`.
    pub fn new(
        id: RoomId,
        language: Language,
        code: &str,
        revision: u64,
        created_at: Timestamp,
        limits: RoomLimits,
    ) -> Self {
        let document = ropey::Rope::from_str(code);
        Self {
            id,
            language,
            durable: document.clone(),
            durable_revision: revision,
            document,
            revision,
            created_at,
            updated_at: created_at,
            history: VecDeque::new(),
            limits,
        }
    }

    /// Rebuilds a room from a stored snapshot and the operations committed after it.
    pub fn restore(stored: crate::ports::StoredRoom, limits: RoomLimits) -> Result<Self, OtError> {
        let mut room = Self::new(
            stored.id,
            stored.language,
            &stored.snapshot.code,
            stored.snapshot.revision,
            stored.created_at,
            limits,
        );
        room.updated_at = stored.updated_at;
        for op in stored.ops_after_snapshot {
            op.operation.apply_to_rope(&mut room.document)?;
            room.revision = op.revision;
            room.remember(op);
        }
        room.confirm(room.revision)?;
        Ok(room)
    }

    /// The room's id.
    pub fn id(&self) -> RoomId {
        self.id
    }

    /// The room's language.
    pub fn language(&self) -> &Language {
        &self.language
    }

    /// Changes the room's language.
    pub fn set_language(&mut self, language: Language, at: Timestamp) {
        self.language = language;
        self.updated_at = at;
    }

    /// The latest revision: the number of operations ever committed to the room (plus the
    /// revision it was created at).
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// The document's length in code points.
    pub fn len_chars(&self) -> usize {
        self.document.len_chars()
    }

    /// The whole document. Costs O(n): for snapshots and joins, not for every keystroke.
    pub fn text(&self) -> String {
        self.document.to_string()
    }

    /// When the room was created.
    pub fn created_at(&self) -> Timestamp {
        self.created_at
    }

    /// When the room last changed.
    pub fn updated_at(&self) -> Timestamp {
        self.updated_at
    }

    /// Whether the operations after `base` are all in memory.
    pub fn has_history_since(&self, base: u64) -> bool {
        let oldest_base = self.revision - self.history.len() as u64;
        base >= oldest_base
    }

    /// Sequences an edit: transforms it over the operations committed after its base revision,
    /// checks it, applies it and records it. `older` holds operations the caller read from the
    /// store when [`Room::has_history_since`] was false; they are used only where memory has
    /// nothing.
    ///
    /// Two edits made on the same revision: the first applies as it is, the second is transformed
    /// over it.
    ///
    /// ```
    /// use pairpad_domain::{Component, Edit, EditOutcome, Language, Room, RoomId, RoomLimits, TextOperation};
    /// use pairpad_domain::{Timestamp, UserId};
    ///
    /// let limits = RoomLimits { max_document_chars: 1000, history_window: 100 };
    /// let mut room = Room::new(RoomId::random(), Language::plaintext(), "cat", 0, Timestamp(0), limits);
    /// let on_revision_0 = |operation| Edit {
    ///     base_revision: 0,
    ///     operation,
    ///     op_id: None,
    ///     author: UserId::random(),
    ///     author_name: "Ada".into(),
    /// };
    /// let mut article = TextOperation::new();
    /// article.insert("a ")?.retain(3)?;
    /// let mut plural = TextOperation::new();
    /// plural.retain(3)?.insert("s")?;
    ///
    /// room.submit(on_revision_0(article), &[], Timestamp(1))?;
    /// let EditOutcome::Applied(committed) = room.submit(on_revision_0(plural), &[], Timestamp(2))? else {
    ///     panic!("not a duplicate: it has no op id");
    /// };
    /// assert_eq!(committed.revision, 2);
    /// assert_eq!(committed.operation.components(), [Component::Retain(5), Component::Insert("s".into())]);
    /// assert_eq!(room.text(), "a cats");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn submit(&mut self, edit: Edit, older: &[CommittedOp], at: Timestamp) -> Result<EditOutcome, EditError> {
        for component in edit.operation.components() {
            if let Component::Insert(text) = component {
                check_text(text)?;
            }
        }
        let current = self.revision;
        if edit.base_revision > current {
            return Err(EditError::FutureRevision { base: edit.base_revision, current });
        }
        let concurrent: Vec<&CommittedOp> = if self.has_history_since(edit.base_revision) {
            let skip = self.history.len() - (current - edit.base_revision) as usize;
            self.history.iter().skip(skip).collect()
        } else {
            let oldest_in_memory = self.history.front().map_or(current + 1, |op| op.revision);
            let from_store =
                older.iter().filter(|op| op.revision > edit.base_revision && op.revision < oldest_in_memory);
            let ops: Vec<&CommittedOp> = from_store.chain(self.history.iter()).collect();
            if ops.len() as u64 != current - edit.base_revision {
                return Err(EditError::StaleRevision { base: edit.base_revision });
            }
            ops
        };
        if let Some(op_id) = &edit.op_id
            && let Some(original) = concurrent.iter().find(|op| op.op_id.as_ref() == Some(op_id))
        {
            return Ok(EditOutcome::Duplicate { revision: original.revision });
        }
        let mut operation = edit.operation;
        for committed in concurrent {
            operation = TextOperation::transform(&operation, &committed.operation)?.0;
        }
        if operation.base_len() != self.document.len_chars() {
            return Err(OtError::BaseLengthMismatch {
                expected: operation.base_len(),
                actual: self.document.len_chars(),
            }
            .into());
        }
        if operation.target_len() > self.limits.max_document_chars {
            return Err(EditError::DocumentTooLarge {
                chars: operation.target_len(),
                max: self.limits.max_document_chars,
            });
        }
        operation.apply_to_rope(&mut self.document)?;
        self.revision += 1;
        self.updated_at = at;
        let committed = CommittedOp {
            revision: self.revision,
            operation,
            op_id: edit.op_id,
            author: edit.author,
            author_name: edit.author_name,
            at,
        };
        self.remember(committed.clone());
        Ok(EditOutcome::Applied(committed))
    }

    /// Records that the operations through `revision` are stored, so that [`Room::rebase`] keeps
    /// them. Revisions at or below the durable one, or beyond the room's, change nothing. An
    /// error means the room's state is inconsistent (it applied an operation it cannot apply
    /// again): it must be loaded afresh.
    pub fn confirm(&mut self, revision: u64) -> Result<(), OtError> {
        if revision <= self.durable_revision || revision > self.revision {
            return Ok(());
        }
        if revision == self.revision {
            self.durable = self.document.clone();
        } else {
            // Operations after the durable revision are always in memory (see `remember`), the
            // last of the history, which ends at `self.revision`.
            let unconfirmed = (self.revision - self.durable_revision) as usize;
            let newly_stored = (revision - self.durable_revision) as usize;
            let first = self.history.len().saturating_sub(unconfirmed);
            for op in self.history.range(first..).take(newly_stored) {
                op.operation.apply_to_rope(&mut self.durable)?;
            }
        }
        self.durable_revision = revision;
        self.forget_beyond_window();
        Ok(())
    }

    /// The text at [`Room::durable_revision`]: what a newcomer starts from, since operations not
    /// yet stored may still be sequenced again (see [`Room::rebase`]). Costs O(n).
    pub fn durable_text(&self) -> String {
        self.durable.to_string()
    }

    /// The stored operations after `base`, through [`Room::durable_revision`], when memory still
    /// holds them all: what a participant that knew the room at `base` missed.
    pub fn durable_ops_after(&self, base: u64) -> Option<Vec<CommittedOp>> {
        if base > self.durable_revision || !self.has_history_since(base) {
            return None;
        }
        let missed = self.history.iter().filter(|op| op.revision > base && op.revision <= self.durable_revision);
        Some(missed.cloned().collect())
    }

    /// The latest revision confirmed stored (see [`Room::confirm`]).
    pub fn durable_revision(&self) -> u64 {
        self.durable_revision
    }

    /// Another writer stored `stored` after the durable revision: forgets the operations this room
    /// sequenced after it (the caller sequences their edits again, on top) and applies `stored`,
    /// which become durable. `stored` must start at the durable revision + 1, without gaps.
    pub fn rebase(&mut self, stored: &[CommittedOp]) -> Result<(), RebaseError> {
        self.document = self.durable.clone();
        while self.history.back().is_some_and(|op| op.revision > self.durable_revision) {
            self.history.pop_back();
        }
        self.revision = self.durable_revision;
        for op in stored {
            if op.revision != self.revision + 1 {
                return Err(RebaseError::Gap { expected: self.revision + 1, got: op.revision });
            }
            op.operation.apply_to_rope(&mut self.document)?;
            self.revision = op.revision;
            self.updated_at = self.updated_at.max(op.at);
            self.remember(op.clone());
        }
        self.durable = self.document.clone();
        self.durable_revision = self.revision;
        self.forget_beyond_window();
        Ok(())
    }

    /// Turns a whole-text replacement into the smallest operation on the current revision.
    pub fn code_update_to_edit(&self, update: &CodeUpdate, author: UserId, author_name: Arc<str>) -> Edit {
        Edit {
            base_revision: self.revision,
            operation: TextOperation::diff(&self.text(), &update.code),
            op_id: None,
            author,
            author_name,
        }
    }

    /// Keeps an operation for transforming late edits. The window counts stored operations only:
    /// those not yet stored stay whatever their number, as [`Room::confirm`] and
    /// [`Room::rebase`] need them.
    fn remember(&mut self, op: CommittedOp) {
        self.history.push_back(op);
        self.forget_beyond_window();
    }

    fn forget_beyond_window(&mut self) {
        while self.history.len() > self.limits.history_window
            && self.history.front().is_some_and(|op| op.revision <= self.durable_revision)
        {
            self.history.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ot::Component::{Delete as D, Insert as I, Retain as R};

    fn room(code: &str) -> Room {
        Room::new(
            RoomId::random(),
            Language::plaintext(),
            code,
            0,
            Timestamp(0),
            RoomLimits { max_document_chars: 20, history_window: 2 },
        )
    }

    fn edit(base: u64, components: Vec<crate::ot::Component>, op_id: Option<&str>) -> Edit {
        Edit {
            base_revision: base,
            operation: TextOperation::from_components(components).unwrap(),
            op_id: op_id.map(str::to_owned),
            author: UserId::random(),
            author_name: "Ada".into(),
        }
    }

    #[test]
    fn concurrent_edits_are_transformed() {
        let mut r = room("abc");
        r.submit(edit(0, vec![I("X".into()), R(3)], None), &[], Timestamp(1)).unwrap();
        let out = r.submit(edit(0, vec![R(3), I("Y".into())], None), &[], Timestamp(2)).unwrap();
        assert!(matches!(out, EditOutcome::Applied(CommittedOp { revision: 2, .. })));
        assert_eq!(r.text(), "XabcY");
    }

    #[test]
    fn resent_op_id_is_a_duplicate() {
        let mut r = room("");
        r.submit(edit(0, vec![I("a".into())], Some("c1-1")), &[], Timestamp(1)).unwrap();
        let again = r.submit(edit(0, vec![I("a".into())], Some("c1-1")), &[], Timestamp(2)).unwrap();
        assert_eq!(again, EditOutcome::Duplicate { revision: 1 });
        assert_eq!(r.text(), "a");
    }

    #[test]
    fn bad_edits_change_nothing() {
        let mut r = room("abc");
        let err = r.submit(edit(5, vec![R(3)], None), &[], Timestamp(1)).unwrap_err();
        assert_eq!(err, EditError::FutureRevision { base: 5, current: 0 });
        assert!(matches!(r.submit(edit(0, vec![R(4)], None), &[], Timestamp(1)), Err(EditError::InvalidOperation(_))));
        let big = "x".repeat(30);
        assert!(matches!(
            r.submit(edit(0, vec![R(3), I(big)], None), &[], Timestamp(1)),
            Err(EditError::DocumentTooLarge { .. })
        ));
        let nul = r.submit(edit(0, vec![R(1), I("x\0y".into()), R(2)], None), &[], Timestamp(1));
        assert_eq!(nul, Err(EditError::InvalidText(NulInText)));
        let update = CodeUpdate { code: "a\0bc".into() };
        let nul = r.submit(r.code_update_to_edit(&update, UserId::random(), "a".into()), &[], Timestamp(1));
        assert_eq!(nul, Err(EditError::InvalidText(NulInText)));
        assert_eq!((r.text().as_str(), r.revision()), ("abc", 0));
    }

    #[test]
    fn old_base_revisions_need_the_store() {
        let mut r = room("");
        let mut log = Vec::new();
        for i in 0..4u64 {
            let EditOutcome::Applied(op) = r
                .submit(edit(i, vec![R(i as usize), I("x".into())], Some(&format!("o{i}"))), &[], Timestamp(1))
                .unwrap()
            else {
                panic!("applied expected")
            };
            // Stored: only stored operations leave the window.
            r.confirm(op.revision).unwrap();
            log.push(op);
        }
        assert!(!r.has_history_since(1));
        assert_eq!(
            r.submit(edit(1, vec![D(1)], None), &[], Timestamp(2)).unwrap_err(),
            EditError::StaleRevision { base: 1 }
        );
        // Duplicates are found in what the store returned, too.
        assert_eq!(
            r.submit(edit(0, vec![I("x".into())], Some("o0")), &log, Timestamp(2)).unwrap(),
            EditOutcome::Duplicate { revision: 1 }
        );
        r.submit(edit(1, vec![D(1)], None), &log, Timestamp(2)).unwrap();
        assert_eq!(r.text(), "xxx");
    }

    #[test]
    fn code_update_becomes_a_diff() {
        let r = room("fn main() {}");
        let e = r.code_update_to_edit(&CodeUpdate { code: "fn main() { 1 }".into() }, UserId::random(), "a".into());
        assert_eq!(e.operation.components(), &[R(11), I(" 1 ".into()), R(1)]);
    }

    #[test]
    fn languages_are_normalised() {
        assert_eq!(Language::new(" Python ").unwrap().as_str(), "python");
        assert!(Language::new("").is_err());
        assert!(Language::new(&"x".repeat(33)).is_err());
        assert!(Language::new("c++").is_ok());
    }

    #[test]
    fn room_ids_parse_any_case() {
        let id = RoomId::random();
        assert_eq!(RoomId::parse(&id.to_string().to_uppercase()).unwrap(), id);
        assert!(RoomId::parse("nope").is_err());
    }

    #[test]
    fn a_rebase_drops_what_was_not_stored_and_applies_what_was() {
        let mut room = Room::new(
            RoomId::random(),
            Language::plaintext(),
            "abc",
            0,
            Timestamp(0),
            RoomLimits { max_document_chars: 100, history_window: 10 },
        );
        let (me, other) = (UserId::random(), UserId::random());
        let insert = |base: u64, at: usize, text: &str, len: usize| Edit {
            base_revision: base,
            operation: TextOperation::from_components(vec![R(at), I(text.into()), R(len - at)]).unwrap(),
            op_id: Some(format!("{base}{text}")),
            author: me,
            author_name: "Me".into(),
        };
        room.submit(insert(0, 0, "X", 3), &[], Timestamp(1)).unwrap();
        room.confirm(1).unwrap();
        let mine = insert(1, 4, "Y", 4);
        room.submit(mine.clone(), &[], Timestamp(2)).unwrap();
        assert_eq!(room.text(), "XabcY");
        // Another writer stored revision 2 first.
        let theirs = CommittedOp {
            revision: 2,
            operation: TextOperation::from_components(vec![R(1), I("Z".into()), R(3)]).unwrap(),
            op_id: None,
            author: other,
            author_name: "Other".into(),
            at: Timestamp(3),
        };
        room.rebase(std::slice::from_ref(&theirs)).unwrap();
        assert_eq!((room.text().as_str(), room.revision(), room.durable_revision()), ("XZabc", 2, 2));
        // The dropped edit, sequenced again, lands on top of theirs.
        let EditOutcome::Applied(op) = room.submit(mine, &[], Timestamp(4)).unwrap() else { panic!("applied") };
        assert_eq!((op.revision, room.text().as_str()), (3, "XZabcY"));
        // A gap is refused.
        let mut later = theirs;
        later.revision = 5;
        assert_eq!(room.rebase(&[later]), Err(RebaseError::Gap { expected: 3, got: 5 }));
    }

    #[test]
    fn a_partial_confirmation_keeps_exactly_the_stored_operations() {
        let mut r = room("");
        for i in 0..3u64 {
            r.submit(edit(i, vec![R(i as usize), I(i.to_string())], None), &[], Timestamp(1)).unwrap();
        }
        r.confirm(1).unwrap();
        r.confirm(2).unwrap();
        assert_eq!((r.text().as_str(), r.durable_text().as_str(), r.durable_revision()), ("012", "01", 2));
        r.rebase(&[]).unwrap();
        assert_eq!((r.text().as_str(), r.revision()), ("01", 2));
    }

    #[test]
    fn what_a_returning_participant_missed_is_the_stored_operations_memory_holds() {
        let mut r = room("");
        for i in 0..5u64 {
            r.submit(edit(i, vec![R(i as usize), I(i.to_string())], None), &[], Timestamp(1)).unwrap();
        }
        r.confirm(4).unwrap();
        let revisions =
            |ops: Option<Vec<CommittedOp>>| ops.map(|ops| ops.iter().map(|op| op.revision).collect::<Vec<_>>());
        // The window of 2 holds the stored 4 and the unstored 5.
        assert_eq!(revisions(r.durable_ops_after(3)), Some(vec![4]));
        assert_eq!(revisions(r.durable_ops_after(4)), Some(vec![]));
        assert_eq!(r.durable_ops_after(2), None, "revision 3 left memory");
        assert_eq!(r.durable_ops_after(5), None, "not stored yet");
    }
}
