//! The check runner's contract (`runner::Runner`), held by both back-ends over the test
//! world: the hub (`Runner::hub`, on SQLite, or on PostgreSQL with `MXTLS_TEST_STORE=postgres`)
//! and, on PostgreSQL, the cluster (`Runner::cluster` with an in-process `cluster::work`
//! worker). The same steps run against each:
//!
//! * two requests for one domain share one check and one snapshot, and while it runs
//!   `Runner::load` counts it (one running, one slot fewer), and `/metrics` one start and one
//!   end with evidence;
//! * a client watching its limit of checks is refused `ClientBusy`; one that started its
//!   limit this minute `Quota`, with the seconds until it refills;
//! * the schedule (`Asker::Schedule`) is held to no client limit;
//! * a check that cannot run ends in an `error` frame, counted as an error.
//!
//! And on the cluster only: a worker whose probe panics fails the job with the internal-error
//! message, releases its lease, tells the client, and the next request queues a new job.
//!
//! Differences that remain, on purpose or not yet aligned (ARCHITECTURE.md, "One check
//! runner"): a cluster job outlives its listeners (the hub cancels an abandoned check after
//! its grace period); the cluster counts a client's queued and running *jobs* against
//! `per_client_concurrent_checks`, the hub the checks it *listens to* (a joined check counts
//! in the hub, not in the cluster, and a join is never refused in the cluster); the hub counts
//! a panic as `panicked` in `/metrics`, the cluster as `error` (the instance that counts it
//! sees only the job's error frame), and a cluster job's end is counted only by the instance
//! that queued it, when its stream passes the end.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use mxtls_core::api::StreamEventName;
use mxtls_server::checks::{Checks, HubLimits, Refusal};
use mxtls_server::clients::ClientKey;
use mxtls_server::cluster::{self, Cluster, WorkerConfig};
use mxtls_server::metrics::Metrics;
use mxtls_server::runner::{Asker, Frames, Refused, Runner};
use mxtls_server::snapshots::Store;
use mxtls_world::{Options, World};

mod common;

/// A back-end under test: its runner, counters and store, and its worker while it lives.
struct Back {
    name: String,
    runner: Runner,
    metrics: Arc<Metrics>,
    store: Arc<Store>,
    _stop_worker: Option<tokio::sync::oneshot::Sender<()>>,
}

/// The limits every back-end gets: one check at a time per client, three a minute.
fn limits() -> mxtls_server::Limits {
    mxtls_server::Limits {
        per_client_per_minute: 3,
        per_client_concurrent_checks: 1,
        max_concurrent_checks: 8,
        ..mxtls_server::Limits::default()
    }
}

fn hub(name: &str, store: Arc<Store>, probe: mxtls_probe::Config) -> Back {
    let l = limits();
    let checks = Checks::new(HubLimits {
        max_concurrent_checks: l.max_concurrent_checks,
        per_client_concurrent_checks: l.per_client_concurrent_checks,
        per_client_per_minute: l.per_client_per_minute,
        abandon_grace: l.abandon_grace,
    });
    let metrics = checks.metrics.clone();
    Back {
        name: name.to_owned(),
        runner: Runner::hub(checks, probe, store.clone(), metrics.clone()),
        metrics,
        store,
        _stop_worker: None,
    }
}

async fn cluster(
    name: &str,
    store: Arc<Store>,
    probe: mxtls_probe::Config,
    prober: cluster::Prober,
) -> Back {
    let metrics = Arc::new(Metrics::default());
    let jobs = Cluster::start(store.clone(), Duration::from_secs(120))
        .await
        .expect("the cluster listens");
    let mut worker = WorkerConfig::new(4);
    worker.target_sessions = 100;
    worker.target_window = Duration::from_secs(1);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(cluster::work_with(
        store.clone(),
        probe,
        prober,
        worker,
        async move {
            let _ = stopped.await;
        },
    ));
    Back {
        name: name.to_owned(),
        runner: Runner::cluster(jobs, limits(), metrics.clone()),
        metrics,
        store,
        _stop_worker: Some(stop),
    }
}

fn client(n: u8) -> Asker {
    Asker::Client(ClientKey::of(std::net::IpAddr::from([198, 51, 100, n])))
}

fn name(domain: &str) -> mxtls_core::names::DnsName {
    mxtls_core::names::parse_user_domain(domain).expect("a domain")
}

/// The last frame of a stream (read to its end within two minutes) and how many came.
async fn last(frames: Frames) -> (StreamEventName, serde_json::Value, usize) {
    let all: Vec<_> = tokio::time::timeout(Duration::from_secs(120), frames.collect::<Vec<_>>())
        .await
        .expect("the stream ends within two minutes");
    let end = all.last().expect("at least one frame");
    let data = serde_json::from_str(&end.data).expect("the frame is JSON");
    (end.name, data, all.len())
}

/// The snapshot id an evidence stream ends with.
async fn snapshot_of(back: &Back, frames: Frames) -> String {
    let (kind, data, _) = last(frames).await;
    assert_eq!(kind, StreamEventName::Evidence, "{}: {data}", back.name);
    data["snapshot"].as_str().expect("a snapshot id").to_owned()
}

async fn check(back: &Back, domain: &str, asker: Asker) -> Frames {
    match back.runner.check(name(domain), asker).await {
        Ok(frames) => frames,
        Err(e) => panic!("{}: {domain} refused: {e:?}", back.name),
    }
}

/// `(started, finished with evidence, finished with an error)` as `/metrics` says.
fn counts(back: &Back) -> (u64, u64, u64) {
    let text = back.metrics.render(0, 0, 0, &[]);
    let read = |prefix: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(prefix))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or_else(|| panic!("{prefix} in {text}"))
    };
    (
        read("mxtls_checks_started_total "),
        read("mxtls_checks_finished_total{outcome=\"evidence\"} "),
        read("mxtls_checks_finished_total{outcome=\"error\"} "),
    )
}

async fn snapshots_of(store: &Store, domain: &str) -> i64 {
    store
        .number(
            "SELECT COUNT(*) FROM snapshots WHERE domain = ?1",
            vec![domain.into()],
        )
        .await
        .expect("count")
}

/// Waits (at most 60 s) until `load().running` is `running`; the load then.
async fn load_reaches(back: &Back, running: usize) -> mxtls_server::runner::Load {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let load = back.runner.load().await;
        if load.running == running {
            return load;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{}: load {load:?}, waiting for {running} running",
            back.name
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The contract, step by step, on one back-end.
async fn contract(back: &Back) {
    let who = &back.name;
    // Two requests for one slow domain share one check and one snapshot.
    let before = back.runner.load().await;
    assert_eq!(before.running, 0, "{who}: idle at first");
    let (started, evidence, errors) = counts(back);
    let a = check(back, "slow-banner.test", client(1)).await;
    let b = check(back, "slow-banner.test", client(2)).await;
    let during = load_reaches(back, 1).await;
    assert_eq!(during.free + 1, before.free, "{who}: one slot taken");
    let (sa, sb) = tokio::join!(snapshot_of(back, a), snapshot_of(back, b));
    assert_eq!(sa, sb, "{who}: one snapshot for both");
    assert_eq!(snapshots_of(&back.store, "slow-banner.test").await, 1);
    let after = load_reaches(back, 0).await;
    assert_eq!(after, before, "{who}: the slot is free again");
    assert_eq!(
        counts(back),
        (started + 1, evidence + 1, errors),
        "{who}: one start, one end with evidence"
    );

    // A client watching its one check is refused a second; when it ends, it may again.
    let held = check(back, "slow-banner.test", client(3)).await;
    match back.runner.check(name("dane-ee.test"), client(3)).await {
        Err(Refused::Limit(Refusal::ClientBusy)) => {}
        other => panic!("{who}: a second check at once: {:?}", other.err()),
    }
    snapshot_of(back, held).await;
    snapshot_of(back, check(back, "dane-ee.test", client(3)).await).await;

    // Three checks a minute (slow-banner, dane-ee, dane-ta): the fourth is refused, with
    // the wait until the quota refills.
    snapshot_of(back, check(back, "dane-ta.test", client(3)).await).await;
    match back.runner.check(name("two-mx.test"), client(3)).await {
        Err(Refused::Limit(Refusal::Quota(wait))) => {
            assert!((1..=60).contains(&wait), "{who}: retry after {wait} s")
        }
        other => panic!("{who}: a fourth check this minute: {:?}", other.err()),
    }

    // The schedule has no client limits: two at once, four in a row.
    let (started, evidence, _) = counts(back);
    // (Domains not checked just before: a request as a hub check ends may still join it and
    // get its answer.)
    for pair in [
        ["rollover.test", "pkix-usages.test"],
        ["unsigned.test", "two-mx.test"],
    ] {
        let x = check(back, pair[0], Asker::Schedule).await;
        let y = check(back, pair[1], Asker::Schedule).await;
        let (sx, sy) = tokio::join!(snapshot_of(back, x), snapshot_of(back, y));
        assert_ne!(sx, sy);
    }
    let (started_now, evidence_now, _) = counts(back);
    assert_eq!(
        (started_now - started, evidence_now - evidence),
        (4, 4),
        "{who}: scheduled checks are counted like any"
    );
}

/// A back-end whose probe cannot start (its trust anchor is missing) gives an error frame.
async fn failing(back: &Back) {
    let (started, evidence, errors) = counts(back);
    let (kind, data, _) = last(check(back, "dane-ee.test", client(9)).await).await;
    assert_eq!(kind, StreamEventName::Error, "{}: {data}", back.name);
    assert!(
        data["error"]
            .as_str()
            .unwrap_or("")
            .contains("trust anchor"),
        "{}: says why: {data}",
        back.name
    );
    assert_eq!(
        counts(back),
        (started + 1, evidence, errors + 1),
        "{}",
        back.name
    );
    assert_eq!(snapshots_of(&back.store, "dane-ee.test").await, 0);
}

/// A worker whose probe panics: the job fails with the internal-error message and a released
/// lease, the client is told, and the next request queues a new job that succeeds.
async fn panicking(store: Arc<Store>, probe: mxtls_probe::Config) {
    let calls = Arc::new(AtomicUsize::new(0));
    let prober: cluster::Prober = {
        let calls = calls.clone();
        Arc::new(move |domain, config| {
            if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                Box::new(|_sink| Box::pin(async { panic!("a bug in the probe, for the test") }))
            } else {
                (cluster::real_check())(domain, config)
            }
        })
    };
    let back = cluster("cluster (panicking probe)", store.clone(), probe, prober).await;
    let (kind, data, frames) = last(check(&back, "dane-ee.test", client(1)).await).await;
    assert_eq!(kind, StreamEventName::Error, "{data}");
    assert_eq!(frames, 1, "nothing but the error");
    let message = "the check failed on an internal error (a bug; it has been logged)";
    assert_eq!(data["error"], message);
    let jobs = store
        .query(
            "SELECT id, state, COALESCE(error, '') AS error, lease_until FROM jobs WHERE domain = 'dane-ee.test'",
            vec![],
        )
        .await
        .expect("jobs");
    assert_eq!(jobs.len(), 1);
    let first = jobs[0].text("id").expect("id");
    assert_eq!(
        (
            jobs[0].text("state").expect("state"),
            jobs[0].text("error").expect("error"),
            jobs[0].int("lease_until").expect("lease")
        ),
        ("failed".to_owned(), message.to_owned(), 0),
        "failed, with its lease released"
    );
    snapshot_of(&back, check(&back, "dane-ee.test", client(1)).await).await;
    let jobs = store
        .query(
            "SELECT id, state FROM jobs WHERE domain = 'dane-ee.test' ORDER BY created_at",
            vec![],
        )
        .await
        .expect("jobs");
    let rows: Vec<(String, String)> = jobs
        .iter()
        .map(|r| (r.text("id").expect("id"), r.text("state").expect("state")))
        .collect();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0], (first, "failed".to_owned()));
    assert_eq!(rows[1].1, "done", "a new job, which succeeded");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_back_ends_keep_the_runners_contract() {
    let world = World::start(Options {
        net: 92,
        smtp_port: 2592,
        postfix: false,
        banner_delay: Duration::from_millis(1500),
        ..Options::default()
    })
    .await
    .expect("the world starts");
    let probe = common::world_probe(&world);
    let broken = mxtls_probe::Config {
        trust_anchor: Some(world.dir.join("no-such-trust-anchor")),
        ..probe.clone()
    };
    if std::env::var("MXTLS_TEST_STORE").as_deref() == Ok("postgres") {
        let pg = mxtls_world::postgres::Cluster::start().unwrap_or_else(|e| panic!("{e}"));
        let open = |db: &str| {
            let url = pg.database(db).expect("a database");
            async move { Arc::new(Store::connect(&url).await.expect("the store")) }
        };
        contract(&hub("hub (postgres)", open("hub").await, probe.clone())).await;
        let jobs = cluster(
            "cluster",
            open("cluster").await,
            probe.clone(),
            cluster::real_check(),
        )
        .await;
        contract(&jobs).await;
        failing(&hub(
            "hub (postgres)",
            open("hub_broken").await,
            broken.clone(),
        ))
        .await;
        failing(
            &cluster(
                "cluster",
                open("cluster_broken").await,
                broken,
                cluster::real_check(),
            )
            .await,
        )
        .await;
        panicking(open("cluster_panic").await, probe).await;
    } else {
        let open = |file: &str| Arc::new(Store::open(world.dir.join(file)).expect("the store"));
        contract(&hub("hub (sqlite)", open("hub.sqlite"), probe)).await;
        failing(&hub("hub (sqlite)", open("broken.sqlite"), broken)).await;
    }
    world.stop().await;
}
