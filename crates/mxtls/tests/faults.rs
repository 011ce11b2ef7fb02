//! Faults, tried with the real parts: Debian's PostgreSQL (stopped and started again here),
//! `mxtls serve` instances and `mxtls worker` processes, probing the test world.
//!
//! * PostgreSQL restarted while checks run through two `--no-probe` instances and a worker:
//!   while it is down `/healthz` says so (503 with the reason), after it is back 200; every
//!   client gets evidence or a clear error, and a retried request gets evidence; each
//!   domain's snapshots are its finished jobs' (no job answered twice), the ones the clients
//!   got, and `/latest` is the newest; no session of the cluster's budget stays open (its
//!   end, written while the store was down, is retried).
//! * A worker stopped (`kill -STOP`) past its lease: a second worker takes the job and
//!   finishes it; the first, resumed, writes nothing more (no second snapshot, no events of
//!   its attempt after the takeover) and logs that the job is no longer its.
//! * One client alternating between two instances gets exactly its 6 checks a minute; the
//!   7th is a 429 with `Retry-After`.
//!
//! The store-level races (admissions, a client's burst) are `mxtls-server`'s `races.rs`; a
//! check that ends while the store is down, its `outage.rs`.

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use mxtls_server::snapshots::Store;
use mxtls_world::postgres::Cluster;
use mxtls_world::{Options, World};

mod common;
use common::{Proc, free_port, healthy, spawn};

/// `mxtls serve --no-probe` on PostgreSQL, trusting loopback's forwarded client addresses.
fn serve(world: &World, db: &str, log: &std::path::Path) -> (Proc, SocketAddr) {
    let listen = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let mut cmd = common::mxtls_at(
        world,
        &[
            "serve",
            "--db",
            db,
            "--no-probe",
            "--allow-private-targets",
            "--posture=false",
        ],
    );
    cmd.args(["--trusted-proxy", "127.0.0.0/8", "--listen"])
        .arg(listen.to_string())
        .arg("--web-dir")
        .arg(world.dir.join("no-web-app"));
    let proc = spawn(cmd, log);
    healthy(listen, log);
    (proc, listen)
}

/// `mxtls worker` with `args` besides the world's, no reuse of sessions, and room in the
/// per-address budget for every session of the test.
fn worker(world: &World, db: &str, args: &[&str], log: &std::path::Path) -> Proc {
    let mut all = vec![
        "worker",
        "--posture=false",
        "--db",
        db,
        "--allow-private-targets",
        "--target-reuse",
        "0",
        "--target-sessions",
        "60",
    ];
    all.extend_from_slice(args);
    spawn(common::mxtls_at(world, &all), log)
}

/// What a client got.
#[derive(Debug, Clone, PartialEq)]
enum Got {
    /// The evidence event: its snapshot, and whether it was a recent one reused.
    Evidence {
        snapshot: String,
        reused: bool,
        progress: usize,
    },
    /// A clear error: an `error` event, or a refusal with its status and body.
    Error(String),
}

/// The HTTP status of an answer read whole.
fn status(answer: &str) -> u16 {
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// What a check request's answer says; anything else (a cut stream) fails the test.
fn got(answer: &str) -> Got {
    if status(answer) != 200 {
        let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        assert!(body.contains("\"error\""), "a refusal says why: {answer}");
        return Got::Error(format!("{} {}", status(answer), body.trim()));
    }
    match common::stream_events(answer) {
        Ok(s) => Got::Evidence {
            snapshot: s.evidence["snapshot"].as_str().expect("id").to_owned(),
            reused: s.evidence["reused"] == true,
            progress: s.progress,
        },
        Err(e) if e.starts_with("the check failed: ") => Got::Error(e),
        Err(e) => panic!("neither evidence nor an error: {e}"),
    }
}

/// The check of `domain` from `addr` as client `client` (forwarded by loopback), on a thread.
fn check(addr: SocketAddr, domain: &str, client: &str) -> std::thread::JoinHandle<String> {
    let (domain, client) = (domain.to_owned(), client.to_owned());
    std::thread::spawn(move || {
        common::get_within(
            addr,
            &format!("/api/check/{domain}"),
            &format!("X-Forwarded-For: {client}\r\n"),
            Duration::from_secs(180),
        )
        .unwrap_or_else(|e| panic!("{e}"))
    })
}

/// `/healthz` of `addr`: its status and body.
fn health(addr: SocketAddr) -> (u16, String) {
    let answer = common::get_within(addr, "/healthz", "", Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}"));
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status(&answer), body.trim().to_owned())
}

/// Waits (at most `limit`) until `what` holds, asking the store every 50 ms.
async fn until<F, Fut>(limit: Duration, why: &str, mut what: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !what().await {
        assert!(Instant::now() < deadline, "not within {limit:?}: {why}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A count, or -1 while the store cannot answer.
async fn count(store: &Store, sql: &str) -> i64 {
    store.number(sql, vec![]).await.unwrap_or(-1)
}

/// `(id, domain, state, snapshot, attempts)` of every job, oldest first.
async fn jobs(store: &Store) -> Vec<(String, String, String, Option<String>, i64)> {
    store
        .query(
            "SELECT id, domain, state, snapshot, attempts FROM jobs ORDER BY created_at",
            vec![],
        )
        .await
        .expect("jobs")
        .iter()
        .map(|r| {
            (
                r.text("id").expect("id"),
                r.text("domain").expect("domain"),
                r.text("state").expect("state"),
                r.opt_text("snapshot").expect("snapshot"),
                r.int("attempts").expect("attempts"),
            )
        })
        .collect()
}

/// The snapshot `/api/domains/{domain}/latest` names.
fn latest(addr: SocketAddr, domain: &str) -> String {
    let answer = common::get_within(
        addr,
        &format!("/api/domains/{domain}/latest"),
        "",
        Duration::from_secs(10),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let json: serde_json::Value = serde_json::from_str(body).expect("JSON");
    json["snapshot"].as_str().expect("a snapshot").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_postgres_loses_no_check_and_leaves_no_session_open() {
    let world = World::start(Options {
        net: 93,
        smtp_port: 2593,
        postfix: false,
        banner_delay: Duration::from_millis(2000),
        ..Options::default()
    })
    .await
    .expect("world");
    let mut pg = Cluster::start().unwrap_or_else(|e| panic!("{e}"));
    let db = pg.database("restart").expect("database");
    let logs = world.dir.join("restart-logs");
    std::fs::create_dir_all(&logs).expect("logs");
    let (_a, a) = serve(&world, &db, &logs.join("a.log"));
    let (_b, b) = serve(&world, &db, &logs.join("b.log"));
    let _w = worker(
        &world,
        &db,
        &["--jobs", "6", "--lease", "10"],
        &logs.join("w.log"),
    );
    let store = Store::connect(&db).await.expect("store");

    // Six checks, five jobs: slow-banner.test through both instances joins one job.
    let asked = [
        (a, "slow-banner.test"),
        (b, "slow-banner.test"),
        (a, "dane-ee.test"),
        (b, "dane-ta.test"),
        (a, "two-mx.test"),
        (b, "sts-enforce.test"),
    ];
    let clients: Vec<String> = (1..=asked.len()).map(|i| format!("10.93.0.{i}")).collect();
    let streams: Vec<_> = asked
        .iter()
        .zip(&clients)
        .map(|((addr, d), c)| check(*addr, d, c))
        .collect();
    until(
        Duration::from_secs(30),
        "the slow check is under way",
        || async {
            count(
                &store,
                "SELECT COUNT(*) FROM job_events e JOIN jobs j ON j.id = e.job
             WHERE j.domain = 'slow-banner.test' AND e.event LIKE '%\"step\":\"banner\"%'",
            )
            .await
                > 0
        },
    )
    .await;
    let at_outage = jobs(&store).await;

    // The outage: three seconds down (the samples of /healthz are its clock). An answer is
    // kept for a second, so samples from then on must all say so.
    let unix_ms = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    };
    let stopping = unix_ms();
    pg.stop().unwrap_or_else(|e| panic!("{e}"));
    let down = Instant::now();
    let mut samples_down = Vec::new();
    while down.elapsed() < Duration::from_secs(3) {
        for addr in [a, b] {
            let (status, why) = health(addr);
            if down.elapsed() > Duration::from_millis(1100) {
                samples_down.push((status, why));
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    pg.start_again().unwrap_or_else(|e| panic!("{e}"));
    let back = Instant::now();
    let restarted = unix_ms();
    assert!(samples_down.len() >= 4, "{samples_down:?}");
    for (status, why) in &samples_down {
        assert_eq!(*status, 503, "down: {why}");
        assert!(why.contains("store"), "says why: {why}");
    }
    let mut samples_up = 0;
    for addr in [a, b] {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            samples_up += 1;
            if health(addr).0 == 200 {
                break;
            }
            assert!(Instant::now() < deadline, "{addr} healthy again");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let healthy_after = back.elapsed();

    // Every client: evidence, or a clear error and then evidence when it asks again.
    let mut answers: Vec<(&str, Got)> = Vec::new();
    let mut errors = Vec::new();
    for (((addr, domain), client), stream) in asked.iter().zip(&clients).zip(streams) {
        let first = tokio::task::block_in_place(|| stream.join()).expect("a stream");
        match got(&first) {
            Got::Error(e) => {
                errors.push(format!("{domain}: {e}"));
                let again = check(*addr, domain, client);
                let again = tokio::task::block_in_place(|| again.join()).expect("retried");
                let retried = got(&again);
                assert!(
                    matches!(retried, Got::Evidence { .. }),
                    "{domain} retried: {retried:?}"
                );
                answers.push((domain, retried));
            }
            evidence => answers.push((domain, evidence)),
        }
    }

    // Every job ends; a domain's snapshots are its finished jobs', one each.
    until(Duration::from_secs(90), "every job ended", || async {
        count(
            &store,
            "SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')",
        )
        .await
            == 0
    })
    .await;
    let all = jobs(&store).await;
    let mut domains: Vec<&str> = asked.iter().map(|(_, d)| *d).collect();
    domains.sort();
    domains.dedup();
    let mut per_job = Vec::new();
    for domain in &domains {
        let done: Vec<&String> = all
            .iter()
            .filter(|j| j.1 == *domain && j.2 == "done")
            .filter_map(|j| j.3.as_ref())
            .collect();
        assert!(!done.is_empty(), "{domain}: a job finished: {all:?}");
        let stored = store
            .query(
                "SELECT id FROM snapshots WHERE domain = ?1 ORDER BY id",
                vec![(*domain).into()],
            )
            .await
            .expect("snapshots");
        let mut stored: Vec<String> = stored.iter().map(|r| r.text("id").expect("id")).collect();
        let mut of_jobs: Vec<String> = done.iter().map(|s| s.to_string()).collect();
        stored.sort();
        of_jobs.sort();
        assert_eq!(stored, of_jobs, "{domain}: one snapshot per finished job");
        for (d, answer) in &answers {
            if d == domain
                && let Got::Evidence { snapshot, .. } = answer
            {
                assert!(
                    of_jobs.contains(snapshot),
                    "{domain}: a client got {snapshot}, no job's snapshot"
                );
            }
        }
        // Every event the worker gathered reached the clients that followed the job: those
        // it could not write while the store was down were written again.
        let events = count(
            &store,
            &format!(
                "SELECT COUNT(*) FROM job_events e JOIN jobs j ON j.id = e.job WHERE j.domain = '{domain}'"
            ),
        )
        .await;
        for (d, answer) in &answers {
            if d == domain
                && let Got::Evidence {
                    progress,
                    reused: false,
                    ..
                } = answer
            {
                assert_eq!(
                    *progress as i64, events,
                    "{domain}: every event reached the client"
                );
            }
        }
        let newest = done.last().expect("a finished job").to_string();
        assert_eq!(latest(a, domain), newest, "{domain}: /latest is the newest");
        let attempts: Vec<i64> = all.iter().filter(|j| j.1 == *domain).map(|j| j.4).collect();
        per_job.push(format!(
            "{domain}: {} job(s) done, attempts {attempts:?}",
            done.len()
        ));
    }

    // No session of the budget stays open: ends written while the store was down are retried.
    until(
        Duration::from_secs(30),
        "every session ended after the outage",
        || async {
            count(
                &store,
                "SELECT COUNT(*) FROM target_sessions WHERE ended_at IS NULL",
            )
            .await
                == 0
        },
    )
    .await;
    let sessions = count(&store, "SELECT COUNT(*) FROM target_sessions").await;
    // Sessions that ended while the store was down: their end was written by a retry.
    let ended_while_down = count(
        &store,
        &format!(
            "SELECT COUNT(*) FROM target_sessions WHERE ended_at BETWEEN {stopping} AND {restarted}"
        ),
    )
    .await;
    assert!(
        ended_while_down > 0,
        "a session (slow-banner.test's) ended during the outage"
    );
    let lost_events = std::fs::read_to_string(logs.join("w.log"))
        .unwrap_or_default()
        .matches("an event was not written")
        .count();
    assert_eq!(lost_events, 0, "every event was written, if late");
    println!(
        "PostgreSQL down {:.1} s with jobs {:?}: /healthz {} samples down, all 503 ({:?}), 200 again after {samples_up} samples ({:.1} s after the restart); {} of {} clients got an error first ({errors:?}), every retry evidence; {}; {sessions} sessions ({ended_while_down} of them ended while it was down), all ended within {:.1} s of the restart; the worker could not write {lost_events} progress event(s) while it was down",
        back.duration_since(down).as_secs_f64(),
        at_outage
            .iter()
            .map(|j| format!("{} {}", j.1, j.2))
            .collect::<Vec<_>>(),
        samples_down.len(),
        samples_down
            .first()
            .map(|s| s.1.clone())
            .unwrap_or_default(),
        healthy_after.as_secs_f64(),
        errors.len(),
        asked.len(),
        per_job.join(", "),
        back.elapsed().as_secs_f64(),
    );
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_stopped_past_its_lease_writes_nothing_when_it_resumes() {
    let world = World::start(Options {
        net: 94,
        smtp_port: 2594,
        postfix: false,
        banner_delay: Duration::from_millis(4000),
        ..Options::default()
    })
    .await
    .expect("world");
    let pg = Cluster::start().unwrap_or_else(|e| panic!("{e}"));
    let db = pg.database("stopped").expect("database");
    let logs = world.dir.join("stopped-logs");
    std::fs::create_dir_all(&logs).expect("logs");
    let (_a, a) = serve(&world, &db, &logs.join("a.log"));
    let w1_log = logs.join("w1.log");
    let w1 = worker(&world, &db, &["--vantage", "w1", "--lease", "3"], &w1_log);
    let store = Store::connect(&db).await.expect("store");
    let client = check(a, "slow-banner.test", "10.94.0.1");
    until(
        Duration::from_secs(30),
        "w1 waits for the banner",
        || async {
            count(
                &store,
                "SELECT COUNT(*) FROM job_events WHERE event LIKE '%\"step\":\"banner\"%'",
            )
            .await
                > 0
        },
    )
    .await;
    let pid = w1.0.id().to_string();
    let signal = |sig: &str| {
        let ok = Command::new("kill")
            .args([sig, &pid])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill {sig} {pid}");
    };
    signal("-STOP");
    // Past the lease, by the database's clock.
    until(Duration::from_secs(20), "w1's lease ran out", || async {
        count(
            &store,
            "SELECT COUNT(*) FROM jobs WHERE state = 'running'
             AND lease_until < (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT",
        )
        .await
            == 1
    })
    .await;
    let _w2 = worker(
        &world,
        &db,
        &["--vantage", "w2", "--lease", "3"],
        &logs.join("w2.log"),
    );
    until(Duration::from_secs(20), "w2 took the job", || async {
        count(&store, "SELECT COUNT(*) FROM jobs WHERE attempts = 2").await == 1
    })
    .await;
    let first_attempt = "SELECT COUNT(*) FROM job_events WHERE seq < 2000000";
    let before = count(&store, first_attempt).await;
    let answer = tokio::task::block_in_place(|| client.join()).expect("the client");
    let Got::Evidence { snapshot, .. } = got(&answer) else {
        panic!("the client got no evidence: {answer}");
    };
    let s = common::stream_events(&answer).expect("evidence");
    assert_eq!(s.evidence["evidence"]["probe"]["vantage"], "w2");

    signal("-CONT");
    until(
        Duration::from_secs(30),
        "w1 says the job is not its",
        || async {
            let log = std::fs::read_to_string(&w1_log).unwrap_or_default();
            log.contains("is no longer this worker's") || log.contains("was taken over")
        },
    )
    .await;
    let log = std::fs::read_to_string(&w1_log).unwrap_or_default();
    let rows = jobs(&store).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        (rows[0].2.as_str(), rows[0].3.as_deref(), rows[0].4),
        ("done", Some(snapshot.as_str()), 2),
        "done by the second attempt, with the snapshot the client got"
    );
    assert_eq!(
        count(
            &store,
            "SELECT COUNT(*) FROM snapshots WHERE domain = 'slow-banner.test'"
        )
        .await,
        1,
        "no second snapshot"
    );
    assert_eq!(
        count(&store, first_attempt).await,
        before,
        "no event of the first attempt after the takeover"
    );
    assert_eq!(latest(a, "slow-banner.test"), snapshot);
    println!(
        "stopped worker: {before} events of its attempt before the takeover, none after; one snapshot ({snapshot}); its log: {:?}",
        log.lines()
            .filter(|l| l.contains("longer this worker's") || l.contains("taken over"))
            .collect::<Vec<_>>()
    );
    drop(w1);
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_gets_six_checks_a_minute_across_two_instances() {
    let world = World::start(Options {
        net: 95,
        smtp_port: 2595,
        postfix: false,
        ..Options::default()
    })
    .await
    .expect("world");
    let pg = Cluster::start().unwrap_or_else(|e| panic!("{e}"));
    let db = pg.database("quota").expect("database");
    let logs = world.dir.join("quota-logs");
    std::fs::create_dir_all(&logs).expect("logs");
    let (_a, a) = serve(&world, &db, &logs.join("a.log"));
    let (_b, b) = serve(&world, &db, &logs.join("b.log"));
    let _w = worker(&world, &db, &["--jobs", "4"], &logs.join("w.log"));
    let store = Store::connect(&db).await.expect("store");
    let client = "203.0.113.7";
    let domains = [
        "dane-ee.test",
        "dane-ta.test",
        "unsigned.test",
        "rollover.test",
        "pkix-usages.test",
        "two-mx.test",
    ];
    let started = Instant::now();
    for (i, domain) in domains.iter().enumerate() {
        let addr = if i % 2 == 0 { a } else { b };
        let answer =
            tokio::task::block_in_place(|| check(addr, domain, client).join()).expect("a check");
        assert!(
            matches!(got(&answer), Got::Evidence { reused: false, .. }),
            "check {} of {domain}: {answer}",
            i + 1
        );
    }
    let seventh = tokio::task::block_in_place(|| check(b, "tlsa-mismatch.test", client).join())
        .expect("the seventh");
    let took = started.elapsed();
    assert_eq!(status(&seventh), 429, "{seventh}");
    let retry_after: u64 = seventh
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("retry-after:")
                .map(|v| v.trim().to_owned())
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("Retry-After in {seventh}"));
    assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
    assert!(took < Duration::from_secs(60), "all within the minute");
    assert_eq!(
        count(&store, "SELECT COUNT(*) FROM jobs").await,
        6,
        "six jobs started, none for the seventh"
    );
    println!(
        "one client through two instances: 6 checks in {:.1} s, the 7th 429 with Retry-After {retry_after}",
        took.as_secs_f64()
    );
    world.stop().await;
}
