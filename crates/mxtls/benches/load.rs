//! The load benchmark, printed (not asserted): `cargo bench -p mxtls --bench load`.
//!
//! N concurrent clients (`MXTLS_LOAD_CLIENTS`, default 20) against the checker on loopback,
//! probing the test world, in two shapes: one `mxtls serve` on SQLite, and two `mxtls serve`
//! instances on one PostgreSQL (each probing, jobs shared). Each shape gets the same work:
//! every scenario domain checked once ("fresh": a probe runs), then every client asks again
//! for domains already checked ("reused": the stored result, no probe), `MXTLS_LOAD_REUSED`
//! times each (default 10). Clients are told apart by `X-Forwarded-For` through a trusted
//! proxy, so the per-client quotas do not refuse them; a 429/503 is retried after its
//! `Retry-After` and counted.
//!
//! Prints checks per second, p50/p99 time to the answer for fresh and reused checks, the
//! refusals, each instance's peak RSS, and the most SMTP sessions any one address of the
//! world saw per minute. Bounded: every request has a 120 s deadline, the whole run 10 min.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mxtls_world::postgres::Cluster;
use mxtls_world::{Options, World};

#[path = "../tests/common/mod.rs"]
mod common;
use common::{Proc, free_port, healthy, spawn};

/// The peak resident memory of a process (`VmHWM`), KB.
fn peak_rss_kb(p: &Proc) -> u64 {
    std::fs::read_to_string(format!("/proc/{}/status", p.0.id()))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn serve(world: &World, db: &str, log: &std::path::Path) -> (Proc, SocketAddr) {
    let listen = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let mut cmd = common::mxtls_at(
        world,
        &[
            "serve",
            "--db",
            db,
            "--allow-private-targets",
            "--posture=false",
        ],
    );
    cmd.args(["--trusted-proxy", "127.0.0.1/32", "--target-sessions", "60"])
        .arg("--listen")
        .arg(listen.to_string())
        .arg("--web-dir")
        .arg(world.dir.join("no-web-app"));
    let server = spawn(cmd, log);
    healthy(listen, log);
    (server, listen)
}

/// One check: the time to its evidence, and how often it was refused first.
fn check(addr: SocketAddr, domain: &str, client: &str) -> Option<(Duration, usize)> {
    let started = Instant::now();
    let mut refused = 0;
    while started.elapsed() < Duration::from_secs(120) {
        let mut s = TcpStream::connect(addr).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(120))).ok()?;
        let request = format!(
            "GET /api/check/{domain} HTTP/1.0\r\nHost: {addr}\r\nX-Forwarded-For: {client}\r\n\r\n"
        );
        s.write_all(request.as_bytes()).ok()?;
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        let text = String::from_utf8_lossy(&out);
        if text.contains("event: evidence") {
            return Some((started.elapsed(), refused));
        }
        let status = text.split(' ').nth(1).unwrap_or("");
        if status == "429" || status == "503" {
            refused += 1;
            let wait = text
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("retry-after: ")
                        .map(str::to_owned)
                })
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(1);
            std::thread::sleep(Duration::from_secs(wait.min(10)));
            continue;
        }
        return None;
    }
    None
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

struct Figures {
    /// The domains checked, with when their answer came (reused checks ask for those
    /// answered in the last 50 s: within the server's 60-s reuse window).
    done: Vec<(String, Instant)>,
    fresh: Vec<Duration>,
    reused: Vec<Duration>,
    failed: usize,
    refused: usize,
    wall: Duration,
}

/// The workload against `instances` (round robin).
fn run(
    instances: &[SocketAddr],
    domains: &[String],
    clients: usize,
    reused_each: usize,
) -> Figures {
    let queue = Arc::new(Mutex::new(domains.to_vec()));
    let results = Arc::new(Mutex::new(Figures {
        done: Vec::new(),
        fresh: Vec::new(),
        reused: Vec::new(),
        failed: 0,
        refused: 0,
        wall: Duration::ZERO,
    }));
    let started = Instant::now();
    // Fresh: the clients share out the domains, each checked once.
    let threads: Vec<_> = (0..clients)
        .map(|c| {
            let (queue, results, instances) = (queue.clone(), results.clone(), instances.to_vec());
            std::thread::spawn(move || {
                let client = format!("10.1.{}.{}", c / 200, c % 200 + 1);
                loop {
                    let Some(domain) = queue.lock().ok().and_then(|mut q| q.pop()) else {
                        return;
                    };
                    let at = instances[c % instances.len()];
                    let answer = check(at, &domain, &client);
                    let mut r = results.lock().expect("results");
                    match answer {
                        Some((t, n)) => {
                            r.fresh.push(t);
                            r.refused += n;
                            r.done.push((domain, Instant::now()));
                        }
                        None => r.failed += 1,
                    }
                }
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
    // Reused: every client asks again for domains answered in the last 50 s.
    let recent: Vec<String> = results
        .lock()
        .expect("results")
        .done
        .iter()
        .filter(|(_, at)| at.elapsed() < Duration::from_secs(50))
        .map(|(d, _)| d.clone())
        .collect();
    let threads: Vec<_> = (0..clients)
        .filter(|_| !recent.is_empty())
        .map(|c| {
            let (results, instances, domains) =
                (results.clone(), instances.to_vec(), recent.clone());
            std::thread::spawn(move || {
                let client = format!("10.2.{}.{}", c / 200, c % 200 + 1);
                for k in 0..reused_each {
                    let domain = &domains[(c * 7 + k * 13) % domains.len()];
                    let at = instances[(c + k) % instances.len()];
                    let answer = check(at, domain, &client);
                    let mut r = results.lock().expect("results");
                    match answer {
                        Some((t, n)) => {
                            r.reused.push(t);
                            r.refused += n;
                        }
                        None => r.failed += 1,
                    }
                }
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
    let mut r = std::mem::replace(
        &mut *results.lock().expect("results"),
        Figures {
            done: Vec::new(),
            fresh: Vec::new(),
            reused: Vec::new(),
            failed: 0,
            refused: 0,
            wall: Duration::ZERO,
        },
    );
    r.wall = started.elapsed();
    r.fresh.sort();
    r.reused.sort();
    r
}

/// The most sessions one address saw in any minute, since `since`.
fn sessions_per_address_minute(world: &World, since: Instant) -> (usize, Option<IpAddr>) {
    let mut best = (0, None);
    for s in &world.scenarios {
        for (_, addrs) in &s.hosts {
            for ip in addrs {
                let seen: Vec<Instant> = world
                    .sessions
                    .at(*ip)
                    .into_iter()
                    .map(|x| x.accepted)
                    .filter(|t| *t >= since)
                    .collect();
                for (i, t) in seen.iter().enumerate() {
                    let n = seen[i..]
                        .iter()
                        .filter(|u| u.duration_since(*t) < Duration::from_secs(60))
                        .count();
                    if n > best.0 {
                        best = (n, Some(*ip));
                    }
                }
            }
        }
    }
    best
}

fn report(shape: &str, f: &Figures, rss: &[u64], per_minute: (usize, Option<IpAddr>)) {
    let answered = f.fresh.len() + f.reused.len();
    println!("\n{shape}");
    println!(
        "  {answered} checks answered in {:.1} s: {:.1} checks/s ({} failed, {} refusals retried)",
        f.wall.as_secs_f64(),
        answered as f64 / f.wall.as_secs_f64().max(0.001),
        f.failed,
        f.refused
    );
    println!(
        "  fresh  ({:>4}): p50 {:>8.0} ms   p99 {:>8.0} ms",
        f.fresh.len(),
        percentile(&f.fresh, 0.5),
        percentile(&f.fresh, 0.99)
    );
    println!(
        "  reused ({:>4}): p50 {:>8.1} ms   p99 {:>8.1} ms",
        f.reused.len(),
        percentile(&f.reused, 0.5),
        percentile(&f.reused, 0.99)
    );
    for (i, kb) in rss.iter().enumerate() {
        println!(
            "  instance {}: peak RSS {:.1} MB",
            i + 1,
            *kb as f64 / 1024.0
        );
    }
    match per_minute {
        (n, Some(ip)) => println!("  most SMTP sessions one address saw in a minute: {n} ({ip})"),
        _ => println!("  no SMTP sessions"),
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let clients = env_usize("MXTLS_LOAD_CLIENTS", 20);
    let reused_each = env_usize("MXTLS_LOAD_REUSED", 10);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let world = runtime
        .block_on(World::start(Options {
            net: 76,
            smtp_port: 2576,
            postfix: false,
            ..Options::default()
        }))
        .expect("world");
    let domains: Vec<String> = world.scenarios.iter().map(|s| s.domain.clone()).collect();
    let logs = world.dir.join("load-logs");
    std::fs::create_dir_all(&logs).expect("logs");
    println!(
        "load: {clients} clients, {} fresh domains, {reused_each} reused checks per client, on {} cores",
        domains.len(),
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );

    // 1 instance, SQLite.
    let since = Instant::now();
    let file = world.dir.join("load.sqlite");
    let (one, at) = serve(
        &world,
        &file.display().to_string(),
        &logs.join("sqlite.log"),
    );
    let figures = run(&[at], &domains, clients, reused_each);
    let rss = vec![peak_rss_kb(&one)];
    drop(one);
    report(
        "1 instance, SQLite",
        &figures,
        &rss,
        sessions_per_address_minute(&world, since),
    );

    // A minute apart, so that no server's per-minute count carries over.
    std::thread::sleep(Duration::from_secs(61));

    // 2 instances, PostgreSQL.
    let since = Instant::now();
    let pg = Cluster::start().expect("PostgreSQL");
    let db = pg.database("load").expect("database");
    let (a, at_a) = serve(&world, &db, &logs.join("pg-a.log"));
    let (b, at_b) = serve(&world, &db, &logs.join("pg-b.log"));
    let figures = run(&[at_a, at_b], &domains, clients, reused_each);
    let rss = vec![peak_rss_kb(&a), peak_rss_kb(&b)];
    drop((a, b));
    report(
        "2 instances, PostgreSQL",
        &figures,
        &rss,
        sessions_per_address_minute(&world, since),
    );
    runtime.block_on(world.stop());
}
