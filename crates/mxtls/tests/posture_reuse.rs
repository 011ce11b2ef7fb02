//! Posture changes rarely: `mxtls serve` and `mxtls worker` ask it by default, and reuse an
//! address's posture younger than a day from the store instead of asking again. The same
//! suite on both stores: one `mxtls serve` on SQLite, and a cluster (`serve --no-probe` and a
//! `worker`) on PostgreSQL. Two tenants whose MX is the same server are checked one after
//! the other: the first asks the posture (its sessions counted by the server), the second
//! reuses it — `reused_from` names the first check's snapshot, and the server saw only the
//! second check's verdict-bearing sessions.

use std::net::{IpAddr, SocketAddr};
use std::process::Command;
use std::time::Duration;

use mxtls_world::postgres::Cluster;
use mxtls_world::process::output_within;
use mxtls_world::{Options, World};
use serde_json::Value;

mod common;
use common::{Proc, free_port, get_within, healthy, spawn};

/// A check of `domain` through `listen`, as the evidence event of its stream.
fn check(listen: SocketAddr, domain: &str, client: &str) -> Value {
    let stream = get_within(
        listen,
        &format!("/api/check/{domain}"),
        &format!("X-Forwarded-For: {client}\r\n"),
        Duration::from_secs(120),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    common::stream_events(&stream)
        .unwrap_or_else(|e| panic!("{e}"))
        .evidence
}

fn address(answer: &Value) -> &Value {
    &answer["evidence"]["hosts"][0]["addresses"][0]
}

/// The report `mxtls analyse --json` gives for `answer`'s evidence.
fn report(world: &World, answer: &Value, name: &str) -> Value {
    let file = world.dir.join(format!("{name}.json"));
    std::fs::write(&file, answer["evidence"].to_string()).expect("write the evidence");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mxtls"));
    cmd.arg("analyse").arg(&file).arg("--json");
    let out = output_within(&mut cmd, Duration::from_secs(30)).unwrap_or_else(|e| panic!("{e}"));
    serde_json::from_slice(&out.stdout).expect("a JSON report")
}

/// The two checks through `listen`, and what each must show.
fn first_asks_second_reuses(world: &World, listen: SocketAddr, path: &str) {
    let first = check(listen, "tenant-1.test", "10.9.0.1");
    let ip: IpAddr = address(&first)["ip"]
        .as_str()
        .and_then(|i| i.parse().ok())
        .expect("the first check's address");
    let seen_after_first = world.sessions.at(ip).len();
    let asked = address(&first)["posture"]["sessions"]
        .as_array()
        .map_or(0, Vec::len);
    assert!(
        (4..=6).contains(&asked),
        "{path}: the first check asks the posture in 4 to 6 sessions: {}",
        address(&first)["posture"]
    );
    assert!(
        address(&first)["posture"]["reused"].is_null(),
        "{path}: the first posture is asked, not reused"
    );

    let second = check(listen, "tenant-2.test", "10.9.0.2");
    let posture = &address(&second)["posture"];
    assert_eq!(
        posture["reused"]["snapshot"], first["snapshot"],
        "{path}: the second check reuses the first's posture: {posture}"
    );
    assert!(
        posture["reused"]["reason"]
            .as_str()
            .unwrap_or("")
            .contains("posture changes rarely"),
        "{path}: says why: {posture}"
    );
    assert_eq!(
        posture["sessions"],
        address(&first)["posture"]["sessions"],
        "{path}: the same sessions"
    );
    assert!(
        address(&second)["reused"].is_null(),
        "{path}: the verdict-bearing sessions are the second check's own"
    );
    let main = address(&second)["sessions"].as_array().map_or(0, Vec::len);
    assert_eq!(
        world.sessions.at(ip).len() - seen_after_first,
        main,
        "{path}: the server saw only the second check's {main} main sessions"
    );

    // The report says where the posture came from, and that it cost no session.
    let first_report = report(world, &first, &format!("{path}-first"));
    let second_report = report(world, &second, &format!("{path}-second"));
    let judged = |r: &Value| r["mx"][0]["addresses"][0]["posture"].clone();
    assert!(judged(&first_report)["reused_from"].is_null());
    assert_eq!(
        judged(&second_report)["reused_from"]["snapshot"],
        first["snapshot"],
        "{path}: {}",
        judged(&second_report)
    );
    for field in ["versions", "weak_suites", "server_order", "post_quantum"] {
        assert_eq!(
            judged(&second_report)[field],
            judged(&first_report)[field],
            "{path}: the reused posture judges as the first: {field}"
        );
    }
}

/// Room for both checks' sessions in the budget's window, and no reuse of the verdict-bearing
/// sessions: the second check's own sessions must reach the server.
const BUDGET: &[&str] = &["--target-sessions", "20", "--target-reuse", "0"];

fn serve(world: &World, args: &[&str], log: &std::path::Path) -> (Proc, SocketAddr) {
    let listen = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let mut all = vec!["serve", "--allow-private-targets"];
    all.extend_from_slice(BUDGET);
    all.extend_from_slice(args);
    let mut cmd = common::mxtls_at(world, &all);
    cmd.args(["--trusted-proxy", "127.0.0.1/32", "--listen"])
        .arg(listen.to_string())
        .arg("--web-dir")
        .arg(world.dir.join("no-web-app"));
    let proc = spawn(cmd, log);
    (proc, listen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_posture_younger_than_a_day_is_reused_on_either_store() {
    let world = World::start(Options {
        net: 109,
        smtp_port: 2609,
        postfix: false,
        tenants: 2,
        ..Options::default()
    })
    .await
    .expect("world");
    let logs = world.dir.join("posture-reuse-logs");
    std::fs::create_dir_all(&logs).expect("logs");

    // One instance on SQLite, asking the posture by default.
    let db = world.dir.join("posture.sqlite").display().to_string();
    let log = logs.join("sqlite.log");
    let (server, listen) = serve(&world, &["--db", &db], &log);
    healthy(listen, &log);
    first_asks_second_reuses(&world, listen, "sqlite");
    drop(server);

    // A cluster on PostgreSQL: its own store, so the first check asks again.
    let pg = Cluster::start().unwrap_or_else(|e| panic!("{e}"));
    let db = pg.database("posture").expect("database");
    let log = logs.join("front.log");
    let (_front, listen) = serve(&world, &["--db", &db, "--no-probe"], &log);
    healthy(listen, &log);
    let worker = common::mxtls_at(
        &world,
        &[
            "worker",
            "--db",
            &db,
            "--allow-private-targets",
            "--target-sessions",
            "20",
            "--target-reuse",
            "0",
        ],
    );
    let _worker = spawn(worker, &logs.join("worker.log"));
    first_asks_second_reuses(&world, listen, "postgres");
    world.stop().await;
}
