//! The checks every `RoomRepo` adapter must pass.

use std::sync::Arc;

use pairpad_domain::{
    Append, Committed, CommittedOp, Language, NewRoom, RepoError, RoomId, RoomRepo, Snapshot, TextOperation, Timestamp,
    UserId,
};

const AWKWARD_TEXT: &str = "fn main() {\r\n    println!(\"héllo 世界 🦀 👍🏽 e\u{301}\");\r\n}\n";

pub async fn create_room(repo: &dyn RoomRepo, code: &str) -> RoomId {
    let id = RoomId::random();
    let room = NewRoom {
        id,
        language: Language::new("rust").unwrap(),
        code: code.to_owned(),
        created_at: Timestamp(1_700_000_000_000),
        view_id: RoomId::random(),
        owner_token_hash: None,
    };
    repo.create(&room).await.expect("create");
    id
}

/// An operation appending `text` to a document of `len` characters, committed as `revision`.
pub fn append_op(revision: u64, len: usize, text: &str, op_id: Option<&str>) -> CommittedOp {
    let mut operation = TextOperation::new();
    operation.retain(len).unwrap().insert(text).unwrap();
    CommittedOp {
        revision,
        operation,
        op_id: op_id.map(str::to_owned),
        author: UserId::random(),
        author_name: "Ada".into(),
        at: Timestamp(1_700_000_000_000 + revision as i64),
    }
}

pub fn append(room: RoomId, expected_revision: u64, ops: Vec<CommittedOp>) -> Append {
    Append { room, expected_revision, ops, snapshot: None }
}

pub async fn created_rooms_load_back_exactly(repo: Arc<dyn RoomRepo>) {
    assert!(["memory", "sqlite", "postgres"].contains(&repo.kind()));
    repo.ping().await.expect("ping");
    let id = create_room(&*repo, AWKWARD_TEXT).await;
    let stored = repo.load(id).await.expect("load");
    assert_eq!(stored.snapshot, Snapshot { code: AWKWARD_TEXT.to_owned(), revision: 0 });
    assert_eq!((stored.id, stored.revision, stored.language.as_str()), (id, 0, "rust"));
    assert_eq!(stored.created_at, Timestamp(1_700_000_000_000));
    assert!(stored.ops_after_snapshot.is_empty());
}

pub async fn ids_are_unique(repo: Arc<dyn RoomRepo>) {
    let id = create_room(&*repo, "").await;
    let again = NewRoom {
        id,
        language: Language::plaintext(),
        code: "other".into(),
        created_at: Timestamp(0),
        view_id: RoomId::random(),
        owner_token_hash: None,
    };
    assert_eq!(repo.create(&again).await, Err(RepoError::AlreadyExists(id)));
    assert_eq!(repo.load(id).await.expect("load").snapshot.code, "");
}

pub async fn unknown_rooms_are_not_found(repo: Arc<dyn RoomRepo>) {
    let id = RoomId::random();
    assert_eq!(repo.load(id).await, Err(RepoError::NotFound(id)));
    assert_eq!(repo.commit(&[append(id, 0, vec![append_op(1, 0, "x", None)])]).await, Err(RepoError::NotFound(id)));
    assert_eq!(repo.ops_since(id, 0, 10).await, Ok(vec![]));
}

pub async fn commits_append_operations_and_move_the_revision(repo: Arc<dyn RoomRepo>) {
    let id = create_room(&*repo, "ab").await;
    let ops = vec![append_op(1, 2, "日本", Some("c-1")), append_op(2, 4, "🦀\r\n", None)];
    assert_eq!(repo.commit(&[append(id, 0, ops.clone())]).await, Ok(Committed::default()), "commit");
    let third = append_op(3, 7, "x", Some("c-2"));
    assert_eq!(repo.commit(&[append(id, 2, vec![third.clone()])]).await, Ok(Committed::default()), "second commit");
    let stored = repo.load(id).await.expect("load");
    assert_eq!(stored.revision, 3);
    assert_eq!(stored.ops_after_snapshot, [ops, vec![third]].concat());
    assert!(stored.updated_at > stored.created_at);
}

pub async fn a_stale_expected_revision_is_a_conflict(repo: Arc<dyn RoomRepo>) {
    let id = create_room(&*repo, "").await;
    assert_eq!(
        repo.commit(&[append(id, 0, vec![append_op(1, 0, "a", None)])]).await,
        Ok(Committed::default()),
        "commit"
    );
    // A second writer that still believes the room is at revision 0 loses.
    let late = append(id, 0, vec![append_op(1, 0, "b", None)]);
    assert_eq!(repo.commit(&[late]).await, Ok(Committed { conflicts: vec![id] }));
    let stored = repo.load(id).await.expect("load");
    assert_eq!(stored.revision, 1);
    assert_eq!(stored.ops_after_snapshot.len(), 1);
}

/// A room another writer got to first is left out of a batch, whole, and named; the other rooms
/// of the batch are stored by the same commit.
pub async fn a_conflict_leaves_out_only_its_room(repo: Arc<dyn RoomRepo>) {
    let good = create_room(&*repo, "").await;
    let bad = create_room(&*repo, "").await;
    let batch = [
        append(good, 0, vec![append_op(1, 0, "kept", None)]),
        append(bad, 5, vec![append_op(6, 0, "no", None), append_op(7, 2, "no", None)]),
    ];
    assert_eq!(repo.commit(&batch).await, Ok(Committed { conflicts: vec![bad] }), "the room that conflicted");
    assert_eq!(repo.load(good).await.expect("load").revision, 1, "the good room's append was stored");
    assert_eq!(repo.load(bad).await.expect("load").revision, 0, "nothing of the conflicting room");
    let batch = [append(good, 1, vec![append_op(2, 4, "a", None)]), append(bad, 0, vec![append_op(1, 0, "b", None)])];
    assert_eq!(repo.commit(&batch).await, Ok(Committed::default()), "commit both");
    assert_eq!(repo.load(good).await.expect("load").revision, 2);
    assert_eq!(repo.load(bad).await.expect("load").revision, 1);
}

/// A refused batch names exactly the rooms that refused it, wherever they are in the batch and
/// however their revision is off: behind the log (a revision another writer took) or beyond it.
pub async fn a_conflict_names_the_rooms_that_conflicted(repo: Arc<dyn RoomRepo>) {
    let [good, behind, ahead, fresh] = [(); 4].map(|()| RoomId::random());
    for id in [good, behind, ahead, fresh] {
        repo.create(&NewRoom {
            id,
            language: Language::plaintext(),
            code: String::new(),
            created_at: Timestamp(0),
            view_id: RoomId::random(),
            owner_token_hash: None,
        })
        .await
        .expect("create");
    }
    for id in [good, behind, ahead] {
        let ops = vec![append_op(1, 0, "a", None), append_op(2, 1, "b", None)];
        assert_eq!(repo.commit(&[append(id, 0, ops)]).await, Ok(Committed::default()), "commit");
    }
    let batch = [
        append(good, 2, vec![append_op(3, 2, "c", None)]),
        append(behind, 1, vec![append_op(2, 1, "late", None)]),
        append(fresh, 0, vec![append_op(1, 0, "c", None)]),
        append(ahead, 7, vec![append_op(8, 2, "early", None)]),
    ];
    assert_eq!(repo.commit(&batch).await, Ok(Committed { conflicts: vec![behind, ahead] }));
    for (id, revision) in [(good, 3), (behind, 2), (ahead, 2), (fresh, 1)] {
        assert_eq!(repo.load(id).await.expect("load").revision, revision, "only the conflicting rooms are left out");
    }
    // A conflicting room's snapshot is left out with its operations.
    let mut late = append(behind, 0, vec![append_op(1, 0, "late", None)]);
    late.snapshot = Some(Snapshot { code: "late".into(), revision: 1 });
    assert_eq!(repo.commit(&[late]).await, Ok(Committed { conflicts: vec![behind] }));
    assert_eq!(repo.checkpoint(behind, 1).await.expect("checkpoint").map(|s| s.revision), Some(0));
    // A room that does not exist is named as such, wherever it is, and nothing is stored.
    let missing = RoomId::random();
    let batch =
        [append(good, 3, vec![append_op(4, 2, "d", None)]), append(missing, 0, vec![append_op(1, 0, "x", None)])];
    assert_eq!(repo.commit(&batch).await, Err(RepoError::NotFound(missing)));
    let batch = [append(missing, 3, vec![append_op(4, 2, "x", None)]), batch[0].clone()];
    assert_eq!(repo.commit(&batch).await, Err(RepoError::NotFound(missing)), "expecting a revision, too");
    assert_eq!(repo.load(good).await.expect("load").revision, 3, "nothing of a refused batch is stored");
}

/// The room recognises a re-sent operation by its `opId` among the operations it reads back, so
/// every read keeps the key; the store itself does not judge keys.
pub async fn op_ids_are_kept_for_the_room_to_judge(repo: Arc<dyn RoomRepo>) {
    let id = create_room(&*repo, "").await;
    assert_eq!(
        repo.commit(&[append(id, 0, vec![append_op(1, 0, "a", Some("key-1")), append_op(2, 1, "b", None)])]).await,
        Ok(Committed::default()),
        "commit"
    );
    assert_eq!(
        repo.commit(&[append(id, 2, vec![append_op(3, 2, "c", Some("key-1"))])]).await,
        Ok(Committed::default()),
        "a reused key"
    );
    let keys = |ops: &[CommittedOp]| ops.iter().map(|op| op.op_id.clone()).collect::<Vec<_>>();
    let expected = vec![Some("key-1".to_owned()), None, Some("key-1".to_owned())];
    assert_eq!(keys(&repo.load(id).await.expect("load").ops_after_snapshot), expected);
    assert_eq!(keys(&repo.ops_since(id, 0, 10).await.expect("ops since")), expected);
}

pub async fn snapshots_bound_what_load_replays(repo: Arc<dyn RoomRepo>) {
    let id = create_room(&*repo, "").await;
    let mut batch = append(id, 0, vec![append_op(1, 0, "a", None), append_op(2, 1, "b", None)]);
    batch.snapshot = Some(Snapshot { code: "ab".into(), revision: 2 });
    assert_eq!(repo.commit(&[batch]).await, Ok(Committed::default()), "commit");
    assert_eq!(
        repo.commit(&[append(id, 2, vec![append_op(3, 2, "c", None)])]).await,
        Ok(Committed::default()),
        "commit"
    );
    let stored = repo.load(id).await.expect("load");
    assert_eq!(stored.snapshot, Snapshot { code: "ab".into(), revision: 2 });
    assert_eq!(stored.ops_after_snapshot.iter().map(|op| op.revision).collect::<Vec<_>>(), [3]);
    // The log itself keeps everything.
    assert_eq!(repo.ops_since(id, 0, 100).await.expect("ops").len(), 3);
}

/// Every snapshot stays as a checkpoint, so the text at every revision is a checkpoint plus the
/// operations after it; each operation keeps its author's name.
pub async fn every_revision_is_kept_with_checkpoints(repo: Arc<dyn RoomRepo>) {
    let id = create_room(&*repo, "é").await;
    let mut expected = vec!["é".to_owned()];
    for revision in 1..=9u64 {
        let len = expected.last().unwrap().chars().count();
        let mut op = append_op(revision, len, if revision % 2 == 0 { "🦀" } else { "世" }, None);
        op.author_name = if revision <= 4 { "Ada" } else { "Bob Ü" }.into();
        let mut batch = append(id, revision - 1, vec![op.clone()]);
        let text = op.operation.apply(expected.last().unwrap()).unwrap();
        if revision % 3 == 0 {
            batch.snapshot = Some(Snapshot { code: text.clone(), revision });
        }
        expected.push(text);
        assert_eq!(repo.commit(&[batch]).await, Ok(Committed::default()), "commit");
    }
    assert_eq!(repo.checkpoint(id, 0).await.unwrap(), Some(Snapshot { code: "é".into(), revision: 0 }));
    assert_eq!(repo.checkpoint(id, 5).await.unwrap().map(|c| c.revision), Some(3));
    assert_eq!(repo.checkpoint(id, 6).await.unwrap().map(|c| c.revision), Some(6));
    assert_eq!(repo.checkpoint(id, 100).await.unwrap().map(|c| c.revision), Some(9));
    assert_eq!(repo.checkpoint(RoomId::random(), 5).await.unwrap(), None);
    for (revision, text) in expected.iter().enumerate() {
        let at = pairpad_domain::text_at(&*repo, id, revision as u64).await.expect("text at a kept revision");
        assert_eq!((at.revision, at.code.as_str()), (revision as u64, text.as_str()));
    }
    assert_eq!(pairpad_domain::text_at(&*repo, id, 10).await, Err(pairpad_domain::HistoryError::NotKept(10)));
    let names: Vec<String> =
        repo.ops_since(id, 3, 3).await.unwrap().iter().map(|op| op.author_name.to_string()).collect();
    assert_eq!(names, ["Ada", "Bob Ü", "Bob Ü"]);
    let summary = repo.summary(id).await.unwrap();
    assert_eq!((summary.id, summary.language.as_str(), summary.revision), (id, "rust", 9));
    let unknown = RoomId::random();
    assert_eq!(repo.summary(unknown).await, Err(RepoError::NotFound(unknown)));
    // Loading still starts from the latest snapshot.
    let stored = repo.load(id).await.unwrap();
    assert_eq!((stored.snapshot.revision, stored.ops_after_snapshot.len(), stored.revision), (9, 0, 9));
}

/// The timeslider's points: runs of `every` revisions, each with its last revision, time and
/// authors.
pub async fn history_points_summarise_runs_of_revisions(repo: Arc<dyn RoomRepo>) {
    let id = create_room(&*repo, "").await;
    let ops: Vec<CommittedOp> = (1..=7)
        .map(|r| {
            let mut op = append_op(r, r as usize - 1, "x", None);
            op.author_name = ["Cy", "Ada", "Cy", "Bo", "Bo", "Bo", "Ada"][r as usize - 1].into();
            op
        })
        .collect();
    assert_eq!(repo.commit(&[append(id, 0, ops)]).await, Ok(Committed::default()), "commit");
    let points = repo.history(id, 3).await.unwrap();
    let summary: Vec<(u64, i64, Vec<String>)> = points.into_iter().map(|p| (p.revision, p.at.0, p.authors)).collect();
    let at = |r: i64| 1_700_000_000_000 + r;
    assert_eq!(
        summary,
        vec![
            (3, at(3), vec!["Ada".to_owned(), "Cy".to_owned()]),
            (6, at(6), vec!["Bo".to_owned()]),
            (7, at(7), vec!["Ada".to_owned()]),
        ]
    );
    assert_eq!(repo.history(id, 100).await.unwrap().iter().map(|p| p.revision).collect::<Vec<_>>(), [7]);
    assert_eq!(repo.history(id, 0).await.unwrap().len(), 7, "every is at least 1");
    assert!(repo.history(RoomId::random(), 3).await.unwrap().is_empty());
}

/// Retention: operations older than a time and behind their room's latest snapshot go, a bounded
/// number at a time; the latest snapshot's revision and what follows stay, so commits and loads
/// are unaffected, and the checkpoints keep the text at their revisions.
pub async fn old_operations_are_forgotten_behind_the_latest_snapshot(repo: Arc<dyn RoomRepo>) {
    let id = create_room(&*repo, "").await;
    let other = create_room(&*repo, "").await;
    let ops: Vec<CommittedOp> = (1..=6).map(|r| append_op(r, r as usize - 1, "x", None)).collect();
    let mut batch = append(id, 0, ops);
    batch.snapshot = Some(Snapshot { code: "xxxxxx".into(), revision: 6 });
    assert_eq!(
        repo.commit(&[batch, append(other, 0, vec![append_op(1, 0, "y", None)])]).await,
        Ok(Committed::default()),
        "commit"
    );
    assert_eq!(
        repo.commit(&[append(id, 6, vec![append_op(7, 6, "x", None)])]).await,
        Ok(Committed::default()),
        "commit"
    );
    let revisions = |ops: Vec<CommittedOp>| ops.iter().map(|op| op.revision).collect::<Vec<_>>();
    // Committed at 1_700_000_000_000 + revision: "before + 4" leaves revisions 4 and later.
    let before = Timestamp(1_700_000_000_004);
    assert_eq!(repo.forget_operations(before, 2).await.unwrap(), 2, "at most the limit");
    assert_eq!(repo.forget_operations(before, 100).await.unwrap(), 1);
    assert_eq!(repo.forget_operations(before, 100).await.unwrap(), 0);
    assert_eq!(revisions(repo.ops_since(id, 0, 100).await.unwrap()), [4, 5, 6, 7]);
    // Everything old enough goes, but never the latest snapshot's own revision.
    assert_eq!(repo.forget_operations(Timestamp(i64::MAX), 100).await.unwrap(), 2);
    assert_eq!(revisions(repo.ops_since(id, 0, 100).await.unwrap()), [6, 7]);
    assert_eq!(revisions(repo.ops_since(other, 0, 100).await.unwrap()), [1], "no snapshot: all kept");
    assert_eq!(
        repo.commit(&[append(id, 7, vec![append_op(8, 7, "x", None)])]).await,
        Ok(Committed::default()),
        "the head is still checked"
    );
    assert_eq!(repo.load(id).await.unwrap().revision, 8);
    assert_eq!(pairpad_domain::text_at(&*repo, id, 6).await.unwrap().code, "xxxxxx");
    assert_eq!(pairpad_domain::text_at(&*repo, id, 7).await.unwrap().code, "xxxxxxx");
    assert_eq!(pairpad_domain::text_at(&*repo, id, 5).await, Err(pairpad_domain::HistoryError::NotKept(5)));
    assert_eq!(pairpad_domain::text_at(&*repo, id, 0).await.unwrap().code, "", "checkpoints stay");
}

pub async fn ops_since_reads_in_order_with_a_limit(repo: Arc<dyn RoomRepo>) {
    let id = create_room(&*repo, "").await;
    let ops: Vec<CommittedOp> = (1..=20).map(|r| append_op(r, r as usize - 1, "x", None)).collect();
    assert_eq!(repo.commit(&[append(id, 0, ops.clone())]).await, Ok(Committed::default()), "commit");
    assert_eq!(repo.ops_since(id, 5, 3).await.expect("ops"), ops[5..8].to_vec());
    assert_eq!(repo.ops_since(id, 20, 3).await.expect("ops"), vec![]);
}

/// Several reads at once answer as each alone would, in their order, a room read twice and an
/// unknown room included.
pub async fn ops_since_each_answers_every_read_in_order(repo: Arc<dyn RoomRepo>) {
    let (a, b) = (create_room(&*repo, "").await, create_room(&*repo, "").await);
    for id in [a, b] {
        let ops: Vec<CommittedOp> = (1..=6).map(|r| append_op(r, r as usize - 1, "x", None)).collect();
        assert_eq!(repo.commit(&[append(id, 0, ops)]).await, Ok(Committed::default()), "commit");
    }
    let reads = [(b, 4), (a, 0), (RoomId::random(), 0), (a, 5), (b, 6), (a, 1)];
    let mut expected = Vec::new();
    for (id, after) in reads {
        expected.push(repo.ops_since(id, after, 3).await.expect("ops"));
    }
    assert_eq!(repo.ops_since_each(&reads, 3).await.expect("ops"), expected);
    assert_eq!(expected.iter().map(Vec::len).collect::<Vec<_>>(), [2, 3, 0, 1, 0, 3]);
    assert_eq!(repo.ops_since_each(&[], 3).await.expect("nothing"), Vec::<Vec<CommittedOp>>::new());
}

pub async fn language_changes_are_stored(repo: Arc<dyn RoomRepo>) {
    let id = create_room(&*repo, "").await;
    repo.set_language(id, &Language::new("python").unwrap(), Timestamp(1_800_000_000_000)).await.expect("set");
    let stored = repo.load(id).await.expect("load");
    assert_eq!(stored.language.as_str(), "python");
    assert_eq!(stored.updated_at, Timestamp(1_800_000_000_000));
    let unknown = RoomId::random();
    assert_eq!(
        repo.set_language(unknown, &Language::plaintext(), Timestamp(0)).await,
        Err(RepoError::NotFound(unknown))
    );
}

/// Text with U+0000 (which PostgreSQL's `text` cannot hold) is refused for good, by every adapter
/// alike: `Rejected`, never `Unavailable` (which the committer would retry), and nothing is stored.
pub async fn text_with_nul_is_rejected_for_good(repo: Arc<dyn RoomRepo>) {
    fn rejected<T>(result: Result<T, RepoError>) -> bool {
        matches!(result, Err(RepoError::Rejected(_)))
    }
    let room = NewRoom {
        id: RoomId::random(),
        language: Language::plaintext(),
        code: "a\0b".into(),
        created_at: Timestamp(0),
        view_id: RoomId::random(),
        owner_token_hash: None,
    };
    assert!(rejected(repo.create(&room).await), "a room's code");
    assert_eq!(repo.load(room.id).await, Err(RepoError::NotFound(room.id)));

    let id = create_room(&*repo, "").await;
    let other = create_room(&*repo, "").await;
    assert!(rejected(repo.commit(&[append(id, 0, vec![append_op(1, 0, "x\0y", None)])]).await), "inserted text");
    assert!(rejected(repo.commit(&[append(id, 0, vec![append_op(1, 0, "x", Some("key\0"))])]).await), "an op id");
    let mut snapshot = append(id, 0, vec![append_op(1, 0, "x", None)]);
    snapshot.snapshot = Some(Snapshot { code: "\0".into(), revision: 1 });
    assert!(rejected(repo.commit(&[snapshot]).await), "a snapshot");
    // In a batch, the whole batch is refused; the other room's append then goes on its own.
    let batch =
        [append(other, 0, vec![append_op(1, 0, "fine", None)]), append(id, 0, vec![append_op(1, 0, "\0", None)])];
    assert!(rejected(repo.commit(&batch).await), "a batch with one bad room");
    assert_eq!(repo.load(id).await.unwrap().revision, 0);
    assert_eq!(repo.load(other).await.unwrap().revision, 0);
    assert_eq!(repo.commit(&batch[..1]).await, Ok(Committed::default()), "the other room alone");
    assert_eq!(repo.load(other).await.unwrap().revision, 1);
}

/// A room created with these keys at `created_at`.
async fn create_keyed_room(repo: &dyn RoomRepo, created_at: Timestamp) -> NewRoom {
    let room = NewRoom {
        id: RoomId::random(),
        language: Language::plaintext(),
        code: "hello".into(),
        created_at,
        view_id: RoomId::random(),
        owner_token_hash: Some("5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8".into()),
    };
    repo.create(&room).await.expect("create");
    room
}

pub async fn rooms_are_found_by_id_or_view_id(repo: Arc<dyn RoomRepo>) {
    let room = create_keyed_room(&*repo, Timestamp(1_700_000_000_000)).await;
    let keys = repo.keys(room.id).await.expect("found by its id");
    assert_eq!((keys.id, keys.view_id), (room.id, room.view_id));
    assert_eq!(keys.owner_token_hash, room.owner_token_hash);
    assert_eq!(keys.active_at, room.created_at);
    assert_eq!(repo.keys(room.view_id).await.expect("found by its view id"), keys);
    assert_eq!(keys.access_by(room.view_id), pairpad_domain::Access::View { view_id: room.view_id });
    assert_eq!(keys.access_by(room.id), pairpad_domain::Access::Edit { view_id: room.view_id });
    let stranger = RoomId::random();
    assert_eq!(repo.keys(stranger).await, Err(RepoError::NotFound(stranger)));
    // Without an owner token, a room still has a view id.
    let plain = create_room(&*repo, "").await;
    let plain_keys = repo.keys(plain).await.expect("found");
    assert_eq!(plain_keys.owner_token_hash, None);
    assert_ne!(plain_keys.view_id, plain);
    // A view id is unique: another room cannot take it.
    let taken = NewRoom { id: RoomId::random(), ..room.clone() };
    assert_eq!(repo.create(&taken).await, Err(RepoError::AlreadyExists(taken.id)));
}

pub async fn idle_rooms_count_joins_and_edits(repo: Arc<dyn RoomRepo>) {
    let t0 = 1_700_000_000_000;
    let idle = create_keyed_room(&*repo, Timestamp(t0)).await;
    let joined = create_keyed_room(&*repo, Timestamp(t0)).await;
    let edited = create_keyed_room(&*repo, Timestamp(t0)).await;
    let renamed = create_keyed_room(&*repo, Timestamp(t0)).await;
    repo.touch(joined.id, Timestamp(t0 + 10_000)).await.expect("touch");
    // A touch never moves the time back.
    repo.touch(joined.id, Timestamp(t0 + 1)).await.expect("touch");
    let mut op = append_op(1, 5, "!", None);
    op.at = Timestamp(t0 + 10_000);
    assert_eq!(repo.commit(&[append(edited.id, 0, vec![op])]).await, Ok(Committed::default()), "commit");
    repo.set_language(renamed.id, &Language::new("rust").unwrap(), Timestamp(t0 + 10_000)).await.expect("language");
    repo.touch(RoomId::random(), Timestamp(t0)).await.expect("touching an unknown room is no error");

    let mut found = repo.idle_rooms(Timestamp(t0 + 5_000), 100).await.expect("idle rooms");
    found.sort();
    assert_eq!(found, vec![idle.id], "only the room nobody joined or changed since");
    assert!(repo.idle_rooms(Timestamp(t0), 100).await.expect("idle rooms").is_empty(), "created at the cutoff");
    assert_eq!(repo.idle_rooms(Timestamp(t0 + 20_000), 3).await.expect("idle rooms").len(), 3, "at most `limit`");
    for (room, active_at) in [(&idle, t0), (&joined, t0 + 10_000), (&edited, t0 + 10_000), (&renamed, t0 + 10_000)] {
        assert_eq!(repo.keys(room.id).await.expect("keys").active_at, Timestamp(active_at));
    }
}

pub async fn deleting_a_room_removes_all_of_it(repo: Arc<dyn RoomRepo>) {
    let t0 = 1_700_000_000_000;
    let room = create_keyed_room(&*repo, Timestamp(t0)).await;
    let neighbour = create_keyed_room(&*repo, Timestamp(t0)).await;
    let ops = vec![append_op(1, 5, "!", Some("a")), append_op(2, 6, "?", Some("b"))];
    let snapshot = Snapshot { code: "hello!?".into(), revision: 2 };
    for id in [room.id, neighbour.id] {
        let batch = Append { room: id, expected_revision: 0, ops: ops.clone(), snapshot: Some(snapshot.clone()) };
        assert_eq!(repo.commit(&[batch]).await, Ok(Committed::default()), "commit");
    }
    // Only if idle since: this one was edited after the cutoff.
    assert_eq!(repo.delete(room.id, Some(Timestamp(t0))).await, Ok(false));
    assert!(repo.load(room.id).await.is_ok(), "a room active since the cutoff stays");

    assert_eq!(repo.delete(room.id, None).await, Ok(true));
    assert_eq!(repo.load(room.id).await, Err(RepoError::NotFound(room.id)));
    assert_eq!(repo.keys(room.view_id).await, Err(RepoError::NotFound(room.view_id)));
    assert_eq!(repo.summary(room.id).await, Err(RepoError::NotFound(room.id)));
    assert!(repo.ops_since(room.id, 0, 10).await.expect("ops").is_empty(), "its operations are gone");
    assert_eq!(repo.checkpoint(room.id, 2).await, Ok(None), "its checkpoints are gone");
    assert!(repo.history(room.id, 1).await.expect("history").is_empty());
    assert_eq!(repo.delete(room.id, None).await, Ok(false), "a second delete finds nothing");
    let late = append(room.id, 2, vec![append_op(3, 7, ".", None)]);
    assert_eq!(repo.commit(&[late]).await, Err(RepoError::NotFound(room.id)), "commits to it are refused");
    // Its id is free again, and its neighbour is whole.
    create_keyed_room(&*repo, Timestamp(t0)).await;
    assert_eq!(repo.load(neighbour.id).await.expect("the neighbour loads").revision, 2);
    assert_eq!(repo.ops_since(neighbour.id, 0, 10).await.expect("ops").len(), 2);

    // An idle room goes with `idle_before` past its last activity.
    assert_eq!(repo.delete(neighbour.id, Some(Timestamp(t0 + 1_000))).await, Ok(true));
    assert_eq!(repo.load(neighbour.id).await, Err(RepoError::NotFound(neighbour.id)));
}
