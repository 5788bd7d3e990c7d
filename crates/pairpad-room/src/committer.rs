//! Group commit: one task writes every room's operations to the store. Whatever arrives while a
//! transaction is in flight goes into the next one, across rooms, so one transaction and one
//! fsync carry many operations and throughput grows with load instead of collapsing on fsync.
//!
//! Catch-up reads are grouped the same way ([`Committer::read_after`]): a process that follows
//! another's commits hears of many rooms at once, and reads them all in one query.
//!
//! The committer is a task on the server's runtime: every store's `commit` is an honest `async`
//! call (SQLite's adapter runs its transactions on a writer thread of its own), so a thread of
//! its own would only add a hand-off between the rooms and the store.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pairpad_domain::{Append, Committed, CommittedOp, RepoError, RoomId, RoomRepo};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// A room's request to store an append; the answer comes back on `done`.
pub struct CommitJob {
    pub append: Append,
    pub chain: CommitChain,
    pub done: oneshot::Sender<Result<(), RepoError>>,
}

/// A room's appends that each continue the one before (a room has up to two in flight). Once one
/// fails, the store does not have the revisions the later ones build on, and another process
/// may have stored others in their place, which a later append's expected-revision check would
/// then accept: the committer refuses the rest of a broken chain without asking the store. A room
/// that starts over from the store starts a new chain.
#[derive(Clone, Default)]
pub struct CommitChain(Arc<AtomicBool>);

impl CommitChain {
    fn is_broken(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// Where a job's verdict goes.
struct Waiter {
    done: oneshot::Sender<Result<(), RepoError>>,
    chain: CommitChain,
}

impl Waiter {
    /// Breaks the chain before answering, so that the room hears of the failure only once every
    /// later append of the chain is sure to be refused.
    fn answer(self, result: Result<(), RepoError>) {
        if result.is_err() {
            self.chain.0.store(true, Ordering::Release);
        }
        let _ = self.done.send(result);
    }
}

/// The group committer's limits.
#[derive(Clone, Debug)]
pub struct CommitSettings {
    /// The most appends one transaction carries.
    pub max_batch: usize,
    /// How long a commit is retried while the store is unavailable; then its rooms fail (1011).
    pub retry_limit: Duration,
}

/// A room's request to read its stored operations after `after` (at most `limit`).
struct ReadJob {
    room: RoomId,
    after: u64,
    limit: usize,
    done: oneshot::Sender<Result<Vec<CommittedOp>, RepoError>>,
}

/// The most reads one query carries.
const MAX_READ_BATCH: usize = 128;

/// Sends jobs to the committer task, and reads to the task that groups them.
#[derive(Clone)]
pub struct Committer {
    jobs: mpsc::Sender<CommitJob>,
    reads: mpsc::Sender<ReadJob>,
    progress: Arc<Progress>,
}

impl Committer {
    /// Starts the committer as a task on the current tokio runtime. It stops when every handle is
    /// dropped. While the store is unavailable a commit is retried for at most
    /// `settings.retry_limit`.
    pub fn spawn(repo: Arc<dyn RoomRepo>, settings: &CommitSettings) -> Self {
        let (max_batch, retry_limit) = (settings.max_batch.max(1), settings.retry_limit);
        let (jobs, rx) = mpsc::channel(max_batch * 4);
        let (reads, reads_rx) = mpsc::channel(MAX_READ_BATCH * 4);
        let progress = Arc::new(Progress::default());
        // Shown from the start, at 0: a single process never conflicts.
        metrics::counter!("pairpad_commit_conflicts_total").increment(0);
        tokio::spawn(read_in_groups(repo.clone(), reads_rx));
        tokio::spawn(run(repo, rx, max_batch, retry_limit, progress.clone()));
        Self { jobs, reads, progress }
    }

    /// A room's stored operations after `after`, at most `limit`: [`RoomRepo::ops_since`], read
    /// together with the other rooms' reads waiting at the same time.
    pub async fn read_after(&self, room: RoomId, after: u64, limit: usize) -> Result<Vec<CommittedOp>, RepoError> {
        let stopped = || RepoError::Unavailable("the committer has stopped".into());
        let (done, answer) = oneshot::channel();
        self.reads.send(ReadJob { room, after, limit, done }).await.map_err(|_| stopped())?;
        answer.await.unwrap_or_else(|_| Err(stopped()))
    }

    /// Queues an append that continues `chain`; the returned receiver yields the store's verdict.
    pub async fn submit(&self, append: Append, chain: &CommitChain) -> oneshot::Receiver<Result<(), RepoError>> {
        let (done, verdict) = oneshot::channel();
        let job = CommitJob { append, chain: chain.clone(), done };
        if let Err(mpsc::error::SendError(job)) = self.jobs.send(job).await {
            let _ = job.done.send(Err(RepoError::Unavailable("the committer has stopped".into())));
        }
        verdict
    }

    /// How long appends have been waiting without any commit succeeding; `None` when none waits.
    pub fn waiting_for(&self) -> Option<Duration> {
        self.progress.waiting_for()
    }
}

/// Whether the committer gets anywhere, for `/health`: since when appends have waited without a
/// commit succeeding (the later of the oldest wait's start and the last success).
#[derive(Default)]
struct Progress {
    waiting_since: Mutex<Option<Instant>>,
}

impl Progress {
    fn since(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        // A plain value: still whole after a panic.
        self.waiting_since.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn waiting(&self) {
        self.since().get_or_insert_with(Instant::now);
    }

    fn committed(&self) {
        *self.since() = Some(Instant::now());
    }

    fn idle(&self) {
        *self.since() = None;
    }

    fn waiting_for(&self) -> Option<Duration> {
        self.since().map(|since| since.elapsed())
    }
}

async fn run(
    repo: Arc<dyn RoomRepo>,
    mut rx: mpsc::Receiver<CommitJob>,
    max_batch: usize,
    retry_limit: Duration,
    progress: Arc<Progress>,
) {
    let mut jobs = Vec::with_capacity(max_batch);
    while rx.recv_many(&mut jobs, max_batch).await > 0 {
        progress.waiting();
        for job in jobs.extract_if(.., |job| job.chain.is_broken()) {
            let refused = RepoError::Conflict { rooms: vec![job.append.room] };
            Waiter { done: job.done, chain: job.chain }.answer(Err(refused));
        }
        if jobs.is_empty() {
            if rx.is_empty() {
                progress.idle();
            }
            continue;
        }
        let (appends, waiters) = merge_by_room(jobs.drain(..));
        commit_batch(&*repo, appends, waiters, retry_limit, &progress).await;
        if rx.is_empty() {
            progress.idle();
        }
    }
}

/// Answers reads, each query carrying every read waiting (one at a time: a query's wait is what
/// gathers the next group).
async fn read_in_groups(repo: Arc<dyn RoomRepo>, mut rx: mpsc::Receiver<ReadJob>) {
    let mut jobs = Vec::with_capacity(MAX_READ_BATCH);
    while rx.recv_many(&mut jobs, MAX_READ_BATCH).await > 0 {
        let reads: Vec<(RoomId, u64)> = jobs.iter().map(|job| (job.room, job.after)).collect();
        let limit = jobs.iter().map(|job| job.limit).max().unwrap_or(0);
        match repo.ops_since_each(&reads, limit).await {
            Ok(answers) => {
                for (job, mut ops) in jobs.drain(..).zip(answers) {
                    ops.truncate(job.limit);
                    let _ = job.done.send(Ok(ops));
                }
            }
            Err(error) => {
                for job in jobs.drain(..) {
                    let _ = job.done.send(Err(error.clone()));
                }
            }
        }
        // (An answer short of reads leaves jobs behind: they hear nothing and fail as stopped.)
        jobs.clear();
    }
}

/// Commits one batch and answers its waiters. A room another writer got to first is left out of
/// the commit (the store names it): its waiters hear `Conflict` and the room catches up and comes
/// back, while the rest of the batch is stored all the same.
async fn commit_batch(
    repo: &dyn RoomRepo,
    appends: Vec<Append>,
    waiters: Vec<Vec<Waiter>>,
    retry_limit: Duration,
    progress: &Progress,
) {
    let started = Instant::now();
    // One bound for the whole batch, room-by-room retries included.
    let deadline = started + retry_limit;
    match commit_with_retry(repo, &appends, deadline).await {
        Ok(committed) => {
            progress.committed();
            let stored = appends.iter().filter(|a| committed.stored(a.room));
            let ops: usize = stored.map(|a| a.ops.len()).sum();
            metrics::histogram!("pairpad_commit_batch_ops").record(ops as f64);
            metrics::histogram!("pairpad_commit_seconds").record(started.elapsed().as_secs_f64());
            metrics::counter!("pairpad_operations_committed_total").increment(ops as u64);
            if !committed.conflicts.is_empty() {
                tracing::debug!(conflicted = committed.conflicts.len(), "rooms of a commit conflicted");
            }
            for (append, room_waiters) in appends.iter().zip(waiters) {
                for waiter in room_waiters {
                    waiter.answer(verdict(&committed, append.room));
                }
            }
        }
        // One room's own error (data the store refuses) fails the whole transaction: commit
        // room by room, so only that room hears of it. An unavailable store has already had its
        // time: trying each room again would only multiply the wait.
        Err(error) if appends.len() > 1 && !matches!(error, RepoError::Unavailable(_)) => {
            for (append, room_waiters) in appends.iter().zip(waiters) {
                let result = commit_with_retry(repo, std::slice::from_ref(append), deadline).await;
                let result = match result {
                    Ok(committed) => {
                        let result = verdict(&committed, append.room);
                        if result.is_ok() {
                            progress.committed();
                            metrics::counter!("pairpad_operations_committed_total").increment(append.ops.len() as u64);
                        }
                        result
                    }
                    Err(error) => {
                        tracing::warn!(room = %append.room, %error, "a room's append was refused");
                        Err(error)
                    }
                };
                for waiter in room_waiters {
                    waiter.answer(result.clone());
                }
            }
        }
        Err(error) => {
            tracing::warn!(%error, rooms = appends.len(), "a commit failed");
            for waiter in waiters.into_iter().flatten() {
                waiter.answer(Err(error.clone()));
            }
        }
    }
}

/// A room's verdict in a commit that succeeded.
fn verdict(committed: &Committed, room: RoomId) -> Result<(), RepoError> {
    if committed.stored(room) { Ok(()) } else { Err(RepoError::Conflict { rooms: vec![room] }) }
}

/// One append per room: a room's later append in the same batch continues its earlier one (its
/// expected revision is the earlier one's last), so the two become one, answered to both waiters.
fn merge_by_room(jobs: impl Iterator<Item = CommitJob>) -> (Vec<Append>, Vec<Vec<Waiter>>) {
    let mut appends: Vec<Append> = Vec::new();
    let mut waiters: Vec<Vec<Waiter>> = Vec::new();
    let mut index: HashMap<RoomId, usize> = HashMap::new();
    for CommitJob { append, chain, done } in jobs {
        let done = Waiter { done, chain };
        match index.get(&append.room) {
            Some(&i) => {
                appends[i].ops.extend(append.ops);
                // The later snapshot wins: two in one transaction happen only with a tiny
                // `snapshot_every`, and a missing checkpoint only lengthens a history read.
                if append.snapshot.is_some() {
                    appends[i].snapshot = append.snapshot;
                }
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

/// Commits, retrying while the store is unavailable until `deadline`: an unacknowledged edit
/// waits for a store that comes back, but not forever (its room then fails, and its clients
/// reconnect and re-send). Any other error belongs to the appends and would only repeat: it is
/// returned at once.
async fn commit_with_retry(repo: &dyn RoomRepo, appends: &[Append], deadline: Instant) -> Result<Committed, RepoError> {
    let mut delay = Duration::from_millis(50);
    loop {
        match repo.commit(appends).await {
            Err(RepoError::Unavailable(reason)) => {
                metrics::counter!("pairpad_store_errors_total").increment(1);
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    tracing::error!(%reason, "store unavailable for too long; the commit is given up");
                    return Err(RepoError::Unavailable(reason));
                }
                let wait = delay.min(left);
                tracing::warn!(%reason, retry_in_ms = wait.as_millis() as u64, "store unavailable; commit will be retried");
                tokio::time::sleep(wait).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use super::*;
    use pairpad_domain::{CommittedOp, Language, NewRoom, Snapshot, StoredRoom, TextOperation, Timestamp, UserId};
    use pairpad_store::MemoryRepo;

    /// A store in memory that refuses one room's appends for good, and is unavailable while told.
    #[derive(Default)]
    struct Flaky {
        rooms: MemoryRepo,
        refused_room: Option<RoomId>,
        unavailable: AtomicBool,
        commits: AtomicUsize,
    }

    #[async_trait::async_trait]
    impl RoomRepo for Flaky {
        fn kind(&self) -> &'static str {
            "flaky"
        }
        async fn ping(&self) -> Result<(), RepoError> {
            Ok(())
        }
        async fn create(&self, room: &NewRoom) -> Result<(), RepoError> {
            self.rooms.create(room).await
        }
        async fn load(&self, id: RoomId) -> Result<StoredRoom, RepoError> {
            self.rooms.load(id).await
        }
        async fn ops_since(&self, id: RoomId, after: u64, limit: usize) -> Result<Vec<CommittedOp>, RepoError> {
            self.rooms.ops_since(id, after, limit).await
        }
        async fn summary(&self, id: RoomId) -> Result<pairpad_domain::RoomSummary, RepoError> {
            self.rooms.summary(id).await
        }
        async fn checkpoint(&self, id: RoomId, revision: u64) -> Result<Option<Snapshot>, RepoError> {
            self.rooms.checkpoint(id, revision).await
        }
        async fn history(&self, id: RoomId, every: u64) -> Result<Vec<pairpad_domain::HistoryPoint>, RepoError> {
            self.rooms.history(id, every).await
        }
        async fn forget_operations(&self, before: Timestamp, limit: usize) -> Result<usize, RepoError> {
            self.rooms.forget_operations(before, limit).await
        }
        async fn commit(&self, appends: &[Append]) -> Result<Committed, RepoError> {
            self.commits.fetch_add(1, Ordering::Relaxed);
            if self.unavailable.load(Ordering::Relaxed) {
                return Err(RepoError::Unavailable("down for the test".into()));
            }
            if appends.iter().any(|a| Some(a.room) == self.refused_room) {
                return Err(RepoError::Rejected("refused for the test".into()));
            }
            self.rooms.commit(appends).await
        }
        async fn set_language(&self, id: RoomId, language: &Language, at: Timestamp) -> Result<(), RepoError> {
            self.rooms.set_language(id, language, at).await
        }
        async fn keys(&self, id: RoomId) -> Result<pairpad_domain::RoomKeys, RepoError> {
            self.rooms.keys(id).await
        }
        async fn touch(&self, id: RoomId, at: Timestamp) -> Result<(), RepoError> {
            self.rooms.touch(id, at).await
        }
        async fn idle_rooms(&self, before: Timestamp, limit: usize) -> Result<Vec<RoomId>, RepoError> {
            self.rooms.idle_rooms(before, limit).await
        }
        async fn delete(&self, id: RoomId, idle_before: Option<Timestamp>) -> Result<bool, RepoError> {
            self.rooms.delete(id, idle_before).await
        }
    }

    async fn new_room(repo: &dyn RoomRepo) -> RoomId {
        let room = NewRoom {
            id: RoomId::random(),
            language: Language::plaintext(),
            code: String::new(),
            created_at: Timestamp(0),
            view_id: RoomId::random(),
            owner_token_hash: None,
        };
        repo.create(&room).await.unwrap();
        room.id
    }

    /// Starts the committer's loop on the test's runtime, with these jobs already queued (so
    /// that they form one batch).
    fn start(
        repo: Arc<Flaky>,
        jobs: Vec<CommitJob>,
        retry_limit: Duration,
    ) -> (mpsc::Sender<CommitJob>, Arc<Progress>) {
        let (tx, rx) = mpsc::channel(16);
        for job in jobs {
            tx.try_send(job).ok().unwrap();
        }
        let progress = Arc::new(Progress::default());
        tokio::spawn(run(repo, rx, 16, retry_limit, progress.clone()));
        (tx, progress)
    }

    #[tokio::test]
    async fn a_room_the_store_refuses_fails_alone_and_at_once() {
        let mut repo = Flaky::default();
        let (a, refused, c) = (new_room(&repo).await, RoomId::random(), new_room(&repo).await);
        repo.refused_room = Some(refused);
        let repo = Arc::new(repo);
        let (jobs, verdicts): (Vec<_>, Vec<_>) = [a, refused, c].into_iter().map(|room| job(room, 0, 1..=1)).unzip();
        let (_tx, _) = start(repo.clone(), jobs, Duration::from_secs(3600));
        let mut results = Vec::new();
        for verdict in verdicts {
            results.push(verdict.await.unwrap());
        }
        assert_eq!(results[0], Ok(()));
        assert!(matches!(results[1], Err(RepoError::Rejected(_))), "{:?}", results[1]);
        assert_eq!(results[2], Ok(()));
        // The batch, then each room once: the refusal is never retried.
        assert_eq!(repo.commits.load(Ordering::Relaxed), 4);
        assert_eq!((repo.load(a).await.unwrap().revision, repo.load(c).await.unwrap().revision), (1, 1));
    }

    #[tokio::test]
    async fn an_unavailable_store_is_retried_for_a_bounded_time() {
        let repo = Arc::new(Flaky::default());
        let (a, b) = (new_room(&*repo).await, new_room(&*repo).await);
        repo.unavailable.store(true, Ordering::Relaxed);
        let (first, first_verdict) = job(a, 0, 1..=1);
        let (second, second_verdict) = job(b, 0, 1..=1);
        let limit = Duration::from_millis(400);
        let started = Instant::now();
        let (_tx, progress) = start(repo.clone(), vec![first, second], limit);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(progress.waiting_for().is_some_and(|waited| waited >= Duration::from_millis(150)));
        assert!(matches!(first_verdict.await.unwrap(), Err(RepoError::Unavailable(_))));
        assert!(matches!(second_verdict.await.unwrap(), Err(RepoError::Unavailable(_))));
        let waited = started.elapsed();
        assert!(limit <= waited && waited < limit * 3, "gave up after {waited:?}");
        // Back-off, and no second round room by room: a handful of attempts in all.
        assert!((2..=8).contains(&repo.commits.load(Ordering::Relaxed)), "{:?}", repo.commits);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(progress.waiting_for(), None, "nothing waits any more");
    }

    #[tokio::test]
    async fn a_store_that_comes_back_in_time_gets_the_commit() {
        let repo = Arc::new(Flaky::default());
        let a = new_room(&*repo).await;
        repo.unavailable.store(true, Ordering::Relaxed);
        let (first, verdict) = job(a, 0, 1..=1);
        let (_tx, _) = start(repo.clone(), vec![first], Duration::from_secs(3600));
        tokio::time::sleep(Duration::from_millis(300)).await;
        repo.unavailable.store(false, Ordering::Relaxed);
        assert_eq!(verdict.await.unwrap(), Ok(()));
        assert_eq!(repo.load(a).await.unwrap().revision, 1);
    }

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
                author_name: "a".into(),
                at: Timestamp(0),
            })
            .collect();
        let (done, verdict) = oneshot::channel();
        let append = Append { room, expected_revision: expected, ops, snapshot: None };
        (CommitJob { append, chain: CommitChain::default(), done }, verdict)
    }

    #[tokio::test]
    async fn a_conflict_refuses_its_room_and_the_same_commit_stores_the_others() {
        let repo = Arc::new(Flaky::default());
        let (a, taken, c) = (new_room(&*repo).await, new_room(&*repo).await, new_room(&*repo).await);
        // Another process stored `taken`'s revision 1 first.
        let (theirs, _) = job(taken, 0, 1..=1);
        assert_eq!(repo.commit(&[theirs.append]).await, Ok(Committed::default()));
        let commits = repo.commits.load(Ordering::Relaxed);
        let (jobs, verdicts): (Vec<_>, Vec<_>) = [a, taken, c].into_iter().map(|room| job(room, 0, 1..=1)).unzip();
        let (_tx, _) = start(repo.clone(), jobs, Duration::from_secs(3600));
        let mut results = Vec::new();
        for verdict in verdicts {
            results.push(verdict.await.unwrap());
        }
        assert_eq!(results, [Ok(()), Err(RepoError::Conflict { rooms: vec![taken] }), Ok(())]);
        assert_eq!(repo.commits.load(Ordering::Relaxed), commits + 1, "one transaction");
        assert_eq!((repo.load(a).await.unwrap().revision, repo.load(c).await.unwrap().revision), (1, 1));
    }

    #[tokio::test]
    async fn the_rest_of_a_failed_chain_is_refused_without_asking_the_store() {
        let mut repo = Flaky::default();
        let (refused, other) = (new_room(&repo).await, new_room(&repo).await);
        repo.refused_room = Some(refused);
        let repo = Arc::new(repo);
        let (first, first_verdict) = job(refused, 0, 1..=1);
        let chain = first.chain.clone();
        let (tx, _) = start(repo.clone(), vec![first], Duration::from_secs(3600));
        assert!(matches!(first_verdict.await.unwrap(), Err(RepoError::Rejected(_))));
        let commits = repo.commits.load(Ordering::Relaxed);
        // The room's second append was queued before it heard; another room's is unaffected.
        let (mut second, second_verdict) = job(refused, 1, 2..=2);
        second.chain = chain;
        let (third, third_verdict) = job(other, 0, 1..=1);
        tx.send(second).await.ok().unwrap();
        tx.send(third).await.ok().unwrap();
        assert_eq!(second_verdict.await.unwrap(), Err(RepoError::Conflict { rooms: vec![refused] }));
        assert_eq!(third_verdict.await.unwrap(), Ok(()));
        assert_eq!(repo.commits.load(Ordering::Relaxed), commits + 1, "only the other room's append reached the store");
    }

    #[test]
    fn a_rooms_consecutive_appends_become_one() {
        let (a, b) = (RoomId::random(), RoomId::random());
        let (first, _) = job(a, 0, 1..=2);
        let (other, _) = job(b, 5, 6..=6);
        let (mut second, _) = job(a, 2, 3..=4);
        second.append.snapshot = Some(Snapshot { code: "x".into(), revision: 4 });
        let (appends, waiters) = merge_by_room([first, other, second].into_iter());
        assert_eq!(appends.len(), 2);
        assert_eq!((appends[0].room, appends[0].expected_revision), (a, 0));
        assert_eq!(appends[0].ops.iter().map(|op| op.revision).collect::<Vec<_>>(), [1, 2, 3, 4]);
        assert_eq!(appends[0].snapshot.as_ref().map(|s| s.revision), Some(4));
        assert_eq!(waiters.iter().map(Vec::len).collect::<Vec<_>>(), [2, 1]);
    }
}
