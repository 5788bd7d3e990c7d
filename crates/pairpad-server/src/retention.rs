//! History retention (`history.keep_days`): a background task that deletes, every hour, the
//! operations committed more than `keep_days` ago, in bounded batches with pauses between them so
//! that commits never wait long behind it. The store keeps each room's checkpoints, its latest
//! snapshot and the operations after it (see `RoomRepo::forget_operations`), so loading a room and
//! the text at every checkpoint stay whole; only the text between old checkpoints goes.
//! With `keep_days = 0` (the default) nothing is ever deleted and no task runs.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use pairpad_domain::{RepoError, RoomRepo, Timestamp};
use tokio::sync::watch;

/// The counter of forgotten operations, on `/metrics`.
pub const FORGOTTEN_METRIC: &str = "pairpad_history_operations_forgotten_total";

/// How retention runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// Operations committed longer ago than this are forgotten.
    pub keep: Duration,
    /// The most operations one store call deletes (one short transaction).
    pub batch: usize,
    /// The pause between two batches of one sweep.
    pub pause: Duration,
    /// The time between two sweeps (the first runs shortly after start).
    pub every: Duration,
}

impl Retention {
    /// The retention for `history.keep_days`; `None` for 0 (keep forever).
    pub fn for_days(keep_days: u32) -> Option<Self> {
        (keep_days > 0).then(|| Self {
            keep: Duration::from_secs(u64::from(keep_days) * 24 * 60 * 60),
            batch: 10_000,
            pause: Duration::from_millis(500),
            every: Duration::from_secs(60 * 60),
        })
    }

    /// The moment before which operations are forgotten, at `now`.
    pub fn cutoff(&self, now: Timestamp) -> Timestamp {
        let keep = i64::try_from(self.keep.as_millis()).unwrap_or(i64::MAX);
        Timestamp(now.0.saturating_sub(keep))
    }
}

/// One sweep at `now`: forgets the operations committed before `retention.cutoff(now)`, a batch
/// at a time until a batch comes back short, counting them in [`FORGOTTEN_METRIC`]. Answers how
/// many it forgot; on a store error, what it forgot before that is counted and the error returned.
pub async fn sweep(repo: &dyn RoomRepo, retention: &Retention, now: Timestamp) -> Result<u64, RepoError> {
    let before = retention.cutoff(now);
    let batch = retention.batch.max(1);
    let mut total = 0u64;
    loop {
        let forgotten = repo.forget_operations(before, batch).await?;
        total += forgotten as u64;
        metrics::counter!(FORGOTTEN_METRIC).increment(forgotten as u64);
        if forgotten < batch {
            return Ok(total);
        }
        tokio::time::sleep(retention.pause).await;
    }
}

/// Stops a task [`every`] started.
#[derive(Clone, Debug)]
pub struct SweepHandle(Arc<watch::Sender<bool>>);

impl SweepHandle {
    /// Stops the task, between two sweeps or during the one in flight.
    pub fn stop(&self) {
        self.0.send_replace(true);
    }
}

/// Runs `sweep` on the current runtime until stopped: the first a minute after start (not while
/// the server is busy starting, and sooner if `period` is shorter), then every `period`. The
/// background sweeps of history retention and room expiry.
pub fn every<F, Fut>(period: Duration, mut sweep: F) -> SweepHandle
where
    F: FnMut(Timestamp) -> Fut + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let (stop, mut stopped) = watch::channel(false);
    actix_web::rt::spawn(async move {
        let mut wait = Duration::from_secs(60).min(period);
        loop {
            tokio::select! {
                _ = stopped.wait_for(|stop| *stop) => return,
                () = tokio::time::sleep(wait) => {}
            }
            wait = period;
            let now = Timestamp::from(std::time::SystemTime::now());
            tokio::select! {
                _ = stopped.wait_for(|stop| *stop) => return,
                () = sweep(now) => {}
            }
        }
    });
    SweepHandle(Arc::new(stop))
}

/// Starts sweeping `repo` every `retention.every`.
pub fn start(repo: Arc<dyn RoomRepo>, retention: Retention) -> SweepHandle {
    metrics::describe_counter!(FORGOTTEN_METRIC, "Operations deleted by history retention (history.keep_days).");
    let days = retention.keep.as_secs() / (24 * 60 * 60);
    tracing::info!(keep_days = days, "history retention: operations older than {days} days will be deleted hourly");
    every(retention.every, move |now| {
        let repo = repo.clone();
        async move {
            match sweep(repo.as_ref(), &retention, now).await {
                Ok(0) => tracing::debug!("history retention: nothing to forget"),
                Ok(forgotten) => tracing::info!(forgotten, keep_days = days, "history retention: operations forgotten"),
                Err(e) => tracing::warn!(error = %e, "history retention failed; trying again at the next sweep"),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use pairpad_domain::{
        Append, Committed, CommittedOp, Language, NewRoom, RoomId, RoomRepo, Snapshot, TextOperation, Timestamp,
        UserId, text_at,
    };
    use pairpad_store::MemoryRepo;

    use super::*;

    const DAY: i64 = 24 * 60 * 60 * 1000;

    /// A room with `count` one-character insertions, one a day from day 1, and a checkpoint every
    /// `every` revisions.
    async fn room_with_history(repo: &dyn RoomRepo, count: u64, every: u64) -> RoomId {
        let id = RoomId::random();
        let room = NewRoom {
            id,
            language: Language::plaintext(),
            code: String::new(),
            created_at: Timestamp(0),
            view_id: RoomId::random(),
            owner_token_hash: None,
        };
        repo.create(&room).await.unwrap();
        let author = UserId::random();
        let mut text = String::new();
        for revision in 1..=count {
            let mut operation = TextOperation::new();
            operation.retain(text.len()).unwrap().insert("x").unwrap();
            text.push('x');
            let op = CommittedOp {
                revision,
                operation,
                op_id: None,
                author,
                author_name: "Ada".into(),
                at: Timestamp(revision as i64 * DAY),
            };
            let snapshot = (revision % every == 0).then(|| Snapshot { code: text.clone(), revision });
            assert_eq!(
                repo.commit(&[Append { room: id, expected_revision: revision - 1, ops: vec![op], snapshot }]).await,
                Ok(Committed::default())
            );
        }
        id
    }

    fn retention(days: u32, batch: usize) -> Retention {
        Retention { batch, pause: Duration::ZERO, ..Retention::for_days(days).unwrap() }
    }

    #[test]
    fn zero_days_keeps_everything() {
        assert_eq!(Retention::for_days(0), None);
        let week = Retention::for_days(7).unwrap();
        assert_eq!(week.cutoff(Timestamp(10 * DAY)), Timestamp(3 * DAY));
        assert_eq!(Retention::for_days(u32::MAX).unwrap().cutoff(Timestamp(0)).0, -(i64::from(u32::MAX) * DAY));
    }

    /// A sweep forgets, in batches, what is older than the cutoff and behind the latest snapshot:
    /// checkpoints, the latest snapshot and what follows it stay readable.
    #[actix_web::test]
    async fn a_sweep_forgets_old_operations_in_batches() {
        let repo: Arc<dyn RoomRepo> = Arc::new(MemoryRepo::new());
        let id = room_with_history(repo.as_ref(), 40, 10).await;
        // At day 45, keeping 10 days: revisions 1..=34 are older than the cutoff (day 35), and
        // those below the latest snapshot (40) go: 34 operations, in batches of 4.
        let forgotten = sweep(repo.as_ref(), &retention(10, 4), Timestamp(45 * DAY)).await.unwrap();
        assert_eq!(forgotten, 34);
        assert_eq!(sweep(repo.as_ref(), &retention(10, 4), Timestamp(45 * DAY)).await.unwrap(), 0);
        let kept: Vec<u64> = repo.ops_since(id, 0, 100).await.unwrap().iter().map(|op| op.revision).collect();
        assert_eq!(kept, (35..=40).collect::<Vec<_>>());
        for checkpoint in [0, 10, 20, 30, 40] {
            assert_eq!(text_at(repo.as_ref(), id, checkpoint).await.unwrap().code.len() as u64, checkpoint);
        }
        // Between checkpoints whose operations are gone, the text is gone too, even where some
        // of the operations after it are still kept.
        for gone in [1, 9, 31, 33, 36, 39] {
            assert!(text_at(repo.as_ref(), id, gone).await.is_err(), "revision {gone}");
        }
        assert_eq!(repo.load(id).await.unwrap().revision, 40);
    }

    #[actix_web::test]
    async fn a_recent_history_is_kept_whole() {
        let repo: Arc<dyn RoomRepo> = Arc::new(MemoryRepo::new());
        let id = room_with_history(repo.as_ref(), 20, 5).await;
        assert_eq!(sweep(repo.as_ref(), &retention(30, 3), Timestamp(21 * DAY)).await.unwrap(), 0);
        assert_eq!(repo.ops_since(id, 0, 100).await.unwrap().len(), 20);
    }

    /// The task stops when told, even in the middle of its wait.
    #[actix_web::test]
    async fn the_task_stops() {
        let repo: Arc<dyn RoomRepo> = Arc::new(MemoryRepo::new());
        let handle = start(repo, Retention { every: Duration::from_millis(10), ..retention(1, 10) });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!handle.0.is_closed(), "the task runs");
        handle.stop();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(handle.0.is_closed(), "the task stopped");
    }
}
