//! The in-memory `RoomRepo`: for tests and for `store = "memory"`. It keeps the same contract as
//! the SQL adapters (the contract suite runs against all three) but nothing survives a restart.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use pairpad_domain::{
    Append, Committed, CommittedOp, HistoryPoint, Language, NewRoom, RepoError, RoomId, RoomKeys, RoomRepo,
    RoomSummary, Snapshot, StoredRoom, Timestamp,
};

struct MemoryRoom {
    language: Language,
    snapshot: Snapshot,
    /// Every snapshot ever stored, oldest first (the first is the text at creation).
    checkpoints: Vec<Snapshot>,
    ops: Vec<CommittedOp>,
    created_at: Timestamp,
    updated_at: Timestamp,
    view_id: RoomId,
    owner_token_hash: Option<String>,
    joined_at: Timestamp,
}

impl MemoryRoom {
    fn revision(&self) -> u64 {
        self.ops.last().map_or(self.snapshot.revision, |op| op.revision)
    }

    /// The last edit or join (see `RoomKeys::active_at`).
    fn active_at(&self) -> Timestamp {
        let last_edit = self.ops.last().map_or(Timestamp(0), |op| op.at);
        self.joined_at.max(self.updated_at).max(last_edit)
    }
}

/// Rooms in a mutex-guarded map.
#[derive(Default)]
pub struct MemoryRepo {
    rooms: Mutex<HashMap<RoomId, MemoryRoom>>,
    /// Each room's id by its view id. Locked only while `rooms` is, and after it.
    view_ids: Mutex<HashMap<RoomId, RoomId>>,
}

impl MemoryRepo {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn view_ids(&self) -> std::sync::MutexGuard<'_, HashMap<RoomId, RoomId>> {
        self.view_ids.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn rooms(&self) -> std::sync::MutexGuard<'_, HashMap<RoomId, MemoryRoom>> {
        // A panic while holding the lock cannot leave a room half-written (every change is
        // checked before it is made), so a poisoned lock is still consistent.
        self.rooms.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl RoomRepo for MemoryRepo {
    fn kind(&self) -> &'static str {
        "memory"
    }

    async fn ping(&self) -> Result<(), RepoError> {
        Ok(())
    }

    async fn create(&self, room: &NewRoom) -> Result<(), RepoError> {
        crate::check_storable([&room.code])?;
        let mut rooms = self.rooms();
        let mut view_ids = self.view_ids();
        let taken = |id: &RoomId| rooms.contains_key(id) || view_ids.contains_key(id);
        if taken(&room.id) || taken(&room.view_id) || room.id == room.view_id {
            return Err(RepoError::AlreadyExists(room.id));
        }
        view_ids.insert(room.view_id, room.id);
        rooms.insert(
            room.id,
            MemoryRoom {
                language: room.language.clone(),
                snapshot: Snapshot { code: room.code.clone(), revision: 0 },
                checkpoints: vec![Snapshot { code: room.code.clone(), revision: 0 }],
                ops: Vec::new(),
                created_at: room.created_at,
                updated_at: room.created_at,
                view_id: room.view_id,
                owner_token_hash: room.owner_token_hash.clone(),
                joined_at: room.created_at,
            },
        );
        Ok(())
    }

    async fn load(&self, id: RoomId) -> Result<StoredRoom, RepoError> {
        let rooms = self.rooms();
        let room = rooms.get(&id).ok_or(RepoError::NotFound(id))?;
        Ok(StoredRoom {
            id,
            language: room.language.clone(),
            snapshot: room.snapshot.clone(),
            ops_after_snapshot: room.ops.iter().filter(|op| op.revision > room.snapshot.revision).cloned().collect(),
            revision: room.revision(),
            created_at: room.created_at,
            updated_at: room.updated_at,
        })
    }

    async fn summary(&self, id: RoomId) -> Result<RoomSummary, RepoError> {
        let rooms = self.rooms();
        let room = rooms.get(&id).ok_or(RepoError::NotFound(id))?;
        Ok(RoomSummary { id, language: room.language.clone(), revision: room.revision() })
    }

    async fn ops_since(&self, id: RoomId, after: u64, limit: usize) -> Result<Vec<CommittedOp>, RepoError> {
        let rooms = self.rooms();
        let Some(room) = rooms.get(&id) else { return Ok(Vec::new()) };
        Ok(room.ops.iter().filter(|op| op.revision > after).take(limit).cloned().collect())
    }

    async fn checkpoint(&self, id: RoomId, revision: u64) -> Result<Option<Snapshot>, RepoError> {
        let rooms = self.rooms();
        let Some(room) = rooms.get(&id) else { return Ok(None) };
        Ok(room.checkpoints.iter().rev().find(|checkpoint| checkpoint.revision <= revision).cloned())
    }

    async fn history(&self, id: RoomId, every: u64) -> Result<Vec<HistoryPoint>, RepoError> {
        let every = every.max(1);
        let rooms = self.rooms();
        let Some(room) = rooms.get(&id) else { return Ok(Vec::new()) };
        let mut points: Vec<HistoryPoint> = Vec::new();
        for op in &room.ops {
            let run = (op.revision - 1) / every;
            match points.last_mut() {
                Some(point) if (point.revision - 1) / every == run => {
                    point.revision = op.revision;
                    point.at = op.at;
                    point.authors.push(op.author_name.to_string());
                }
                _ => points.push(HistoryPoint {
                    revision: op.revision,
                    at: op.at,
                    authors: vec![op.author_name.to_string()],
                }),
            }
        }
        for point in &mut points {
            point.authors.sort_unstable();
            point.authors.dedup();
        }
        Ok(points)
    }

    async fn forget_operations(&self, before: Timestamp, limit: usize) -> Result<usize, RepoError> {
        let mut rooms = self.rooms();
        let mut forgotten = 0;
        for room in rooms.values_mut() {
            let latest_snapshot = room.snapshot.revision;
            let old = room.ops.iter().take_while(|op| op.revision < latest_snapshot && op.at < before).count();
            let old = old.min(limit - forgotten);
            room.ops.drain(..old);
            forgotten += old;
            if forgotten == limit {
                break;
            }
        }
        Ok(forgotten)
    }

    async fn commit(&self, appends: &[Append]) -> Result<Committed, RepoError> {
        crate::check_storable(crate::append_texts(appends))?;
        let mut rooms = self.rooms();
        // Check everything first so that a failing batch stores nothing.
        let mut committed = Committed::default();
        for append in appends {
            let room = rooms.get(&append.room).ok_or(RepoError::NotFound(append.room))?;
            if room.revision() != append.expected_revision {
                committed.conflicts.push(append.room);
            }
        }
        for append in appends.iter().filter(|append| committed.stored(append.room)) {
            let Some(room) = rooms.get_mut(&append.room) else { continue };
            room.ops.extend(append.ops.iter().cloned());
            if let Some(last) = append.ops.last() {
                room.updated_at = last.at;
            }
            if let Some(snapshot) = &append.snapshot {
                room.snapshot = snapshot.clone();
                room.checkpoints.push(snapshot.clone());
            }
        }
        Ok(committed)
    }

    async fn set_language(&self, id: RoomId, language: &Language, at: Timestamp) -> Result<(), RepoError> {
        let mut rooms = self.rooms();
        let room = rooms.get_mut(&id).ok_or(RepoError::NotFound(id))?;
        room.language = language.clone();
        room.updated_at = at;
        Ok(())
    }

    async fn keys(&self, id_or_view_id: RoomId) -> Result<RoomKeys, RepoError> {
        let rooms = self.rooms();
        let id = self.view_ids().get(&id_or_view_id).copied().unwrap_or(id_or_view_id);
        let (id, room) = rooms.get_key_value(&id).ok_or(RepoError::NotFound(id_or_view_id))?;
        Ok(RoomKeys {
            id: *id,
            view_id: room.view_id,
            owner_token_hash: room.owner_token_hash.clone(),
            active_at: room.active_at(),
        })
    }

    async fn touch(&self, id: RoomId, at: Timestamp) -> Result<(), RepoError> {
        if let Some(room) = self.rooms().get_mut(&id) {
            room.joined_at = room.joined_at.max(at);
        }
        Ok(())
    }

    async fn idle_rooms(&self, before: Timestamp, limit: usize) -> Result<Vec<RoomId>, RepoError> {
        let rooms = self.rooms();
        Ok(rooms.iter().filter(|(_, room)| room.active_at() < before).map(|(id, _)| *id).take(limit).collect())
    }

    async fn delete(&self, id: RoomId, idle_before: Option<Timestamp>) -> Result<bool, RepoError> {
        let mut rooms = self.rooms();
        let deletable = rooms.get(&id).is_some_and(|room| idle_before.is_none_or(|before| room.active_at() < before));
        let Some(room) = deletable.then(|| rooms.remove(&id)).flatten() else { return Ok(false) };
        self.view_ids().remove(&room.view_id);
        Ok(true)
    }
}
