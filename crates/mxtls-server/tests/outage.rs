//! A cluster worker through a PostgreSQL outage, in process (its probe held by the test):
//! a check that ends while the store is down is recorded once when it comes back. The
//! processes' side of the same fault is `crates/mxtls/tests/faults.rs`. PostgreSQL only
//! (`MXTLS_TEST_STORE=postgres`): a cluster needs it.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use mxtls_server::snapshots::Store;
use mxtls_world::postgres::Cluster;

mod common;
use common::{count, until};

/// A check that ends while PostgreSQL is down: the worker (in process, its probe held until
/// the store is stopped) waits for the store to come back and records the outcome once —
/// the job is done at its first attempt, with one snapshot, which its stream delivers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_that_ends_while_the_store_is_down_is_recorded_once() {
    if std::env::var("MXTLS_TEST_STORE").as_deref() != Ok("postgres") {
        println!("a cluster runs on PostgreSQL only (MXTLS_TEST_STORE=postgres)");
        return;
    }
    use mxtls_core::Evidence;
    use mxtls_server::cluster::{self, Cluster as Jobs};
    const FIXTURE: &str = include_str!("../../mxtls-core/tests/fixtures/evidence-v1.json");
    let evidence = Evidence::from_json(FIXTURE).expect("the fixture");
    let domain = evidence.domain.clone();
    let mut pg = Cluster::start().unwrap_or_else(|e| panic!("{e}"));
    let db = pg.database("outcome").expect("database");
    let store = Arc::new(Store::connect(&db).await.expect("store"));
    let jobs = Jobs::start(store.clone(), Duration::from_secs(120))
        .await
        .expect("jobs");
    let gate = Arc::new(tokio::sync::Notify::new());
    let probes = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let prober: cluster::Prober = {
        let (gate, probes) = (gate.clone(), probes.clone());
        Arc::new(move |_domain, _config| {
            probes.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let gate = gate.clone();
            Box::new(move |_sink| {
                Box::pin(async move {
                    gate.notified().await;
                    Evidence::from_json(FIXTURE).map_err(|e| e.to_string())
                })
            })
        })
    };
    let mut config = cluster::WorkerConfig::new(1);
    config.lease = Duration::from_secs(10);
    let worker = tokio::spawn(cluster::work_with(
        store.clone(),
        mxtls_probe::Config::default(),
        prober,
        config,
        std::future::pending(),
    ));
    let client = mxtls_server::clients::ClientKey::of("203.0.113.10".parse().expect("ip"));
    let (job, created) = jobs
        .check(&domain, client, &mxtls_server::Limits::default(), true)
        .await
        .unwrap_or_else(|e| panic!("queued: {e:?}"));
    assert!(created);
    let frames = tokio::spawn(jobs.clone().stream(job).collect::<Vec<_>>());
    until(
        Duration::from_secs(20),
        "the worker took the job",
        || async { count(&store, "SELECT COUNT(*) FROM jobs WHERE state = 'running'").await == 1 },
    )
    .await;
    pg.stop().unwrap_or_else(|e| panic!("{e}"));
    gate.notify_one();
    // The probe ends with the store down; it stays down for two seconds more.
    tokio::time::sleep(Duration::from_secs(2)).await;
    pg.start_again().unwrap_or_else(|e| panic!("{e}"));
    let frames = tokio::time::timeout(Duration::from_secs(60), frames)
        .await
        .expect("the stream ends")
        .expect("the stream's task");
    let end = frames.last().expect("frames");
    assert_eq!(end.name.as_str(), "evidence", "{}", end.data);
    let answer: serde_json::Value = serde_json::from_str(&end.data).expect("JSON");
    let rows = store
        .query("SELECT state, snapshot, attempts FROM jobs", vec![])
        .await
        .expect("jobs");
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (
            rows[0].text("state").expect("state"),
            rows[0].opt_text("snapshot").expect("snapshot"),
            rows[0].int("attempts").expect("attempts")
        ),
        (
            "done".to_owned(),
            answer["snapshot"].as_str().map(str::to_owned),
            1
        ),
        "done at its first attempt, with the snapshot the client got"
    );
    assert_eq!(count(&store, "SELECT COUNT(*) FROM snapshots").await, 1);
    assert_eq!(
        probes.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "probed once"
    );
    worker.abort();
    println!(
        "a check that ended with the store down: recorded once when it came back (attempt 1, one snapshot, {} frames to the client)",
        frames.len()
    );
}
