//! The portfolio benchmark, printed (not asserted): `cargo bench -p mxtls --bench batch`.
//!
//! `MXTLS_BATCH_TENANTS` domains (default 1000) of the test world on one shared mail server
//! (`mx.dane-ee.test`, as at a hosting provider), checked by `mxtls batch --parallel
//! MXTLS_BATCH_PARALLEL` (default 16): domains per minute, the batch's peak RSS, the SMTP
//! sessions the shared server saw (all, and the most in any minute: never above the budget
//! of 6), and the rows that reused sessions. Beside it the naive baseline: the first
//! `MXTLS_BATCH_BASELINE` (default 20) domains checked one at a time with `mxtls check`,
//! its domains per minute extrapolated. Loopback only; bounded (a 30 min deadline).

use std::process::Stdio;
use std::time::{Duration, Instant};

use mxtls_world::process::output_within;
use mxtls_world::{Options, World};

#[path = "../tests/common/mod.rs"]
mod common;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let tenants = env_usize("MXTLS_BATCH_TENANTS", 1000);
    let parallel = env_usize("MXTLS_BATCH_PARALLEL", 16);
    let baseline = env_usize("MXTLS_BATCH_BASELINE", 20).min(tenants);
    mxtls_world::raise_open_files();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let began = Instant::now();
    let world = runtime
        .block_on(World::start(Options {
            net: 118,
            smtp_port: 2618,
            https_port: 4618,
            postfix: false,
            tenants,
            banner_delay: Duration::from_millis(500),
            ..Options::default()
        }))
        .expect("the world starts");
    println!(
        "world with {tenants} tenant domains started in {:.1} s",
        began.elapsed().as_secs_f64()
    );
    let domains = mxtls_world::tenant_domains(tenants);
    let list = world.dir.join("portfolio.txt");
    std::fs::write(&list, domains.join("\n")).expect("write");
    let shared = world
        .first_address("dane-ee.test")
        .expect("the shared server");

    // The batch.
    let started = Instant::now();
    let mut child = common::mxtls_at(&world, &["batch"])
        .arg(&list)
        .args(["--csv", "--allow-private-targets", "--parallel"])
        .arg(parallel.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mxtls batch starts");
    let pid = child.id();
    let out_reader = child.stdout.take().map(|mut s| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut s, &mut text);
            text
        })
    });
    let mut peak_kb = 0u64;
    let deadline = Instant::now() + Duration::from_secs(1800);
    while child.try_wait().ok().flatten().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the batch did not end within 30 min");
        }
        let rss = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .unwrap_or_default()
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        peak_kb = peak_kb.max(rss);
        std::thread::sleep(Duration::from_millis(100));
    }
    let took = started.elapsed();
    let csv = out_reader.and_then(|t| t.join().ok()).unwrap_or_default();
    let rows = csv.lines().count().saturating_sub(1);
    let reused = csv.lines().skip(1).filter(|l| !l.ends_with(',')).count();
    let sessions = world.sessions.at(shared);
    let most_in_a_minute = sessions
        .iter()
        .map(|s| {
            sessions
                .iter()
                .filter(|t| {
                    t.accepted >= s.accepted && t.accepted < s.accepted + Duration::from_secs(60)
                })
                .count()
        })
        .max()
        .unwrap_or(0);
    let per_minute = rows as f64 / took.as_secs_f64() * 60.0;
    println!(
        "mxtls batch: {rows} domains in {:.1} s = {per_minute:.0} domains/min (parallel {parallel}); \
         peak RSS {:.1} MB; rows that reused sessions: {reused}",
        took.as_secs_f64(),
        peak_kb as f64 / 1024.0
    );
    println!(
        "the shared server {shared} saw {} SMTP sessions, at most {most_in_a_minute} in any minute (budget 6)",
        sessions.len()
    );

    // The naive baseline: one `mxtls check` after another.
    let started = Instant::now();
    for d in domains.iter().take(baseline) {
        let _ = output_within(
            &mut common::mxtls_at(&world, &["check", d, "--json", "--allow-private-targets"]),
            Duration::from_secs(120),
        );
    }
    let each = started.elapsed().as_secs_f64() / baseline.max(1) as f64;
    println!(
        "baseline, mxtls check one at a time: {baseline} domains, {each:.2} s each = {:.0} domains/min; \
         {tenants} domains would take {:.1} min",
        60.0 / each,
        each * tenants as f64 / 60.0
    );
    runtime.block_on(world.stop());
}
