//! Room expiry (`rooms.expire_after_days`, PROTOCOL.md 1.1 "Access"): an hourly sweep deletes the
//! rooms nobody edited or joined for that long, with their operations and checkpoints, in bounded
//! batches with pauses between them. A room loaded in any process is never deleted: each
//! process's sweep first marks the rooms it has loaded as active (see `Hub::expire_idle_rooms`).
//! Deleting goes through the hub, as `DELETE /api/rooms/{id}` does, so every process closes the
//! room's connections (4410). With `expire_after_days = 0` no task runs.

use std::time::Duration;

use pairpad_domain::Timestamp;
use pairpad_hub::{Hub, HubError};

use crate::retention::SweepHandle;

/// The counter of deleted rooms, on `/metrics` (by `reason`: `owner` or `expired`).
pub const DELETED_METRIC: &str = "pairpad_rooms_deleted_total";

/// How expiry runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expiry {
    /// Rooms idle for longer than this are deleted.
    pub after: Duration,
    /// The most rooms one batch deletes.
    pub batch: usize,
    /// The pause between two batches of one sweep.
    pub pause: Duration,
    /// The time between two sweeps.
    pub every: Duration,
}

impl Expiry {
    /// The expiry for `rooms.expire_after_days`; `None` for 0 (keep rooms forever).
    pub fn for_days(days: u32) -> Option<Self> {
        (days > 0).then(|| Self {
            after: Duration::from_secs(u64::from(days) * 24 * 60 * 60),
            batch: 100,
            pause: Duration::from_millis(200),
            every: Duration::from_secs(60 * 60),
        })
    }

    /// The moment a room idle since before it has expired, at `now`.
    pub fn cutoff(&self, now: Timestamp) -> Timestamp {
        let after = i64::try_from(self.after.as_millis()).unwrap_or(i64::MAX);
        Timestamp(now.0.saturating_sub(after))
    }

    /// When a room last active at `active_at` expires (for `GET /api/rooms/{id}`'s `expiresAt`).
    pub fn expires_at(&self, active_at: Timestamp) -> Timestamp {
        let after = i64::try_from(self.after.as_millis()).unwrap_or(i64::MAX);
        Timestamp(active_at.0.saturating_add(after))
    }
}

/// One sweep at `now`: deletes the expired rooms a batch at a time until a batch comes back short.
/// Answers how many it deleted.
pub async fn sweep(hub: &Hub, expiry: &Expiry, now: Timestamp) -> Result<usize, HubError> {
    let before = expiry.cutoff(now);
    let batch = expiry.batch.max(1);
    let mut total = 0;
    loop {
        let deleted = hub.expire_idle_rooms(before, now, batch).await?;
        total += deleted;
        if deleted < batch {
            return Ok(total);
        }
        tokio::time::sleep(expiry.pause).await;
    }
}

/// Starts sweeping every `expiry.every`.
pub fn start(hub: Hub, expiry: Expiry) -> SweepHandle {
    metrics::describe_counter!(
        DELETED_METRIC,
        "Rooms deleted, by their owner or as expired (rooms.expire_after_days)."
    );
    let days = expiry.after.as_secs() / (24 * 60 * 60);
    tracing::info!(expire_after_days = days, "rooms idle for {days} days will be deleted (checked hourly)");
    crate::retention::every(expiry.every, move |now| {
        let hub = hub.clone();
        async move {
            match sweep(&hub, &expiry, now).await {
                Ok(0) => tracing::debug!("room expiry: nothing expired"),
                Ok(deleted) => tracing::info!(deleted, expire_after_days = days, "room expiry: rooms deleted"),
                Err(e) => tracing::warn!(error = %e, "room expiry failed; trying again at the next sweep"),
            }
        }
    })
}
