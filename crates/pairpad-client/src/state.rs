//! The client side of OT, as in ot.js: at most one operation awaits its ack; edits made meanwhile
//! are composed into a buffer sent once the ack arrives. No I/O here: methods return what to send.
//!
//! Reconnecting (PROTOCOL.md 1.1, "Resuming"): the client asks to resume after
//! [`ClientDoc::revision`]. On `resume` ([`ClientDoc::resumed`]) it keeps its document, processes
//! the missed operations as live traffic (one carrying the `opId` of its operation in flight is
//! that operation's ack) and re-sends what is unacknowledged; an ack for an operation already
//! counted is ignored. On a fresh `init` ([`ClientDoc::restart`]) it rebases its unacknowledged
//! work by diff: `transform(diff(S, M), diff(S, code))`, with `S` the text last shared with the
//! server and `M` its own.

use pairpad_domain::{Component, OtError, TextOperation};

/// An operation to send: `{"type":"operation","revision","ops","opId"}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outgoing {
    pub revision: u64,
    pub operation: TextOperation,
    pub op_id: String,
}

/// A server message this state machine cannot accept: the client and the server disagree.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Ot(#[from] OtError),
    /// Revisions must arrive one after another (PROTOCOL.md, "Ordering").
    #[error("got revision {got} after {seen}")]
    OutOfOrder { seen: u64, got: u64 },
    /// A `resume` must start where the client asked.
    #[error("the server resumed after revision {got}, but this client is at {seen}")]
    ResumedElsewhere { seen: u64, got: u64 },
    /// The server committed our operation as something else than what we hold.
    #[error("the server's copy of our operation {op_id} differs from ours")]
    Diverged { op_id: String },
}

/// What an `ack`, or an `operation` carrying one of our `opId`s, meant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Confirmed {
    /// Our operation in flight is now the server's revision; send `next` (the buffer), if any.
    Counted { next: Option<Outgoing> },
    /// One of our operations that was already counted (its second confirmation after a resume,
    /// the first one counts): nothing changed.
    Duplicate,
    /// An ack for an operation this document did not send (a raw message): nothing changed.
    Foreign,
}

/// What a server `operation` meant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Received {
    /// Another participant's operation, applied.
    Applied,
    /// Another participant's operation, held until our re-sent operation is confirmed (after a
    /// resume), then applied in order.
    Held,
    /// Our own operation (after a resume): its ack, or a duplicate of one already counted.
    Own(Confirmed),
}

#[derive(Clone, Debug)]
enum Sync {
    /// Everything local is acknowledged.
    Synchronized,
    /// One operation is in flight.
    AwaitingConfirm { outstanding: Outgoing },
    /// One is in flight and more edits wait in `buffer`.
    AwaitingWithBuffer { outstanding: Outgoing, buffer: TextOperation },
}

/// A client's document and its synchronisation state.
#[derive(Clone, Debug)]
pub struct ClientDoc {
    /// `M`: the server's text plus every local edit not yet acknowledged.
    text: ropey::Rope,
    /// `S`: the server's text at `revision`, without any local edit that is not acknowledged;
    /// `None` while that is `text` (every local edit is acknowledged), so that a synchronized
    /// client applies a remote operation once, not twice (a crowded room sends hundreds a second).
    server: Option<ropey::Rope>,
    revision: u64,
    sync: Sync,
    client_id: String,
    /// The sequence number of the last `opId` made (`{client_id}-{n}`).
    next_op: u64,
    /// Every `opId` of ours numbered up to this is settled: counted, or dropped into a diff.
    settled: u64,
    /// After a resume with an operation in flight, until it is confirmed: the operations
    /// received meanwhile, not applied yet. The old connection's copy of that operation may
    /// still be committed after the resume's missed operations, and then comes as a live
    /// `operation` without its `opId`; the ack of the re-sent copy names its revision.
    held: Option<Vec<(u64, TextOperation)>>,
    /// A revision our operation was counted at by its ack while its live copy (see `held`) may
    /// still come: that copy is ignored.
    copy_expected: Option<u64>,
}

impl ClientDoc {
    /// A document as received in `init`.
    pub fn new(text: &str, revision: u64, client_id: impl Into<String>) -> Self {
        Self {
            server: None,
            text: ropey::Rope::from_str(text),
            revision,
            sync: Sync::Synchronized,
            client_id: client_id.into(),
            next_op: 0,
            settled: 0,
            held: None,
            copy_expected: None,
        }
    }

    /// The local text (server text plus pending local edits).
    pub fn text(&self) -> String {
        self.text.to_string()
    }

    /// The local text's length in code points.
    pub fn len_chars(&self) -> usize {
        self.text.len_chars()
    }

    /// The server's text at [`ClientDoc::revision`], without the local edits still pending.
    pub fn server_text(&self) -> String {
        self.server.as_ref().unwrap_or(&self.text).to_string()
    }

    /// The last server revision this client has seen (acknowledged or received): the `since` of
    /// a resume.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// Whether every local edit is acknowledged.
    pub fn is_synchronized(&self) -> bool {
        matches!(self.sync, Sync::Synchronized)
    }

    /// The operation in flight, if any.
    pub fn outstanding(&self) -> Option<&Outgoing> {
        match &self.sync {
            Sync::Synchronized => None,
            Sync::AwaitingConfirm { outstanding } | Sync::AwaitingWithBuffer { outstanding, .. } => Some(outstanding),
        }
    }

    fn outgoing(&mut self, operation: TextOperation) -> Outgoing {
        self.next_op += 1;
        Outgoing { revision: self.revision, operation, op_id: format!("{}-{}", self.client_id, self.next_op) }
    }

    /// The sequence number of one of our `opId`s; `None` for anyone else's.
    fn own_sequence(&self, op_id: &str) -> Option<u64> {
        let (client, n) = op_id.rsplit_once('-')?;
        if client != self.client_id {
            return None;
        }
        n.parse().ok()
    }

    /// Applies a local edit. Returns the operation to send now, if nothing is in flight.
    pub fn local_edit(&mut self, operation: TextOperation) -> Result<Option<Outgoing>, OtError> {
        // The texts part here (a rope's clone shares its nodes until either is edited).
        if self.server.is_none() {
            self.server = Some(self.text.clone());
        }
        operation.apply_to_rope(&mut self.text)?;
        self.sync = match std::mem::replace(&mut self.sync, Sync::Synchronized) {
            Sync::Synchronized => {
                let outstanding = self.outgoing(operation);
                self.sync = Sync::AwaitingConfirm { outstanding: outstanding.clone() };
                return Ok(Some(outstanding));
            }
            Sync::AwaitingConfirm { outstanding } => Sync::AwaitingWithBuffer { outstanding, buffer: operation },
            Sync::AwaitingWithBuffer { outstanding, buffer } => {
                Sync::AwaitingWithBuffer { outstanding, buffer: buffer.compose(&operation)? }
            }
        };
        Ok(None)
    }

    /// An `ack` for `op_id` as `revision`. The operation in flight is counted (and the buffer, if
    /// any, returned to be sent); an ack for one of ours already counted is ignored.
    pub fn ack(&mut self, revision: u64, op_id: Option<&str>) -> Result<Confirmed, SyncError> {
        let in_flight = match (self.outstanding(), op_id) {
            (Some(outstanding), Some(id)) => outstanding.op_id == id,
            // A server that does not echo `opId`s: acks come in order, so it is ours.
            (Some(_), None) => true,
            (None, _) => false,
        };
        if in_flight {
            return match self.held.take() {
                Some(held) => self.release(held, Some(revision)),
                None => self.count(revision),
            };
        }
        Ok(self.not_in_flight(op_id))
    }

    fn not_in_flight(&self, op_id: Option<&str>) -> Confirmed {
        match op_id.and_then(|id| self.own_sequence(id)) {
            Some(n) if n <= self.settled => Confirmed::Duplicate,
            _ => Confirmed::Foreign,
        }
    }

    /// The operation in flight became `revision`.
    fn count(&mut self, revision: u64) -> Result<Confirmed, SyncError> {
        if revision != self.revision + 1 {
            return Err(SyncError::OutOfOrder { seen: self.revision, got: revision });
        }
        let (outstanding, buffer) = match std::mem::replace(&mut self.sync, Sync::Synchronized) {
            Sync::Synchronized => return Ok(Confirmed::Foreign),
            Sync::AwaitingConfirm { outstanding } => (outstanding, None),
            Sync::AwaitingWithBuffer { outstanding, buffer } => (outstanding, Some(buffer)),
        };
        if let Some(server) = &mut self.server {
            outstanding.operation.apply_to_rope(server)?;
        }
        self.revision = revision;
        self.settled = self.own_sequence(&outstanding.op_id).unwrap_or(self.settled).max(self.settled);
        let next = buffer.map(|buffer| {
            let next = self.outgoing(buffer);
            self.sync = Sync::AwaitingConfirm { outstanding: next.clone() };
            next
        });
        if next.is_none() {
            // Nothing local is pending any more: the server's text is ours.
            self.server = None;
        }
        Ok(Confirmed::Counted { next })
    }

    /// A server `operation` that turns `revision - 1` into `revision`. One carrying the `opId` of
    /// our operation in flight (as after a resume) is its ack; one of ours already counted is
    /// ignored; anyone else's is applied.
    pub fn remote(
        &mut self,
        revision: u64,
        operation: &TextOperation,
        op_id: Option<&str>,
    ) -> Result<Received, SyncError> {
        if let Some(id) = op_id {
            if self.outstanding().is_some_and(|o| o.op_id == id) {
                if let Some(held) = self.held.take() {
                    // Everything held came before it: apply that first.
                    self.release(held, None)?;
                }
                return self.count_copy(revision, operation, id).map(Received::Own);
            }
            if let Confirmed::Duplicate = self.not_in_flight(Some(id)) {
                if revision > self.revision {
                    // Counted at an earlier revision, yet now at a later one: not the same history.
                    return Err(SyncError::Diverged { op_id: id.to_owned() });
                }
                return Ok(Received::Own(Confirmed::Duplicate));
            }
        }
        if op_id.is_none() && self.copy_expected.take_if(|copy| *copy == revision).is_some() {
            return Ok(Received::Own(Confirmed::Duplicate));
        }
        if let Some(held) = &mut self.held {
            held.push((revision, operation.clone()));
            return Ok(Received::Held);
        }
        self.apply_remote(revision, operation)?;
        Ok(Received::Applied)
    }

    /// Our operation in flight, as the server committed it at `revision`: its ack.
    fn count_copy(&mut self, revision: u64, operation: &TextOperation, op_id: &str) -> Result<Confirmed, SyncError> {
        if self.outstanding().is_some_and(|o| o.operation != *operation) && revision == self.revision + 1 {
            return Err(SyncError::Diverged { op_id: op_id.to_owned() });
        }
        self.count(revision)
    }

    /// Applies the operations held since a resume, in order, now that the operation in flight is
    /// confirmed (`acked` names its revision when an ack did; the held operation at that
    /// revision, if any, is its copy).
    fn release(&mut self, held: Vec<(u64, TextOperation)>, acked: Option<u64>) -> Result<Confirmed, SyncError> {
        let mut confirmed = None;
        for (revision, operation) in held {
            if let Some(at) = acked.filter(|at| confirmed.is_none() && *at == self.revision + 1) {
                if revision == at {
                    let op_id = self.outstanding().map(|o| o.op_id.clone()).unwrap_or_default();
                    confirmed = Some(self.count_copy(at, &operation, &op_id)?);
                    continue;
                }
                confirmed = Some(self.count(at)?);
                self.copy_expected = Some(at);
            }
            self.apply_remote(revision, &operation)?;
        }
        if let (None, Some(at)) = (&confirmed, acked) {
            confirmed = Some(self.count(at)?);
            self.copy_expected = Some(at);
        }
        Ok(confirmed.unwrap_or(Confirmed::Foreign))
    }

    /// Applies another participant's operation, which turns `revision - 1` into `revision`.
    fn apply_remote(&mut self, revision: u64, operation: &TextOperation) -> Result<(), SyncError> {
        if revision != self.revision + 1 {
            return Err(SyncError::OutOfOrder { seen: self.revision, got: revision });
        }
        let for_text = match &mut self.sync {
            Sync::Synchronized => operation.clone(),
            Sync::AwaitingConfirm { outstanding } => {
                let (pending, theirs) = TextOperation::transform(&outstanding.operation, operation)?;
                outstanding.operation = pending;
                outstanding.revision = revision;
                theirs
            }
            Sync::AwaitingWithBuffer { outstanding, buffer } => {
                let (pending, theirs) = TextOperation::transform(&outstanding.operation, operation)?;
                let (buffered, for_text) = TextOperation::transform(buffer, &theirs)?;
                outstanding.operation = pending;
                outstanding.revision = revision;
                *buffer = buffered;
                for_text
            }
        };
        if let Some(server) = &mut self.server {
            operation.apply_to_rope(server)?;
        }
        for_text.apply_to_rope(&mut self.text)?;
        self.revision = revision;
        Ok(())
    }

    /// After a reconnect's `resume` after `revision` (which must be this document's): the document
    /// stays as it is; the operation in flight, if any, is returned to be re-sent as it is (same
    /// `opId`, based on this revision). The missed operations that follow go to
    /// [`ClientDoc::remote`] like live traffic; while the operation in flight is not confirmed,
    /// the others are held, then applied ([`Received::Held`]): its old copy may yet come as a
    /// live operation without `opId`, which only the ack of the re-sent one tells apart.
    pub fn resumed(&mut self, revision: u64) -> Result<Option<Outgoing>, SyncError> {
        if revision != self.revision {
            return Err(SyncError::ResumedElsewhere { seen: self.revision, got: revision });
        }
        let outstanding = self.outstanding().cloned();
        self.held = outstanding.as_ref().map(|_| Vec::new());
        self.copy_expected = None;
        Ok(outstanding)
    }

    /// After a reconnect's fresh `init` (`code` at `revision`, the server could not resume): the
    /// document becomes the server's, with the unacknowledged work rebased onto it by diff
    /// (PROTOCOL.md: `transform(diff(S, M), diff(S, code))`, `S` the text last shared with the
    /// server, `M` this client's). Returns that work as one operation with a fresh `opId`, to
    /// send; the old pending operations are dropped (they are inside it). Work the server had
    /// already applied (it is in `code`) may be duplicated: only a resume prevents that.
    pub fn restart(&mut self, code: &str, revision: u64) -> Result<Option<Outgoing>, SyncError> {
        let pending = !self.is_synchronized();
        let rebased = if pending {
            let shared = self.server_text();
            let mine = diff(&shared, &self.text.to_string())?;
            let theirs = diff(&shared, code)?;
            Some(TextOperation::transform(&mine, &theirs)?.0)
        } else {
            None
        };
        self.sync = Sync::Synchronized;
        self.settled = self.next_op;
        self.held = None;
        self.copy_expected = None;
        self.server = None;
        self.text = ropey::Rope::from_str(code);
        self.revision = revision;
        match rebased {
            Some(rebased) if !rebased.is_noop() => Ok(self.local_edit(rebased)?),
            _ => Ok(None),
        }
    }
}

/// The operation that turns `old` into `new`, from a real diff (`similar`'s Myers, which bounds
/// its work on pathological inputs): unchanged runs are retained, so edits made elsewhere in the
/// text meanwhile survive a transform against it. As diff-match-patch's line mode: lines first,
/// so that lines added or removed are whole lines (a char diff among alike lines would keep a
/// few of a removed line's chars, or split an added one, and a transform against the other
/// side's line edits would then break lines); then chars within each run of changed lines, so
/// that an edited line merges with others' edits of it. Positions count `char`s.
pub fn diff(old: &str, new: &str) -> Result<TextOperation, OtError> {
    use similar::DiffTag;
    let old: Vec<&str> = old.split_inclusive('\n').collect();
    let new: Vec<&str> = new.split_inclusive('\n').collect();
    let chars = |lines: &[&str]| lines.iter().map(|line| line.chars().count()).sum::<usize>();
    let mut operation = TextOperation::new();
    for run in similar::capture_diff_slices(similar::Algorithm::Myers, &old, &new) {
        let (tag, old_lines, new_lines) = run.as_tag_tuple();
        match tag {
            DiffTag::Equal => operation.retain(chars(&old[old_lines]))?,
            DiffTag::Delete => operation.delete(chars(&old[old_lines]))?,
            DiffTag::Insert => operation.insert(&new[new_lines].concat())?,
            DiffTag::Replace => {
                for component in char_diff(&old[old_lines].concat(), &new[new_lines].concat())?.components() {
                    match component {
                        Component::Retain(n) => operation.retain(*n)?,
                        Component::Delete(n) => operation.delete(*n)?,
                        Component::Insert(text) => operation.insert(text)?,
                    };
                }
                &mut operation
            }
        };
    }
    Ok(operation)
}

/// [`diff`] over chars. Where an insert or a delete could equally sit a few characters earlier
/// or later (the text repeats around it: adding `"b\n"` before `"a\n"` = adding `"\nb"` before
/// the `"\n"` ahead of it), it is put on line (else word) boundaries, as diff-match-patch's
/// lossless clean-up does.
fn char_diff(old: &str, new: &str) -> Result<TextOperation, OtError> {
    use similar::DiffTag;
    let old: Vec<char> = old.chars().collect();
    let new: Vec<char> = new.chars().collect();
    let mut runs: Vec<_> = similar::capture_diff_slices(similar::Algorithm::Myers, &old, &new)
        .iter()
        .map(similar::DiffOp::as_tag_tuple)
        .collect();
    for i in 1..runs.len().saturating_sub(1) {
        let (before, after) = (runs[i - 1].0, runs[i + 1].0);
        let (text, edit, room_before, room_after) = match runs[i].0 {
            DiffTag::Insert => (&new, runs[i].2.clone(), runs[i - 1].2.len(), runs[i + 1].2.len()),
            DiffTag::Delete => (&old, runs[i].1.clone(), runs[i - 1].1.len(), runs[i + 1].1.len()),
            _ => continue,
        };
        if before != DiffTag::Equal || after != DiffTag::Equal {
            continue;
        }
        let shift = best_shift(text, edit, room_before, room_after);
        if shift != 0 {
            for (run, grow_end, grow_start) in [(i - 1, true, false), (i, true, true), (i + 1, false, true)] {
                let (_, old_range, new_range) = &mut runs[run];
                for range in [old_range, new_range] {
                    if grow_end {
                        range.end = range.end.wrapping_add_signed(shift);
                    }
                    if grow_start {
                        range.start = range.start.wrapping_add_signed(shift);
                    }
                }
            }
        }
    }
    let mut operation = TextOperation::new();
    for (tag, old_range, new_range) in runs {
        let inserted = || new[new_range.clone()].iter().collect::<String>();
        match tag {
            DiffTag::Equal => operation.retain(old_range.len())?,
            DiffTag::Delete => operation.delete(old_range.len())?,
            DiffTag::Insert => operation.insert(&inserted())?,
            DiffTag::Replace => operation.delete(old_range.len())?.insert(&inserted())?,
        };
    }
    Ok(operation)
}

/// How far to move the edit `text[edit]` (an insert in the new text or a delete in the old), with
/// at most `room_before` unchanged characters before it and `room_after` after: to the equivalent
/// place whose two ends are the best boundaries, the nearest such on a tie.
fn best_shift(text: &[char], edit: std::ops::Range<usize>, room_before: usize, room_after: usize) -> isize {
    let (mut start, mut end) = (edit.start, edit.end);
    let mut moved = 0isize;
    while moved > -(room_before as isize) && start > 0 && text[start - 1] == text[end - 1] {
        (start, end, moved) = (start - 1, end - 1, moved - 1);
    }
    let (mut best, mut best_score) = (0isize, None);
    loop {
        let score = boundary(text, start) + boundary(text, end);
        if best_score.is_none_or(|s| score > s || (score == s && moved.abs() < best.abs())) {
            (best, best_score) = (moved, Some(score));
        }
        if moved >= room_after as isize || end >= text.len() || text[start] != text[end] {
            return best;
        }
        (start, end, moved) = (start + 1, end + 1, moved + 1);
    }
}

/// How good a place for an edit to start or end the gap before `text[at]` is: the start or end of
/// the text or of a line, then next to whitespace, then anywhere.
fn boundary(text: &[char], at: usize) -> u8 {
    match (at.checked_sub(1).and_then(|i| text.get(i)), text.get(at)) {
        (None, _) | (_, None) | (Some('\n'), _) => 2,
        (Some(before), Some(after)) if before.is_whitespace() || after.is_whitespace() => 1,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use pairpad_domain::Component;

    /// A sequencer as the contract describes it: an `opId` is applied at most once (a re-sent one
    /// is acknowledged with its original revision), anything else is transformed over what was
    /// committed after its base. It keeps every operation, or only those after `kept_after`.
    struct Server {
        text: String,
        log: Vec<(TextOperation, Option<String>)>,
        kept_after: u64,
    }

    impl Server {
        fn new(text: &str) -> Self {
            Self { text: text.to_owned(), log: Vec::new(), kept_after: 0 }
        }

        fn revision(&self) -> u64 {
            self.log.len() as u64
        }

        fn submit(&mut self, sent: &Outgoing) -> u64 {
            let since = &self.log[sent.revision as usize..];
            if let Some(at) = since.iter().position(|(_, id)| id.as_deref() == Some(sent.op_id.as_str())) {
                return sent.revision + at as u64 + 1;
            }
            let mut operation = sent.operation.clone();
            for (committed, _) in since {
                operation = TextOperation::transform(&operation, committed).unwrap().0;
            }
            self.text = operation.apply(&self.text).unwrap();
            self.log.push((operation, Some(sent.op_id.clone())));
            self.revision()
        }

        /// Another participant's edit at the head.
        fn edit(&mut self, position: usize, delete: usize, insert: &str) -> (u64, TextOperation) {
            let operation = splice_op(self.text.chars().count(), position, delete, insert);
            self.text = operation.apply(&self.text).unwrap();
            self.log.push((operation.clone(), Some(format!("other-{}", self.log.len()))));
            (self.revision(), operation)
        }

        /// What a `resume` after `revision` sends: every operation since, with its `opId`; `None`
        /// when the history is gone (the server answers `init` with `resumed: false`).
        fn since(&self, revision: u64) -> Option<Vec<(u64, TextOperation, Option<String>)>> {
            if revision < self.kept_after || revision > self.revision() {
                return None;
            }
            let ops = self.log[revision as usize..].iter().zip(revision + 1..);
            Some(ops.map(|((op, id), revision)| (revision, op.clone(), id.clone())).collect())
        }
    }

    fn splice_op(len: usize, position: usize, delete: usize, insert: &str) -> TextOperation {
        TextOperation::from_components([
            Component::Retain(position),
            Component::Delete(delete),
            Component::Insert(insert.to_owned()),
            Component::Retain(len - position - delete),
        ])
        .unwrap()
    }

    fn type_into(doc: &mut ClientDoc, position: usize, delete: usize, insert: &str) -> Option<Outgoing> {
        doc.local_edit(splice_op(doc.len_chars(), position, delete, insert)).unwrap()
    }

    /// Reconnects `doc` to `server` as the client library does: `resume` with the missed
    /// operations when the server has them, else a fresh `init`; then every message until
    /// everything is acknowledged. Returns how many of the client's confirmations counted and how
    /// many were duplicates.
    fn reconnect(server: &mut Server, doc: &mut ClientDoc) -> (usize, usize) {
        let mut send = std::collections::VecDeque::new();
        let (mut counted, mut duplicates) = (0, 0);
        match server.since(doc.revision()) {
            Some(missed) => {
                send.extend(doc.resumed(doc.revision()).unwrap());
                for (revision, op, op_id) in missed {
                    match doc.remote(revision, &op, op_id.as_deref()).unwrap() {
                        Received::Applied | Received::Held => {}
                        Received::Own(Confirmed::Counted { next }) => {
                            counted += 1;
                            send.extend(next);
                        }
                        Received::Own(other) => panic!("{other:?} in the missed operations"),
                    }
                }
            }
            None => send.extend(doc.restart(&server.text.clone(), server.revision()).unwrap()),
        }
        while let Some(sent) = send.pop_front() {
            let revision = server.submit(&sent);
            match doc.ack(revision, Some(&sent.op_id)).unwrap() {
                Confirmed::Counted { next } => {
                    counted += 1;
                    send.extend(next);
                }
                Confirmed::Duplicate => duplicates += 1,
                Confirmed::Foreign => panic!("an ack for {sent:?} is foreign"),
            }
        }
        assert!(doc.is_synchronized());
        assert_eq!(doc.text(), server.text, "converged");
        assert_eq!(doc.revision(), server.revision());
        (counted, duplicates)
    }

    #[test]
    fn resume_counts_our_operation_among_the_missed_ones_as_its_ack_and_ignores_its_second_ack() {
        let mut server = Server::new("fn main() {}\n");
        let mut doc = ClientDoc::new(&server.text, 0, "c");
        let first = type_into(&mut doc, 11, 0, " 🦀 ").unwrap();
        assert!(type_into(&mut doc, 0, 0, "// 漢字\n").is_none(), "buffered behind the first");
        server.edit(0, 0, "use x;\n");
        server.submit(&first); // committed as revision 2, but the connection dropped before its ack
        server.edit(0, 0, "#![a]\n");

        let resend = doc.resumed(0).unwrap().unwrap();
        assert_eq!(resend.op_id, first.op_id, "the operation in flight is re-sent with its opId");
        assert_eq!(resend.revision, 0);
        let missed = server.since(0).unwrap();
        assert_eq!(doc.remote(1, &missed[0].1, missed[0].2.as_deref()).unwrap(), Received::Held);
        let Received::Own(Confirmed::Counted { next: Some(buffer) }) =
            doc.remote(2, &missed[1].1, missed[1].2.as_deref()).unwrap()
        else {
            panic!("our own operation is its ack")
        };
        assert_eq!(doc.revision(), 2);
        assert_eq!(buffer.revision, 2);
        assert_ne!(buffer.op_id, first.op_id);
        assert_eq!(doc.remote(3, &missed[2].1, missed[2].2.as_deref()).unwrap(), Received::Applied);
        // The server answers the re-sent operation with its original revision: already counted.
        assert_eq!(server.submit(&resend), 2);
        let before = (doc.text(), doc.server_text(), doc.outstanding().cloned());
        assert_eq!(doc.ack(2, Some(&first.op_id)).unwrap(), Confirmed::Duplicate);
        assert_eq!((doc.text(), doc.server_text(), doc.outstanding().cloned()), before, "ignored");
        let buffer = doc.outstanding().unwrap().clone();
        assert_eq!(buffer.revision, 3, "the buffer was transformed over revision 3");
        let revision = server.submit(&buffer);
        assert!(matches!(doc.ack(revision, Some(&buffer.op_id)).unwrap(), Confirmed::Counted { next: None }));
        assert_eq!(doc.text(), server.text);
        // Inserts at one position: the one transformed (ours, pending) goes first.
        assert_eq!(server.text, "// 漢字\n#![a]\nuse x;\nfn main() { 🦀 }\n");
    }

    /// The server's text is kept apart only while a local edit is pending, and is right throughout.
    #[test]
    fn the_server_text_excludes_pending_edits_and_follows_remote_ones() {
        let mut server = Server::new("fn f() {}\n");
        let mut doc = ClientDoc::new(&server.text, 0, "c");
        let (revision, theirs) = server.edit(0, 0, "// 漢\n");
        assert_eq!(doc.remote(revision, &theirs, None).unwrap(), Received::Applied);
        assert_eq!((doc.text(), doc.server_text()), (server.text.clone(), server.text.clone()));
        let sent = type_into(&mut doc, 3, 0, "🦀").unwrap();
        type_into(&mut doc, 0, 0, "x");
        let (revision, theirs) = server.edit(0, 2, "");
        assert_eq!(doc.remote(revision, &theirs, None).unwrap(), Received::Applied);
        assert_eq!(doc.server_text(), server.text, "without the pending edits");
        let Confirmed::Counted { next: Some(buffer) } = doc.ack(server.submit(&sent), Some(&sent.op_id)).unwrap()
        else {
            panic!("counted, the buffer next")
        };
        assert_eq!(doc.server_text(), server.text, "the counted edit is in");
        assert_ne!(doc.text(), server.text, "the buffered one is not yet");
        assert_eq!(doc.ack(server.submit(&buffer), Some(&buffer.op_id)).unwrap(), Confirmed::Counted { next: None });
        assert_eq!((doc.text(), doc.server_text()), (server.text.clone(), server.text.clone()));
        assert_eq!(server.text, "x 🦀漢\nfn f() {}\n");
    }

    #[test]
    fn an_ack_first_counts_and_the_same_operation_replayed_later_is_a_duplicate() {
        let mut server = Server::new("ab");
        let mut doc = ClientDoc::new("ab", 0, "c");
        let sent = type_into(&mut doc, 1, 0, "X").unwrap();
        let revision = server.submit(&sent);
        assert_eq!(doc.ack(revision, Some(&sent.op_id)).unwrap(), Confirmed::Counted { next: None });
        let (op, id) = server.log[0].clone();
        assert_eq!(doc.remote(1, &op, id.as_deref()).unwrap(), Received::Own(Confirmed::Duplicate));
        assert_eq!(doc.ack(1, Some(&sent.op_id)).unwrap(), Confirmed::Duplicate);
        assert_eq!(doc.ack(1, Some("someone-else-1")).unwrap(), Confirmed::Foreign);
        assert_eq!((doc.text(), doc.revision()), ("aXb".to_owned(), 1));
    }

    #[test]
    fn resume_re_sends_what_the_server_never_got_and_counts_its_ack_after_the_missed_ones() {
        let mut server = Server::new("hello");
        let mut doc = ClientDoc::new("hello", 0, "c");
        let lost = type_into(&mut doc, 5, 0, " world").unwrap(); // never reached the server
        type_into(&mut doc, 0, 1, "H");
        for i in 0..5 {
            server.edit(0, 0, &format!("{i}"));
        }
        assert_eq!(reconnect(&mut server, &mut doc), (2, 0));
        assert_eq!(server.log[5].1.as_deref(), Some(lost.op_id.as_str()), "the re-send kept its opId");
        assert_eq!(server.text, "H43210ello world");
    }

    /// The old connection's copy of the operation in flight is committed only after the resume's
    /// missed operations, and comes live, without its `opId`: the ack of the re-sent copy names
    /// its revision, whichever of the two arrives first.
    #[test]
    fn our_old_copy_committed_after_the_resume_is_recognised_by_the_ack() {
        for ack_first in [false, true] {
            let mut server = Server::new("hello");
            let mut doc = ClientDoc::new("hello", 0, "c");
            let in_flight = type_into(&mut doc, 5, 0, " world").unwrap();
            type_into(&mut doc, 0, 0, ">");
            server.edit(0, 0, "1");
            let resend = doc.resumed(0).unwrap().unwrap();
            let (op, id) = server.log[0].clone();
            assert_eq!(doc.remote(1, &op, id.as_deref()).unwrap(), Received::Held);
            // Now the old connection's copy is committed, then the re-send recognised.
            assert_eq!(server.submit(&in_flight), 2);
            server.edit(0, 0, "3");
            assert_eq!(server.submit(&resend), 2);
            let (copy, _) = server.log[1].clone();
            let (third, _) = server.log[2].clone();
            let next = if ack_first {
                let Confirmed::Counted { next } = doc.ack(2, Some(&in_flight.op_id)).unwrap() else { panic!() };
                assert_eq!(doc.remote(2, &copy, None).unwrap(), Received::Own(Confirmed::Duplicate));
                assert_eq!(doc.remote(3, &third, None).unwrap(), Received::Applied);
                next
            } else {
                assert_eq!(doc.remote(2, &copy, None).unwrap(), Received::Held);
                assert_eq!(doc.remote(3, &third, None).unwrap(), Received::Held);
                let Confirmed::Counted { next } = doc.ack(2, Some(&in_flight.op_id)).unwrap() else { panic!() };
                next
            };
            assert_eq!(doc.revision(), 3);
            let revision = server.submit(&next.unwrap());
            assert!(matches!(
                doc.ack(revision, doc.outstanding().map(|o| o.op_id.clone()).as_deref()),
                Ok(Confirmed::Counted { next: None })
            ));
            assert_eq!(doc.text(), server.text);
            assert_eq!(server.text, ">31hello world", "once each (ours first at one position)");
        }
    }

    #[test]
    fn a_resume_elsewhere_and_revisions_out_of_order_are_errors() {
        let mut doc = ClientDoc::new("ab", 3, "c");
        assert_eq!(doc.resumed(2), Err(SyncError::ResumedElsewhere { seen: 3, got: 2 }));
        let op = splice_op(2, 0, 0, "x");
        assert_eq!(doc.remote(5, &op, None), Err(SyncError::OutOfOrder { seen: 3, got: 5 }));
        let sent = type_into(&mut doc, 0, 0, "y").unwrap();
        assert_eq!(doc.ack(7, Some(&sent.op_id)), Err(SyncError::OutOfOrder { seen: 3, got: 7 }));
        let other = splice_op(2, 2, 0, "z");
        assert_eq!(doc.remote(4, &other, Some(&sent.op_id)), Err(SyncError::Diverged { op_id: sent.op_id }));
    }

    #[test]
    fn diff_counts_chars_and_keeps_what_is_unchanged() {
        let op = diff("a🦀b漢c", "a🦀Xb漢").unwrap();
        assert_eq!(
            op.components(),
            [Component::Retain(2), Component::Insert("X".into()), Component::Retain(2), Component::Delete(1)]
        );
        assert_eq!(op.apply("a🦀b漢c").unwrap(), "a🦀Xb漢");
        assert!(diff("same é", "same é").unwrap().is_noop());
        // Two edits far apart stay two edits: the middle is retained, not replaced.
        let op = diff("0123456789", "X0123456789Y").unwrap();
        assert_eq!(
            op.components(),
            [Component::Insert("X".into()), Component::Retain(10), Component::Insert("Y".into())]
        );
    }

    /// Inserts that start at a line start and end with a line end.
    fn inserts_whole_lines(old: &str, op: &TextOperation) -> bool {
        let old: Vec<char> = old.chars().collect();
        let mut at = 0;
        op.components().iter().all(|component| match component {
            Component::Retain(n) | Component::Delete(n) => {
                at += n;
                true
            }
            Component::Insert(text) => (at == 0 || old[at - 1] == '\n') && text.ends_with('\n'),
        })
    }

    #[test]
    fn char_diff_puts_edits_on_line_boundaries() {
        // Myers alone inserts "\nk5 x" after "k0 x" here: the same length, but a split line.
        let (old, new) = ("k0 x\nk1 x\n", "k0 x\nk5 x\nk1 x\nk10 x\n");
        let op = char_diff(old, new).unwrap();
        assert_eq!(op.apply(old).unwrap(), new);
        assert!(inserts_whole_lines(old, &op), "{op:?}");
        let (old, new) = ("a 🦀\n", "a 🦀\nb 🦀\n");
        assert_eq!(
            char_diff(old, new).unwrap().components(),
            [Component::Retain(4), Component::Insert("b 🦀\n".into())]
        );
        // Rebased over a concurrent deletion of the line before, the new line stays whole.
        let shared = "a\nold 漢\nb\n";
        let mine = diff(shared, "a\nold 漢\nnew 漢\nb\n").unwrap();
        let theirs = diff(shared, "a\nb\n").unwrap();
        let (rebased, _) = TextOperation::transform(&mine, &theirs).unwrap();
        assert_eq!(rebased.apply("a\nb\n").unwrap(), "a\nnew 漢\nb\n");
    }

    #[test]
    fn a_fresh_init_rebases_unacknowledged_work_by_diff_with_emoji_and_cjk() {
        let shared = "fn 主() {\n    let 🦀 = \"蟹\";\n}\n";
        let mut server = Server::new(shared);
        let mut doc = ClientDoc::new(shared, 0, "c");
        // Offline: one operation "in flight" (never sent), more in the buffer.
        type_into(&mut doc, 3, 1, "main");
        let end = doc.len_chars();
        type_into(&mut doc, end, 0, "// 완료 ✅\n");
        let crab = doc.text().chars().position(|c| c == '🦀').unwrap();
        type_into(&mut doc, crab, 0, "🦀🦀");
        let mine = doc.text();
        assert_eq!(mine, "fn main() {\n    let 🦀🦀🦀 = \"蟹\";\n}\n// 완료 ✅\n");
        // Meanwhile others edit the same lines; then the server forgets the history.
        server.edit(0, 0, "// 👩‍💻 ok\n");
        let at = server.text.chars().position(|c| c == '蟹').unwrap();
        server.edit(at, 1, "かに");
        server.edit(server.text.chars().count(), 0, "fn other() {}\n");
        server.kept_after = server.revision();
        let old_ids = doc.outstanding().unwrap().op_id.clone();

        let sent = doc.restart(&server.text.clone(), server.revision()).unwrap().unwrap();
        assert_ne!(sent.op_id, old_ids, "a fresh opId");
        assert_eq!(sent.revision, 3);
        assert_eq!(doc.text(), sent.operation.apply(&server.text).unwrap());
        let revision = server.submit(&sent);
        assert_eq!(doc.ack(revision, Some(&sent.op_id)).unwrap(), Confirmed::Counted { next: None });
        assert_eq!(doc.text(), server.text);
        assert_eq!(
            server.text, "// 👩‍💻 ok\nfn main() {\n    let 🦀🦀🦀 = \"かに\";\n}\n// 완료 ✅\nfn other() {}\n",
            "both sides' edits, each once (ours first where both inserted at one place)"
        );
        // An ack for a dropped opId, should one still come, is a duplicate.
        assert_eq!(doc.ack(1, Some(&old_ids)).unwrap(), Confirmed::Duplicate);
    }

    #[test]
    fn a_fresh_init_without_unacknowledged_work_adopts_the_server_text() {
        let mut doc = ClientDoc::new("old", 4, "c");
        assert_eq!(doc.restart("new 🦀", 9).unwrap(), None);
        assert_eq!((doc.text(), doc.server_text(), doc.revision()), ("new 🦀".to_owned(), "new 🦀".to_owned(), 9));
        // Work that cancels out sends nothing either.
        type_into(&mut doc, 0, 0, "x");
        type_into(&mut doc, 0, 1, "");
        assert_eq!(doc.restart("newer", 10).unwrap(), None);
        assert!(doc.is_synchronized());
    }

    /// A small deterministic generator.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }
    }

    /// Every character inserted is unique: the client's are CJK ideographs and emoji, the others'
    /// Hangul syllables. Some edits delete a character (remembered).
    fn offline_session(local_edits: usize, remote_edits: usize, forget_history: bool) {
        let initial = "abcdefghijklmnopqrstuvwxyz";
        let mut server = Server::new(initial);
        let mut doc = ClientDoc::new(initial, 0, "c");
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ local_edits as u64);
        let mut inserted: Vec<char> = initial.chars().collect();
        let mut deleted = std::collections::HashSet::new();
        let (mut mine, mut theirs) = (0, 0);
        // One edit reaches the server, unacknowledged (nobody deletes it); the rest is typed
        // offline, interleaved with the others' edits on the server.
        let first = type_into(&mut doc, 0, 0, "起").unwrap();
        inserted.push('起');
        server.submit(&first);
        while mine < local_edits || theirs < remote_edits {
            if mine < local_edits && (theirs == remote_edits || rng.below(local_edits + remote_edits) < local_edits) {
                let len = doc.len_chars();
                let position = rng.below(len + 1);
                let at = doc.text().chars().nth(position);
                if rng.below(4) == 0 && at.is_some_and(|c| c != '起') {
                    deleted.insert(at.unwrap());
                    type_into(&mut doc, position, 1, "");
                } else {
                    let c = if mine % 7 == 0 && mine / 7 < 700 {
                        char::from_u32(0x1F300 + (mine / 7) as u32).unwrap()
                    } else {
                        char::from_u32(0x4E00 + mine as u32).unwrap()
                    };
                    inserted.push(c);
                    type_into(&mut doc, position, 0, &c.to_string());
                }
                mine += 1;
            } else {
                let len = server.text.chars().count();
                let position = rng.below(len + 1);
                let at = server.text.chars().nth(position);
                if rng.below(4) == 0 && at.is_some_and(|c| c != '起') {
                    deleted.insert(at.unwrap());
                    server.edit(position, 1, "");
                } else {
                    let c = char::from_u32(0xAC00 + theirs as u32).unwrap();
                    inserted.push(c);
                    server.edit(position, 0, &c.to_string());
                }
                theirs += 1;
            }
        }
        if forget_history {
            server.kept_after = server.revision();
        }
        let (counted, duplicates) = reconnect(&mut server, &mut doc);
        if forget_history {
            // The first edit is in the server's text and in the diff: the contract accepts it
            // twice (only a resume prevents that); it is the only duplicate.
            assert_eq!(server.text.matches('起').count(), 2, "{}", server.text);
            deleted.insert('起');
            assert_eq!(counted, 1);
        } else {
            assert_eq!((counted, duplicates), (2, 1), "ours in the missed ones, its re-send's ack, the buffer");
        }
        for c in inserted {
            let expected = usize::from(!deleted.contains(&c));
            let found = server.text.matches(c).count();
            if !(forget_history && c == '起') {
                assert_eq!(found, expected, "{c:?} ({}) in the text {found} times", c as u32);
            }
        }
    }

    /// Whole lines added (or removed) at random among many alike: every insert (delete) of the
    /// diff is whole lines, so a transform against the other side's line edits keeps lines whole.
    #[test]
    fn diff_of_added_or_removed_lines_keeps_them_whole() {
        for adding in [true, false] {
            let mut rng = Rng(0x2545_F491_4F6C_DD1D);
            let mut lines: Vec<String> = (0..40).map(|i| format!("kept-{i} 🦀 漢字\n")).collect();
            let old = lines.concat();
            for i in 0..25 {
                let at = rng.below(lines.len());
                if adding {
                    lines.insert(at, format!("away-{i} 🦀 漢字\n"));
                } else {
                    lines.remove(at);
                }
            }
            let new = lines.concat();
            let op = diff(&old, &new).unwrap();
            assert_eq!(op.apply(&old).unwrap(), new);
            let old: Vec<char> = old.chars().collect();
            let mut at = 0; // in `old`
            for component in op.components() {
                let line_start = at == 0 || old[at - 1] == '\n';
                match component {
                    Component::Retain(n) => at += n,
                    Component::Delete(n) => {
                        at += n;
                        assert!(line_start && old[at - 1] == '\n', "{op:?}");
                    }
                    Component::Insert(text) => assert!(line_start && text.ends_with('\n'), "{op:?}"),
                }
            }
        }
    }

    #[test]
    fn offline_work_of_any_length_survives_a_resume_exactly_once() {
        offline_session(3, 2, false);
        offline_session(5_000, 1_000, false);
    }

    #[test]
    fn offline_work_of_any_length_survives_a_fresh_init_exactly_once() {
        offline_session(3, 2, true);
        offline_session(5_000, 1_000, true);
    }
}
