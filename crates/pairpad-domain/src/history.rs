//! Reading a room's past from its store: the text at any kept revision, from the checkpoint
//! before it and the operations after that checkpoint (at most `rooms.snapshot_every` of them).

use crate::ports::{RepoError, RoomRepo, Snapshot};
use crate::room::RoomId;

/// Why the text at a revision cannot be given.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HistoryError {
    /// The revision is beyond the room's latest stored one, before its kept history, or the room
    /// does not exist.
    #[error("revision {0} is not in the room's kept history")]
    NotKept(u64),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] RepoError),
}

/// The room's text exactly as it was at `revision` (0: as created), built from the store.
pub async fn text_at(repo: &dyn RoomRepo, room: RoomId, revision: u64) -> Result<Snapshot, HistoryError> {
    let Some(mut snapshot) = repo.checkpoint(room, revision).await? else {
        return Err(HistoryError::NotKept(revision));
    };
    let missing = usize::try_from(revision - snapshot.revision).map_err(|_| HistoryError::NotKept(revision))?;
    let ops = repo.ops_since(room, snapshot.revision, missing).await?;
    if ops.len() != missing {
        // Beyond the head, or operations after the checkpoint were forgotten.
        return Err(HistoryError::NotKept(revision));
    }
    let mut text = ropey::Rope::from_str(&snapshot.code);
    for (expected, op) in (snapshot.revision + 1..).zip(&ops) {
        if op.revision != expected {
            return Err(HistoryError::NotKept(revision));
        }
        op.operation
            .apply_to_rope(&mut text)
            .map_err(|e| RepoError::Corrupt(format!("room {room}'s revision {expected} does not apply: {e}")))?;
    }
    snapshot.code = text.to_string();
    snapshot.revision = revision;
    Ok(snapshot)
}
