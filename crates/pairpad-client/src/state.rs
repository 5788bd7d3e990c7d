//! The client side of OT, as in ot.js: at most one operation awaits its ack; edits made meanwhile
//! are composed into a buffer sent once the ack arrives. No I/O here: methods return what to send.

use pairpad_domain::{OtError, TextOperation};

/// An operation to send: `{"type":"operation","revision","ops","opId"}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outgoing {
    pub revision: u64,
    pub operation: TextOperation,
    pub op_id: String,
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
    text: ropey::Rope,
    /// The server's text at `revision` with the outstanding operation applied: what the buffer
    /// is based on. Kept so a reconnect can rebase the buffer onto the server's new text.
    shadow: ropey::Rope,
    revision: u64,
    sync: Sync,
    client_id: String,
    next_op: u64,
}

/// After a reconnect's `init`, what the client must do.
#[derive(Debug, PartialEq, Eq)]
pub enum Resync {
    /// Nothing was in flight: the document is the server's (plus nothing local).
    Done,
    /// Re-send this operation (same `opId`, base revision as before) and wait for its ack.
    Resend(Outgoing),
}

impl ClientDoc {
    /// A document as received in `init`.
    pub fn new(text: &str, revision: u64, client_id: impl Into<String>) -> Self {
        let text = ropey::Rope::from_str(text);
        Self { shadow: text.clone(), text, revision, sync: Sync::Synchronized, client_id: client_id.into(), next_op: 0 }
    }

    /// The local text (server text plus pending local edits).
    pub fn text(&self) -> String {
        self.text.to_string()
    }

    /// The local text's length in code points.
    pub fn len_chars(&self) -> usize {
        self.text.len_chars()
    }

    /// The last server revision this client has seen.
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

    /// Applies a local edit. Returns the operation to send now, if nothing is in flight.
    pub fn local_edit(&mut self, operation: TextOperation) -> Result<Option<Outgoing>, OtError> {
        operation.apply_to_rope(&mut self.text)?;
        self.sync = match std::mem::replace(&mut self.sync, Sync::Synchronized) {
            Sync::Synchronized => {
                operation.apply_to_rope(&mut self.shadow)?;
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

    /// The server acknowledged the outstanding operation as `revision`. Returns the buffer to
    /// send next, if any.
    pub fn ack(&mut self, revision: u64) -> Option<Outgoing> {
        self.revision = self.revision.max(revision);
        match std::mem::replace(&mut self.sync, Sync::Synchronized) {
            Sync::Synchronized | Sync::AwaitingConfirm { .. } => None,
            Sync::AwaitingWithBuffer { buffer, .. } => {
                // The shadow cannot fail to take the buffer: it is the text the buffer was made on.
                let _ = buffer.apply_to_rope(&mut self.shadow);
                let outstanding = self.outgoing(buffer);
                self.sync = Sync::AwaitingConfirm { outstanding: outstanding.clone() };
                Some(outstanding)
            }
        }
    }

    /// Applies another participant's operation, which turns `revision - 1` into `revision`.
    pub fn remote(&mut self, revision: u64, operation: &TextOperation) -> Result<(), OtError> {
        let (for_shadow, for_text) = match &mut self.sync {
            Sync::Synchronized => (operation.clone(), operation.clone()),
            Sync::AwaitingConfirm { outstanding } => {
                let (pending, theirs) = TextOperation::transform(&outstanding.operation, operation)?;
                outstanding.operation = pending;
                outstanding.revision = revision;
                (theirs.clone(), theirs)
            }
            Sync::AwaitingWithBuffer { outstanding, buffer } => {
                let (pending, theirs) = TextOperation::transform(&outstanding.operation, operation)?;
                let (buffered, for_text) = TextOperation::transform(buffer, &theirs)?;
                outstanding.operation = pending;
                outstanding.revision = revision;
                *buffer = buffered;
                (theirs, for_text)
            }
        };
        for_shadow.apply_to_rope(&mut self.shadow)?;
        for_text.apply_to_rope(&mut self.text)?;
        self.revision = revision;
        Ok(())
    }

    /// After a reconnect's `init`: the operation in flight, if any, to re-send as it is (same
    /// `opId`) before the server's new text can be adopted with [`ClientDoc::adopt`].
    pub fn reconnected(&self) -> Resync {
        match self.outstanding() {
            None => Resync::Done,
            Some(outstanding) => Resync::Resend(outstanding.clone()),
        }
    }

    /// Adopts the server's `code` at `revision` after a reconnect, once nothing is in flight
    /// any more (the re-sent operation is in `code`). Edits still buffered are rebased over the
    /// difference between what they were made on and `code`, and returned to be sent.
    pub fn adopt(&mut self, code: &str, revision: u64) -> Result<Option<Outgoing>, OtError> {
        let buffer = match std::mem::replace(&mut self.sync, Sync::Synchronized) {
            Sync::AwaitingWithBuffer { buffer, .. } => Some(buffer),
            _ => None,
        };
        let theirs = TextOperation::diff(&self.shadow.to_string(), code);
        self.text = ropey::Rope::from_str(code);
        self.shadow = self.text.clone();
        self.revision = revision;
        let Some(buffer) = buffer else { return Ok(None) };
        let (rebased, _) = TextOperation::transform(&buffer, &theirs)?;
        if rebased.is_noop() {
            return Ok(None);
        }
        self.local_edit(rebased)
    }
}
