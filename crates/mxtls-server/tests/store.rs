//! The store's one interface on its two back-ends: the same assertions on a SQLite file and
//! on a real PostgreSQL (Debian's server, started here in a temporary directory on
//! loopback). What one instance writes, another (a second connection) reads; migrations run
//! once however often and however concurrently the store is opened; a store made before
//! migrations existed is brought up to date.

use mxtls_core::Evidence;
use mxtls_core::tls_rpt::report::AggregateReport;
use mxtls_server::snapshots::{SnapshotId, Store};
use mxtls_server::watches::{Target, Watch};
use mxtls_world::postgres::Cluster;

const EVIDENCE: &str = include_str!("../../mxtls-core/tests/fixtures/evidence-v1.json");

/// The fixture's evidence, finished at `at` (another time is another snapshot).
fn evidence(at: i64) -> Evidence {
    let mut e = Evidence::from_json(EVIDENCE).expect("fixture");
    e.probe.finished_at = mxtls_core::evidence::UnixTime(at);
    e
}

fn report(id: &str) -> AggregateReport {
    let json = mxtls_world::sender_reports::google(
        "example.org",
        "mx.example.org",
        "starttls-not-supported",
        3,
    )
    .replace("2026-11-30T00:00:00Z_example.org", id);
    mxtls_core::tls_rpt::report::parse_bytes(json.as_bytes()).expect("report")
}

/// Everything the server keeps, through two connections to one store (`a` writes, `b`
/// reads, as two instances of a cluster would).
async fn round_trip(a: &Store, b: &Store) {
    // Snapshots: content-addressed, stored once, newest first.
    let domain = evidence(0).domain.to_string();
    let first = a.put(&evidence(1_000)).await.expect("put");
    let second = a.put(&evidence(2_000)).await.expect("put");
    assert_ne!(first, second);
    assert_eq!(a.put(&evidence(2_000)).await.expect("put again"), second);
    let got = b.get(&first).await.expect("get").expect("stored");
    assert_eq!(got.domain, domain);
    assert_eq!(
        Evidence::from_json(&String::from_utf8_lossy(&got.evidence)).expect("evidence"),
        evidence(1_000),
        "the evidence comes back as it went in"
    );
    let unknown = SnapshotId::parse("0123456789abcdef0123456789abcdef").expect("id");
    assert!(b.get(&unknown).await.expect("get").is_none());
    assert_eq!(
        b.latest(&domain).await.expect("latest").map(|s| s.id),
        Some(second.clone())
    );
    assert!(b.latest("nobody.example").await.expect("latest").is_none());
    let history = b.history(&domain, 10).await.expect("history");
    assert_eq!(
        history
            .iter()
            .map(|(s, at)| (s.id.clone(), *at))
            .collect::<Vec<_>>(),
        [(second, 2_000), (first, 1_000)]
    );
    assert_eq!(b.history(&domain, 1).await.expect("history").len(), 1);

    // Watches: added, counted, confirmed, due, checked, ended.
    let web = Watch {
        id: "a".repeat(32),
        domain: "example.org".into(),
        target: Target::Webhook("http://hook.example/x".into()),
        token: None,
        next_check: 100,
        last_snapshot: None,
    };
    let mail = Watch {
        id: "b".repeat(32),
        domain: "example.org".into(),
        target: Target::Email("Owner@Example.org".into()),
        token: Some("c".repeat(32)),
        next_check: 100,
        last_snapshot: None,
    };
    a.add_watch(&web, "client-1", 50).await.expect("add");
    a.add_watch(&mail, "client-1", 50).await.expect("add");
    assert_eq!(
        b.watch_counts("client-1", "example.org")
            .await
            .expect("counts"),
        (2, 2)
    );
    assert_eq!(
        b.watch_counts("client-2", "other.example")
            .await
            .expect("counts"),
        (0, 0)
    );
    assert!(
        b.confirmation_pending("owner@example.org")
            .await
            .expect("pending")
    );
    assert!(
        !b.confirmation_pending("else@example.org")
            .await
            .expect("pending")
    );
    let due: Vec<String> = b
        .due_watches(100)
        .await
        .expect("due")
        .into_iter()
        .map(|w| w.id)
        .collect();
    assert_eq!(
        due,
        std::slice::from_ref(&web.id),
        "an unconfirmed mail watch is never due"
    );
    assert!(
        !b.confirm_watch(&mail.id, &"d".repeat(32), 90)
            .await
            .expect("confirm"),
        "wrong token"
    );
    assert!(
        b.confirm_watch(&mail.id, &"c".repeat(32), 90)
            .await
            .expect("confirm")
    );
    assert!(
        !b.confirmation_pending("owner@example.org")
            .await
            .expect("pending")
    );
    let due = b.due_watches(100).await.expect("due");
    assert_eq!(due.len(), 2);
    assert_eq!(
        due[0].id, mail.id,
        "soonest first (confirmed ones are due at once)"
    );
    a.watch_checked(&web.id, "f".repeat(32).as_str(), 2, 500)
        .await
        .expect("checked");
    let back = b.watch(&web.id).await.expect("watch").expect("there");
    assert_eq!(
        (back.next_check, back.last_snapshot.as_deref()),
        (500, Some("f".repeat(32).as_str()))
    );
    assert!(matches!(back.target, Target::Webhook(ref u) if u == "http://hook.example/x"));
    a.watch_later(&mail.id, 700).await.expect("later");
    assert_eq!(
        b.watch(&mail.id)
            .await
            .expect("watch")
            .map(|w| w.next_check),
        Some(700)
    );
    assert_eq!(
        b.watched_states().await.expect("states"),
        (2, vec![("example.org".to_owned(), 3)]),
        "one watch not checked yet: state 3 (unknown) is the worst"
    );
    assert_eq!(
        b.domain_watches("example.org")
            .await
            .expect("watches")
            .len(),
        2
    );
    assert!(a.delete_watch(&web.id).await.expect("delete"));
    assert!(!a.delete_watch(&web.id).await.expect("delete"));
    assert!(b.watch(&web.id).await.expect("watch").is_none());

    // TLS-RPT reports: once per report id, newest kept.
    assert!(
        a.put_tls_report("example.org", &report("r1"), 10)
            .await
            .expect("put")
    );
    assert!(
        !a.put_tls_report("example.org", &report("r1"), 11)
            .await
            .expect("put"),
        "once"
    );
    assert!(
        a.put_tls_report("example.org", &report("r2"), 12)
            .await
            .expect("put")
    );
    let reports = b.tls_reports("example.org", 10).await.expect("reports");
    assert_eq!(reports.len(), 2);
    assert_eq!(reports[0].organization, "Google Inc.");
    assert!(
        b.tls_reports("other.example", 10)
            .await
            .expect("reports")
            .is_empty()
    );
}

#[tokio::test]
async fn sqlite_keeps_everything() {
    let dir = std::env::temp_dir().join(format!("mxtls-store-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("store.sqlite");
    let _ = std::fs::remove_file(&file);
    let url = file.display().to_string();
    let a = Store::connect(&url).await.expect("open");
    let b = Store::connect(&url)
        .await
        .expect("open again: migrations run once");
    assert_eq!(a.engine(), "sqlite");
    round_trip(&a, &b).await;
    drop((a, b));
    let reopened = Store::connect(&url).await.expect("reopen");
    assert!(
        reopened
            .latest("example.org")
            .await
            .expect("latest")
            .is_some(),
        "survives a restart"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// A SQLite file written by mxtls before the store had migrations (its tables, no
/// `mxtls_schema`) opens, keeps its snapshots and takes new ones.
#[tokio::test]
async fn a_store_from_before_migrations_is_adopted() {
    let dir = std::env::temp_dir().join(format!("mxtls-store-old-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("old.sqlite");
    let _ = std::fs::remove_file(&file);
    {
        let old = rusqlite::Connection::open(&file).expect("old");
        old.execute_batch(
            "CREATE TABLE snapshots (id TEXT PRIMARY KEY, domain TEXT NOT NULL,
                 finished_at INTEGER NOT NULL, evidence BLOB NOT NULL);
             INSERT INTO snapshots VALUES ('00112233445566778899aabbccddeeff', 'old.example', 5, x'7b7d');",
        )
        .expect("old schema");
    }
    let store = Store::connect(&file.display().to_string())
        .await
        .expect("adopted");
    let old = store
        .latest("old.example")
        .await
        .expect("latest")
        .expect("kept");
    assert_eq!(old.id.as_str(), "00112233445566778899aabbccddeeff");
    assert!(store.put(&evidence(3)).await.is_ok());
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_keeps_everything() {
    let cluster = Cluster::start().unwrap_or_else(|e| panic!("{e}"));
    let url = cluster.database("store").expect("database");
    // Four instances starting at once: the advisory lock makes them migrate one at a time.
    let opened = futures_util::future::join_all((0..4).map(|_| Store::connect(&url))).await;
    let stores: Vec<Store> = opened.into_iter().map(|s| s.expect("connect")).collect();
    assert!(stores.iter().all(|s| s.engine() == "postgres"));
    round_trip(&stores[0], &stores[1]).await;
    let versions = stores[2]
        .query("SELECT version FROM mxtls_schema ORDER BY version", vec![])
        .await
        .expect("schema");
    assert_eq!(
        versions
            .iter()
            .map(|r| r.int("version").expect("int"))
            .collect::<Vec<_>>(),
        (1..=mxtls_server::store::MIGRATIONS.len() as i64).collect::<Vec<_>>(),
        "each migration once"
    );
    // A bad URL is a clear error at start-up, not a hang.
    let wrong = format!(
        "postgres://{}@127.0.0.1:{}/no_such_db",
        mxtls_world::postgres::USER,
        cluster.port
    );
    let err = Store::connect(&wrong).await.err().expect("refused");
    assert!(err.to_string().contains("no_such_db"), "{err}");
}

/// The cluster's session budget, as two workers see it through one PostgreSQL: one session
/// at a time per address whoever asks, at most N per window, a refusal backs the address off
/// for both, a served session ends it, and a dead worker's session stops holding the address
/// once its job's lease has run out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_budget_is_shared_by_every_worker() {
    use mxtls_probe::budget::{Admission, Outcome, TargetBudget};
    use mxtls_server::budget::StoreBudget;
    use std::sync::Arc;
    use std::time::Duration;

    let cluster = Cluster::start().unwrap_or_else(|e| panic!("{e}"));
    let url = cluster.database("budget").expect("database");
    let store = Arc::new(Store::connect(&url).await.expect("connect"));
    let one = StoreBudget::new(store.clone(), "worker-1", 2, Duration::from_secs(60));
    let two = StoreBudget::new(store.clone(), "worker-2", 2, Duration::from_secs(60));
    let ip: std::net::IpAddr = "192.0.2.25".parse().expect("ip");
    let reason = |a: Admission| match a {
        Admission::Start(_) => "start".to_owned(),
        Admission::Wait { reason, .. } => reason,
    };

    let Admission::Start(permit) = one.admit(ip).await else {
        panic!("the first session starts");
    };
    assert!(reason(two.admit(ip).await).contains("is running in the cluster: one at a time"));
    drop(permit);
    // The permit is returned by a task: give it a moment.
    let mut second = None;
    for _ in 0..50 {
        if let Admission::Start(p) = two.admit(ip).await {
            second = Some(p);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let second = second.expect("the second session starts once the first has ended");
    drop(second);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        reason(one.admit(ip).await)
            .contains("2 sessions with 192.0.2.25 in the last 60 s across the cluster"),
        "at most 2 per window, counted over both workers"
    );

    let other: std::net::IpAddr = "192.0.2.26".parse().expect("ip");
    one.finished(other, Outcome::Refused);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(reason(two.admit(other).await).contains("refused or limited the cluster 1 time"));
    two.finished(other, Outcome::Served);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        reason(one.admit(other).await),
        "start",
        "a served session ends the back-off"
    );

    // worker-1 holds a session with a third address, then dies: its job's lease runs out.
    let third: std::net::IpAddr = "192.0.2.27".parse().expect("ip");
    let held = one.admit(third).await;
    assert!(matches!(held, Admission::Start(_)));
    std::mem::forget(held);
    store
        .execute(
            "INSERT INTO jobs (id, domain, client, state, created_at, lease_until, worker)
             VALUES ('dead', 'dead.example', 'c', 'running', 0, 1, 'worker-1')",
            vec![],
        )
        .await
        .expect("a dead worker's job");
    assert!(reason(two.admit(third).await).contains("one at a time"));
    let ended = mxtls_server::cluster::end_sessions_of_dead_workers(&store, 2)
        .await
        .expect("what each claim does first");
    assert_eq!(ended, 1);
    assert_eq!(
        reason(two.admit(third).await),
        "start",
        "the dead worker's session is over"
    );
}

/// A second row under a primary key is a conflict, on either engine, and says which table.
async fn a_duplicate_key_is_a_conflict(store: &Store) {
    let insert = "INSERT INTO report_notices (watch, notified_at) VALUES ('w1', 1)";
    assert_eq!(store.execute(insert, vec![]).await.expect("first"), 1);
    let err = store.execute(insert, vec![]).await.expect_err("duplicate");
    assert!(err.is_conflict(), "{err:?}");
    assert!(!err.is_unavailable());
    assert!(err.to_string().contains("report_notices"), "{err}");
    let err = store
        .execute("INSERT INTO no_such_table VALUES (1)", vec![])
        .await
        .expect_err("no table");
    assert!(
        matches!(err, mxtls_server::store::StoreError::Failed(_)),
        "{err:?}"
    );
}

#[tokio::test]
async fn sqlite_tells_a_conflict() {
    let store = Store::open(":memory:").expect("open");
    a_duplicate_key_is_a_conflict(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_tells_a_conflict_and_an_unavailable_server() {
    let cluster = Cluster::start().unwrap_or_else(|e| panic!("{e}"));
    let url = cluster.database("errors").expect("database");
    let store = Store::connect(&url).await.expect("connect");
    a_duplicate_key_is_a_conflict(&store).await;
    // The server stops under a store with pooled connections: every statement is then
    // "unavailable" (a 503, try again), on the pooled connection and on a new one alike.
    drop(cluster);
    for _ in 0..3 {
        let err = store
            .query("SELECT watch FROM report_notices", vec![])
            .await
            .expect_err("stopped");
        assert!(err.is_unavailable(), "{err:?}");
    }
    let err = Store::connect(&url).await.err().expect("stopped");
    assert!(err.is_unavailable(), "{err:?}");
}

/// Two instances (two stores on one PostgreSQL) admitting checks of one client at once:
/// the per-client lock makes count-then-insert one step, so exactly the per-minute limit
/// is admitted however the calls interleave; and concurrent refusals by one address each
/// count once in its back-off.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_quota_checks_and_refusals_are_serialized() {
    use mxtls_server::store::pg::jobs::{ClientLimits, Queued};

    let cluster = Cluster::start().unwrap_or_else(|e| panic!("{e}"));
    let url = cluster.database("quota").expect("database");
    let (a, b) = (
        Store::connect(&url).await.expect("a"),
        Store::connect(&url).await.expect("b"),
    );
    let limits = ClientLimits {
        concurrent: 100,
        per_minute: 6,
    };
    let now = 1_000_000;
    let calls = (0..24).map(|i| {
        let store = if i % 2 == 0 { &a } else { &b };
        async move {
            store
                .postgres()
                .expect("postgres")
                .jobs()
                .queue(
                    &format!("d{i}.example"),
                    "client-1",
                    now,
                    Some(limits),
                    1000,
                )
                .await
                .expect("queue")
        }
    });
    let answers = futures_util::future::join_all(calls).await;
    let created = answers
        .iter()
        .filter(|q| matches!(q, Queued::Created(_)))
        .count();
    let refused = answers
        .iter()
        .filter(|q| matches!(q, Queued::Quota(_)))
        .count();
    println!("quota: {created} admitted, {refused} refused of 24");
    assert_eq!((created, refused), (6, 18), "{answers:?}");
    let stored = a
        .number(
            "SELECT COUNT(*) FROM jobs WHERE client = 'client-1'",
            vec![],
        )
        .await
        .expect("count");
    assert_eq!(stored, 6);
    // A domain already queued is joined, not counted, even over the limit.
    let joined = b
        .postgres()
        .expect("postgres")
        .jobs()
        .queue("d0.example", "client-1", now, Some(limits), 1000)
        .await
        .expect("join");
    let expected = match &answers[0] {
        Queued::Created(id) => Queued::Joined(id.clone()),
        _ => Queued::Quota(60),
    };
    assert_eq!(joined, expected);

    let refusals = (0..20).map(|i| {
        let store = if i % 2 == 0 { &a } else { &b };
        async move {
            store
                .postgres()
                .expect("postgres")
                .targets()
                .refused("192.0.2.40", now, 1_000, 3_600_000)
                .await
                .expect("refused")
        }
    });
    let mut counts = futures_util::future::join_all(refusals).await;
    counts.sort_unstable();
    assert_eq!(
        counts,
        (1..=20).collect::<Vec<i64>>(),
        "every refusal counted once"
    );
    let row = a
        .query_opt(
            "SELECT refusals, until_ms FROM target_backoff WHERE ip = '192.0.2.40'",
            vec![],
        )
        .await
        .expect("backoff")
        .expect("row");
    assert_eq!(
        (
            row.int("refusals").expect("refusals"),
            row.int("until_ms").expect("until")
        ),
        (20, now + 3_600_000),
        "2^16 windows (the most) is past the cap of an hour"
    );
}

/// The fencing of a worker's writes, through the jobs repository: a claim whose lease ran
/// out is taken by another worker at the next attempt, and the first worker's renewal,
/// events and end are all refused; the second's land. A SQLite store has no such
/// repository at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_claim_writes_nothing() {
    use mxtls_server::store::pg::jobs::{JobState, Outcome, Queued};

    assert!(
        Store::open(":memory:")
            .expect("sqlite")
            .postgres()
            .is_none()
    );
    let cluster = Cluster::start().unwrap_or_else(|e| panic!("{e}"));
    let url = cluster.database("fencing").expect("database");
    let store = Store::connect(&url).await.expect("connect");
    let jobs = store.postgres().expect("postgres").jobs();
    let Queued::Created(id) = jobs
        .queue("fenced.example", "client-1", 1, None, 10)
        .await
        .expect("queue")
    else {
        panic!("a new job");
    };
    let first = jobs.claim("w1", 60_000).await.expect("claim").expect("one");
    assert_eq!((first.id.as_str(), first.attempt), (id.as_str(), 1));
    assert!(
        jobs.claim("w2", 60_000).await.expect("claim").is_none(),
        "held"
    );
    assert!(jobs.append_event(&first, 1, "{}").await.expect("event"));
    // w1 stops past its lease.
    store
        .execute(
            "UPDATE jobs SET lease_until = 0 WHERE id = ?1",
            vec![id.as_str().into()],
        )
        .await
        .expect("expire");
    let second = jobs
        .claim("w2", 60_000)
        .await
        .expect("claim")
        .expect("taken over");
    assert_eq!((second.worker.as_str(), second.attempt), ("w2", 2));
    assert!(!jobs.renew(&first, 60_000).await.expect("renew"));
    assert!(!jobs.append_event(&first, 2, "{}").await.expect("event"));
    assert!(
        !jobs
            .finish(&first, Outcome::Done(&evidence(7_000)))
            .await
            .expect("finish")
    );
    assert!(
        store
            .latest(&evidence(0).domain.to_string())
            .await
            .expect("latest")
            .is_none()
    );
    assert!(jobs.renew(&second, 60_000).await.expect("renew"));
    assert!(
        jobs.append_event(&second, 2_000_001, "{}")
            .await
            .expect("event")
    );
    assert!(
        jobs.finish(&second, Outcome::Done(&evidence(8_000)))
            .await
            .expect("finish")
    );
    let view = jobs.view(&id).await.expect("view").expect("job");
    assert_eq!(view.state, JobState::Done);
    let latest = store
        .latest(&evidence(0).domain.to_string())
        .await
        .expect("latest")
        .expect("stored");
    assert_eq!(view.snapshot.as_deref(), Some(latest.id.as_str()));
    assert_eq!(
        jobs.events_after(&id, 0)
            .await
            .expect("events")
            .into_iter()
            .map(|(seq, _)| seq)
            .collect::<Vec<_>>(),
        [1, 2_000_001],
        "only the events written under a held claim"
    );
    assert!(
        !jobs
            .finish(&second, Outcome::Failed("late"))
            .await
            .expect("again")
    );
}
