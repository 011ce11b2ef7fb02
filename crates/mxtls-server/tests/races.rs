//! Races on one PostgreSQL, at the store's level: requests from two stores (two workers, two
//! instances) at the same instant. PostgreSQL only (`MXTLS_TEST_STORE=postgres`); the
//! processes' side is `crates/mxtls/tests/faults.rs` and `cluster.rs`.
//!
//! * Sessions admitted to one address: one at a time, never over the budget (the
//!   store-level case of the cluster's budget test).
//! * One client's burst through two instances: never more queued than its limit (ignored
//!   while the limits are counted apart from the insert; see the test).

use std::sync::Arc;
use std::time::Duration;

use mxtls_server::snapshots::Store;
use mxtls_world::postgres::Cluster;

fn on_postgres() -> bool {
    let yes = std::env::var("MXTLS_TEST_STORE").as_deref() == Ok("postgres");
    if !yes {
        println!("races between stores need PostgreSQL (MXTLS_TEST_STORE=postgres)");
    }
    yes
}

mod common;
use common::{count, until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_admissions_from_two_stores_keep_the_budget() {
    if !on_postgres() {
        return;
    }
    use mxtls_probe::budget::{Admission, TargetBudget};
    let pg = Cluster::start().unwrap_or_else(|e| panic!("{e}"));
    let db = pg.database("admit").expect("database");
    let (one, two) = (
        Arc::new(Store::connect(&db).await.expect("store")),
        Arc::new(Store::connect(&db).await.expect("store")),
    );
    const MAX: usize = 3;
    let budgets = [
        Arc::new(mxtls_server::budget::StoreBudget::new(
            one.clone(),
            "w1",
            MAX,
            Duration::from_secs(60),
        )),
        Arc::new(mxtls_server::budget::StoreBudget::new(
            two,
            "w2",
            MAX,
            Duration::from_secs(60),
        )),
    ];
    let ip: std::net::IpAddr = "192.0.2.25".parse().expect("ip");
    let mut started_per_round = Vec::new();
    for round in 0..=MAX {
        // 16 admissions at the same instant, 8 through each store.
        let barrier = Arc::new(tokio::sync::Barrier::new(16));
        let mut admitting = tokio::task::JoinSet::new();
        for i in 0..16 {
            let (budget, barrier) = (budgets[i % 2].clone(), barrier.clone());
            admitting.spawn(async move {
                barrier.wait().await;
                budget.admit(ip).await
            });
        }
        let mut permits = Vec::new();
        let mut reasons = Vec::new();
        while let Some(answer) = admitting.join_next().await {
            match answer.expect("an admission") {
                Admission::Start(p) => permits.push(p),
                Admission::Wait { reason, .. } => reasons.push(reason),
            }
        }
        let expected = usize::from(round < MAX);
        assert_eq!(
            permits.len(),
            expected,
            "round {round}: {} started; the others: {reasons:?}",
            permits.len()
        );
        started_per_round.push(permits.len());
        drop(permits);
        until(Duration::from_secs(10), "the session ended", || async {
            count(
                &one,
                "SELECT COUNT(*) FROM target_sessions WHERE ended_at IS NULL",
            )
            .await
                == 0
        })
        .await;
    }
    assert_eq!(
        count(&one, "SELECT COUNT(*) FROM target_sessions").await,
        MAX as i64,
        "sessions in the window: the budget"
    );
    println!(
        "16 concurrent admissions per round from two stores: started {started_per_round:?} (budget {MAX} a window, one at a time)"
    );
}

/// One client's burst of checks through two instances at the same instant, with no worker to
/// end them: the client's limits are counted and its job queued in one transaction under a
/// lock on the client (`store::pg::jobs`), so concurrent requests cannot all see room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_from_one_client_across_instances_keeps_its_limits() {
    if !on_postgres() {
        return;
    }
    use mxtls_server::cluster::Cluster as Jobs;
    let pg = Cluster::start().unwrap_or_else(|e| panic!("{e}"));
    let db = pg.database("burst").expect("database");
    let mut instances = Vec::new();
    for _ in 0..2 {
        let store = Arc::new(Store::connect(&db).await.expect("store"));
        instances.push(
            Jobs::start(store, Duration::from_secs(60))
                .await
                .expect("jobs"),
        );
    }
    let limits = mxtls_server::Limits::default();
    let client = mxtls_server::clients::ClientKey::of("203.0.113.9".parse().expect("ip"));
    let barrier = Arc::new(tokio::sync::Barrier::new(8));
    let mut asking = tokio::task::JoinSet::new();
    for i in 0..8 {
        let (jobs, limits, barrier) = (instances[i % 2].clone(), limits.clone(), barrier.clone());
        asking.spawn(async move {
            let domain =
                mxtls_core::names::parse_user_domain(&format!("d{i}.test")).expect("a domain");
            barrier.wait().await;
            jobs.check(&domain, client, &limits, true).await.is_ok()
        });
    }
    let mut queued = 0;
    while let Some(ok) = asking.join_next().await {
        queued += usize::from(ok.expect("a request"));
    }
    let store = Store::connect(&db).await.expect("store");
    let rows = count(&store, "SELECT COUNT(*) FROM jobs").await;
    println!(
        "a burst of 8 from one client through 2 instances: {queued} queued ({rows} jobs), limit {}",
        limits.per_client_concurrent_checks
    );
    assert_eq!(
        (queued, rows),
        (
            limits.per_client_concurrent_checks,
            limits.per_client_concurrent_checks as i64
        ),
        "at most {} checks at once per client",
        limits.per_client_concurrent_checks
    );
}
