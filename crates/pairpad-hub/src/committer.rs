//! Group commit: one task writes every room's operations to the store. Whatever arrives while a
//! transaction is in flight goes into the next one, across rooms, so one transaction and one
//! fsync carry many operations and throughput grows with load instead of collapsing on fsync.
//!
//! The committer has a thread of its own (with a single-threaded runtime), apart from the threads
//! that serve connections: a store over a synchronous database (SQLite) commits right there,
//! with no further hand-off to a blocking pool and back.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pairpad_domain::{Append, RepoError, RoomId, RoomRepo};
use tokio::sync::{mpsc, oneshot};

/// A room's request to store an append; the answer comes back on `done`.
pub struct CommitJob {
    pub append: Append,
    pub done: oneshot::Sender<Result<(), RepoError>>,
}

/// Sends jobs to the committer task.
#[derive(Clone)]
pub struct Committer {
    jobs: mpsc::Sender<CommitJob>,
}

impl Committer {
    /// Starts the committer on a thread of its own. It stops when every handle is dropped.
    pub fn spawn(repo: Arc<dyn RoomRepo>, max_batch: usize) -> std::io::Result<Self> {
        let max_batch = max_batch.max(1);
        let (jobs, rx) = mpsc::channel(max_batch * 4);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        std::thread::Builder::new()
            .name("pairpad-committer".into())
            .spawn(move || runtime.block_on(run(repo, rx, max_batch)))?;
        Ok(Self { jobs })
    }

    /// Queues an append; the returned receiver yields the store's verdict.
    pub async fn submit(&self, append: Append) -> oneshot::Receiver<Result<(), RepoError>> {
        let (done, verdict) = oneshot::channel();
        if let Err(mpsc::error::SendError(job)) = self.jobs.send(CommitJob { append, done }).await {
            let _ = job.done.send(Err(RepoError::Unavailable("the committer has stopped".into())));
        }
        verdict
    }
}

async fn run(repo: Arc<dyn RoomRepo>, mut rx: mpsc::Receiver<CommitJob>, max_batch: usize) {
    let mut jobs = Vec::with_capacity(max_batch);
    while rx.recv_many(&mut jobs, max_batch).await > 0 {
        let (appends, waiters) = merge_by_room(jobs.drain(..));
        let started = Instant::now();
        let ops: usize = appends.iter().map(|a| a.ops.len()).sum();
        match commit_with_retry(&*repo, &appends).await {
            Ok(()) => {
                metrics::histogram!("pairpad_commit_batch_ops").record(ops as f64);
                metrics::histogram!("pairpad_commit_seconds").record(started.elapsed().as_secs_f64());
                metrics::counter!("pairpad_operations_committed_total").increment(ops as u64);
                for done in waiters.into_iter().flatten() {
                    let _ = done.send(Ok(()));
                }
            }
            // One room's conflict must not fail the others: retry them one by one.
            Err(_) if appends.len() > 1 => {
                for (append, room_waiters) in appends.iter().zip(waiters) {
                    let result = commit_with_retry(&*repo, std::slice::from_ref(append)).await;
                    if result.is_ok() {
                        metrics::counter!("pairpad_operations_committed_total").increment(append.ops.len() as u64);
                    }
                    for done in room_waiters {
                        let _ = done.send(result.clone());
                    }
                }
            }
            Err(e) => {
                for done in waiters.into_iter().flatten() {
                    let _ = done.send(Err(e.clone()));
                }
            }
        }
    }
}

type Waiter = oneshot::Sender<Result<(), RepoError>>;

/// One append per room: a room's later append in the same batch continues its earlier one (its
/// expected revision is the earlier one's last), so the two become one, answered to both waiters.
fn merge_by_room(jobs: impl Iterator<Item = CommitJob>) -> (Vec<Append>, Vec<Vec<Waiter>>) {
    let mut appends: Vec<Append> = Vec::new();
    let mut waiters: Vec<Vec<Waiter>> = Vec::new();
    let mut index: HashMap<RoomId, usize> = HashMap::new();
    for CommitJob { append, done } in jobs {
        match index.get(&append.room) {
            Some(&i) => {
                appends[i].ops.extend(append.ops);
                if append.snapshot.is_some() {
                    appends[i].snapshot = append.snapshot;
                }
                appends[i].discard_through = appends[i].discard_through.max(append.discard_through);
                waiters[i].push(done);
            }
            None => {
                index.insert(append.room, appends.len());
                appends.push(append);
                waiters.push(vec![done]);
            }
        }
    }
    (appends, waiters)
}

/// Commits, retrying while the store is unreachable: an unacknowledged edit waits rather than
/// being dropped. Other errors are the caller's.
async fn commit_with_retry(repo: &dyn RoomRepo, appends: &[Append]) -> Result<(), RepoError> {
    let mut delay = Duration::from_millis(50);
    loop {
        match repo.commit(appends).await {
            Err(RepoError::Unavailable(reason)) => {
                metrics::counter!("pairpad_store_errors_total").increment(1);
                tracing::warn!(%reason, retry_in_ms = delay.as_millis() as u64, "store unavailable; commit will be retried");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pairpad_domain::{CommittedOp, Snapshot, TextOperation, Timestamp, UserId};

    fn job(
        room: RoomId,
        expected: u64,
        revisions: std::ops::RangeInclusive<u64>,
    ) -> (CommitJob, oneshot::Receiver<Result<(), RepoError>>) {
        let ops = revisions
            .map(|revision| CommittedOp {
                revision,
                operation: TextOperation::new(),
                op_id: None,
                author: UserId::random(),
                at: Timestamp(0),
            })
            .collect();
        let (done, verdict) = oneshot::channel();
        let append = Append { room, expected_revision: expected, ops, snapshot: None, discard_through: None };
        (CommitJob { append, done }, verdict)
    }

    #[test]
    fn a_rooms_consecutive_appends_become_one() {
        let (a, b) = (RoomId::random(), RoomId::random());
        let (first, _) = job(a, 0, 1..=2);
        let (other, _) = job(b, 5, 6..=6);
        let (mut second, _) = job(a, 2, 3..=4);
        second.append.snapshot = Some(Snapshot { code: "x".into(), revision: 4 });
        second.append.discard_through = Some(1);
        let (appends, waiters) = merge_by_room([first, other, second].into_iter());
        assert_eq!(appends.len(), 2);
        assert_eq!((appends[0].room, appends[0].expected_revision), (a, 0));
        assert_eq!(appends[0].ops.iter().map(|op| op.revision).collect::<Vec<_>>(), [1, 2, 3, 4]);
        assert_eq!(appends[0].snapshot.as_ref().map(|s| s.revision), Some(4));
        assert_eq!(appends[0].discard_through, Some(1));
        assert_eq!(waiters.iter().map(Vec::len).collect::<Vec<_>>(), [2, 1]);
    }
}
