//! The scale benchmark of issue 27, printed (not asserted): `cargo bench -p mxtls --bench
//! portfolio`.
//!
//! The test world's portfolio (`Options::portfolio`): `MXTLS_PORTFOLIO_DOMAINS` domains
//! (default 10,000) over `MXTLS_PORTFOLIO_ADDRESSES` shared mail hosts (20) and
//! `MXTLS_PORTFOLIO_OWN` domains with a mail host of their own (500), one list, checked as
//! `MXTLS_PORTFOLIO_RUNS` says (default `sqlite,cluster,baseline`; also `cli`):
//!
//! * `sqlite`: one `mxtls serve --max-checks MXTLS_PORTFOLIO_MAX_CHECKS` (32: a batch takes
//!   the free half) on a SQLite file, the list POSTed as one batch (`POST /api/batches`)
//!   and followed until done;
//! * `cluster`: two `mxtls serve --no-probe` instances and two `mxtls worker --jobs
//!   MXTLS_PORTFOLIO_JOBS` (16 each) on a fresh PostgreSQL database (Debian's, started
//!   here), the batch POSTed to the first instance;
//! * `cli`: `mxtls batch FILE --csv --parallel MXTLS_PORTFOLIO_PARALLEL` (16);
//! * `baseline`: `mxtls check` one domain at a time on `MXTLS_PORTFOLIO_BASELINE` domains
//!   (30) spread over the list, extrapolated to the whole list.
//!
//! Each run: domains per minute, the peak RSS of each process (VmHWM), the store's size, the
//! sessions the world's mail servers saw (the most any address saw in any window of the
//! budget's length — 6 a minute — and the most at once), rows that reused another check's
//! sessions, counts by state, the mean check duration the instances' `/metrics` give, and the
//! CPU seconds each process (and the world's DNS servers) spent. `MXTLS_PORTFOLIO_POSTURE=false`
//! turns the servers' TLS posture sessions off. Loopback only; every run bounded by
//! `MXTLS_PORTFOLIO_DEADLINE_MIN` minutes (30): a run that does not finish says how far it got.
//! The world runs on 127.`MXTLS_PORTFOLIO_NET`.0.0/16 (121).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use mxtls_world::portfolio::{Portfolio, Shape};
use mxtls_world::process::output_within;
use mxtls_world::smtp::AddressLoad;
use mxtls_world::{Options, World};

#[path = "../tests/common/mod.rs"]
mod common;
use common::{Proc, free_port, healthy, spawn};

const TOKEN: &str = "bench-0123456789abcdef";
/// The per-address budget every run keeps (the default of `--target-sessions`).
const BUDGET: usize = 6;
const WINDOW: Duration = Duration::from_secs(60);

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Settings {
    shape: Shape,
    runs: Vec<String>,
    baseline: usize,
    parallel: usize,
    deadline: Duration,
    posture: bool,
    /// `mxtls serve --max-checks` of the SQLite run (a batch uses the free half).
    max_checks: usize,
    /// `mxtls worker --jobs` of each of the cluster's two workers.
    jobs: usize,
    /// The test world's network (127.NET.x.y).
    net: u8,
}

/// What one run measured.
#[derive(Default)]
struct Figures {
    run: String,
    total: usize,
    done: usize,
    took: Duration,
    /// Peak RSS by process, in kB.
    rss: Vec<(String, u64)>,
    store_bytes: Option<u64>,
    counts: BTreeMap<String, usize>,
    reused_rows: usize,
    load: Vec<AddressLoad>,
    /// Mean check duration (s) and checks, from the instances' `/metrics`.
    checks: Option<(f64, f64)>,
    /// The first rows (CSV) that are neither `protected` nor `strippable`: what went wrong.
    odd: Vec<String>,
    cpu: BTreeMap<String, f64>,
    loadavg: (String, String),
}

impl Figures {
    fn per_minute(&self) -> f64 {
        self.done as f64 / self.took.as_secs_f64().max(0.001) * 60.0
    }
}

fn main() {
    let settings = Settings {
        shape: Shape {
            shared_domains: env_usize("MXTLS_PORTFOLIO_DOMAINS", Shape::ISSUE.shared_domains),
            shared_addresses: env_usize("MXTLS_PORTFOLIO_ADDRESSES", Shape::ISSUE.shared_addresses),
            own: env_usize("MXTLS_PORTFOLIO_OWN", Shape::ISSUE.own),
        },
        runs: std::env::var("MXTLS_PORTFOLIO_RUNS")
            .unwrap_or_else(|_| "sqlite,cluster,baseline".into())
            .split(',')
            .map(|r| r.trim().to_owned())
            .filter(|r| !r.is_empty())
            .collect(),
        baseline: env_usize("MXTLS_PORTFOLIO_BASELINE", 30),
        parallel: env_usize("MXTLS_PORTFOLIO_PARALLEL", 16),
        deadline: Duration::from_secs(60 * env_usize("MXTLS_PORTFOLIO_DEADLINE_MIN", 30) as u64),
        posture: std::env::var("MXTLS_PORTFOLIO_POSTURE").map_or(true, |v| v != "false"),
        max_checks: env_usize("MXTLS_PORTFOLIO_MAX_CHECKS", 32),
        jobs: env_usize("MXTLS_PORTFOLIO_JOBS", 16),
        net: env_usize("MXTLS_PORTFOLIO_NET", 121) as u8,
    };
    mxtls_world::raise_open_files();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let world = runtime
        .block_on(World::start(Options {
            net: settings.net,
            smtp_port: 2500 + u16::from(settings.net),
            https_port: 4500 + u16::from(settings.net),
            postfix: false,
            portfolio: Some(settings.shape),
            ..Options::default()
        }))
        .expect("the world starts");
    let portfolio = world.portfolio.clone().expect("the portfolio");
    println!(
        "world: {} domains ({} over {} shared mail hosts, {} with their own; {} with TLSA) \
         in one signed zone, {} SMTP listeners; started in {:.1} s; {} cores; load {}",
        portfolio.domains.len(),
        settings.shape.shared_domains,
        settings.shape.shared_addresses,
        settings.shape.own,
        portfolio.dane_domains,
        portfolio.shared.len() + portfolio.own.len(),
        world.started_in.as_secs_f64(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        loadavg()
    );
    // Kept after the run (the world's directory is not): the processes' logs and the list.
    let logs = std::env::var_os("MXTLS_PORTFOLIO_LOGS").map_or_else(
        || std::env::temp_dir().join(format!("mxtls-portfolio-{}", std::process::id())),
        std::path::PathBuf::from,
    );
    std::fs::create_dir_all(&logs).expect("logs");
    println!("logs in {}", logs.display());
    let list = logs.join("portfolio.txt");
    std::fs::write(&list, portfolio.domains.join("\n")).expect("write");

    let mut all = Vec::new();
    for run in &settings.runs {
        println!("\n== {run}");
        let figures = match run.as_str() {
            "sqlite" => single(&world, &portfolio, &settings, &logs),
            "cluster" => cluster(&world, &portfolio, &settings, &logs, &runtime),
            "cli" => cli(&world, &portfolio, &settings, &list),
            "baseline" => baseline(&world, &portfolio, &settings),
            other => {
                println!("unknown run {other:?} (sqlite, cluster, cli, baseline)");
                continue;
            }
        };
        print_figures(&figures, &portfolio);
        all.push(figures);
    }
    println!("\n== side by side ({} domains)", portfolio.domains.len());
    println!(
        "{:<9} {:>7} {:>9} {:>10} {:>12} {:>10} {:>9} {:>12} {:>8} {:>8}",
        "run",
        "done",
        "wall s",
        "domains/min",
        "peak RSS MB",
        "store MB",
        "sessions",
        "most/window",
        "at once",
        "reused"
    );
    for f in &all {
        let (max_rss, sum_rss) = rss_max_sum(f);
        let load = worst(&f.load);
        println!(
            "{:<9} {:>7} {:>9.1} {:>10.0} {:>12} {:>10} {:>9} {:>12} {:>8} {:>8}",
            f.run,
            format!("{}/{}", f.done, f.total),
            f.took.as_secs_f64(),
            f.per_minute(),
            if f.rss.len() > 1 {
                format!("{max_rss:.0} (Σ{sum_rss:.0})")
            } else {
                format!("{max_rss:.0}")
            },
            f.store_bytes
                .map_or("-".into(), |b| format!("{:.1}", b as f64 / 1e6)),
            load.0,
            format!("{} (≤{BUDGET})", load.1),
            load.2,
            f.reused_rows
        );
    }
    runtime.block_on(world.stop());
}

/// One `mxtls serve` on SQLite, the list as one batch.
fn single(world: &World, portfolio: &Portfolio, s: &Settings, logs: &Path) -> Figures {
    let db = world.dir.join("single.sqlite");
    let db_arg = db.display().to_string();
    let log = logs.join("single.log");
    let max_checks = s.max_checks.to_string();
    let (server, addr) = serve(
        world,
        &db_arg,
        &log,
        s.posture,
        &["--max-checks", &max_checks],
    );
    healthy(addr, &log);
    let pids = vec![("serve".to_owned(), server.0.id())];
    let mut f = run_batch("sqlite", addr, &[addr], portfolio, s, &pids, world);
    f.store_bytes = Some(
        ["", "-wal", "-shm"]
            .iter()
            .filter_map(|x| std::fs::metadata(format!("{db_arg}{x}")).ok())
            .map(|m| m.len())
            .sum(),
    );
    drop(server);
    f
}

/// Two `mxtls serve --no-probe` instances and two workers on a fresh PostgreSQL database.
fn cluster(
    world: &World,
    portfolio: &Portfolio,
    s: &Settings,
    logs: &Path,
    runtime: &tokio::runtime::Runtime,
) -> Figures {
    let pg = match mxtls_world::postgres::Cluster::start() {
        Ok(pg) => pg,
        Err(e) => {
            println!("no PostgreSQL: {e}");
            return Figures {
                run: "cluster".into(),
                ..Figures::default()
            };
        }
    };
    let db = pg.database("portfolio").expect("a database");
    let (a, a_addr) = serve(world, &db, &logs.join("a.log"), s.posture, &["--no-probe"]);
    let (b, b_addr) = serve(world, &db, &logs.join("b.log"), s.posture, &["--no-probe"]);
    healthy(a_addr, &logs.join("a.log"));
    healthy(b_addr, &logs.join("b.log"));
    let workers: Vec<Proc> = (1..=2)
        .map(|n| {
            let vantage = format!("bench-{n}");
            let jobs = s.jobs.to_string();
            let mut cmd = common::mxtls_at(
                world,
                &[
                    "worker",
                    "--db",
                    &db,
                    "--allow-private-targets",
                    "--vantage",
                    &vantage,
                    "--jobs",
                    &jobs,
                ],
            );
            if !s.posture {
                cmd.arg("--posture=false");
            }
            spawn(cmd, &logs.join(format!("worker-{n}.log")))
        })
        .collect();
    let pids = vec![
        ("serve-a".to_owned(), a.0.id()),
        ("serve-b".to_owned(), b.0.id()),
        ("worker-1".to_owned(), workers[0].0.id()),
        ("worker-2".to_owned(), workers[1].0.id()),
    ];
    let mut f = run_batch(
        "cluster",
        a_addr,
        &[a_addr, b_addr],
        portfolio,
        s,
        &pids,
        world,
    );
    f.store_bytes = runtime.block_on(async {
        let store = mxtls_server::snapshots::Store::connect(&db).await.ok()?;
        let rows = store
            .query(
                "SELECT pg_database_size(current_database()) AS n",
                Vec::new(),
            )
            .await
            .ok()?;
        rows.first()?.int("n").ok().map(|n| n as u64)
    });
    drop((a, b, workers));
    drop(pg);
    f
}

fn serve(world: &World, db: &str, log: &Path, posture: bool, extra: &[&str]) -> (Proc, SocketAddr) {
    let listen = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let token = format!("bench={TOKEN}");
    let mut cmd = common::mxtls_at(
        world,
        &[
            "serve",
            "--db",
            db,
            "--allow-private-targets",
            "--batch-token",
            &token,
        ],
    );
    cmd.arg("--listen")
        .arg(listen.to_string())
        .arg("--web-dir")
        .arg(world.dir.join("no-web-app"))
        .args(extra);
    if !posture {
        cmd.arg("--posture=false");
    }
    (spawn(cmd, log), listen)
}

/// POSTs the list to `addr` as one batch and follows it until done or the deadline.
fn run_batch(
    run: &str,
    addr: SocketAddr,
    instances: &[SocketAddr],
    portfolio: &Portfolio,
    s: &Settings,
    pids: &[(String, u32)],
    world: &World,
) -> Figures {
    let mut f = Figures {
        run: run.into(),
        total: portfolio.domains.len(),
        ..Figures::default()
    };
    let load_before = loadavg();
    let cpu_before = cpu(pids);
    let started = Instant::now();
    let body = serde_json::json!({"name": "portfolio", "domains": portfolio.domains}).to_string();
    let (status, made) = http(addr, "POST", "/api/batches", &body).expect("POST /api/batches");
    assert_eq!(status, 201, "{made}");
    let made: serde_json::Value = serde_json::from_str(&made).expect("JSON");
    let id = made["id"].as_str().expect("an id").to_owned();
    println!(
        "batch {id} of {} made in {:.1} s",
        made["total"],
        started.elapsed().as_secs_f64()
    );
    let mut peak: BTreeMap<String, u64> = BTreeMap::new();
    let mut said = Instant::now();
    let progress = loop {
        for (name, pid) in pids {
            let kb = vm_hwm(*pid);
            let e = peak.entry(name.clone()).or_default();
            *e = (*e).max(kb);
        }
        let p = http(addr, "GET", &format!("/api/batches/{id}"), "")
            .ok()
            .and_then(|(_, b)| serde_json::from_str::<serde_json::Value>(&b).ok())
            .unwrap_or_default();
        let done = p["done"].as_u64().unwrap_or(0) as usize;
        if done > 0 && p["done"] == p["total"] {
            break p;
        }
        if said.elapsed() > Duration::from_secs(30) {
            said = Instant::now();
            println!(
                "  {done} of {} after {:.0} s ({:.0}/min); load {}",
                f.total,
                started.elapsed().as_secs_f64(),
                done as f64 / started.elapsed().as_secs_f64() * 60.0,
                loadavg()
            );
        }
        if started.elapsed() > s.deadline {
            println!(
                "  did not finish within {} min: {done} of {} done",
                s.deadline.as_secs() / 60,
                f.total
            );
            break p;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    f.took = started.elapsed();
    f.done = progress["done"].as_u64().unwrap_or(0) as usize;
    f.cpu = diff(&cpu(pids), &cpu_before);
    f.loadavg = (load_before, loadavg());
    f.rss = peak.into_iter().collect();
    for c in progress["counts"].as_array().into_iter().flatten() {
        if let (Some(state), Some(n)) = (c[0].as_str(), c[1].as_u64()) {
            f.counts.insert(state.into(), n as usize);
        }
    }
    if let Ok((200, csv)) = http(
        addr,
        "GET",
        &format!("/api/batches/{id}/results?format=csv"),
        "",
    ) {
        f.reused_rows = csv.lines().skip(1).filter(|l| !l.ends_with(',')).count();
        f.odd = odd_rows(&csv);
    }
    f.load = world.sessions.load(WINDOW, started);
    let (mut sum, mut count) = (0.0, 0.0);
    for instance in instances {
        if let Ok((200, text)) = http(*instance, "GET", "/metrics", "") {
            sum += metric(&text, "mxtls_check_duration_seconds_sum");
            count += metric(&text, "mxtls_check_duration_seconds_count");
        }
    }
    f.checks = (count > 0.0).then(|| (sum / count, count));
    f
}

/// `mxtls batch FILE --csv` on the same list.
fn cli(world: &World, portfolio: &Portfolio, s: &Settings, list: &Path) -> Figures {
    let mut f = Figures {
        run: "cli".into(),
        total: portfolio.domains.len(),
        ..Figures::default()
    };
    let load_before = loadavg();
    let started = Instant::now();
    let mut child = common::mxtls_at(world, &["batch"])
        .arg(list)
        .args(["--csv", "--allow-private-targets", "--parallel"])
        .arg(s.parallel.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("mxtls batch starts");
    let pid = child.id();
    let pids = vec![("batch".to_owned(), pid)];
    let cpu_before = cpu(&pids);
    let out = child.stdout.take().map(|mut o| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = o.read_to_string(&mut text);
            text
        })
    });
    let mut peak = 0;
    let mut cpu_after = BTreeMap::new();
    while child.try_wait().ok().flatten().is_none() {
        if started.elapsed() > s.deadline {
            println!("  did not finish within {} min", s.deadline.as_secs() / 60);
            let _ = child.kill();
            break;
        }
        peak = peak.max(vm_hwm(pid));
        cpu_after = cpu(&pids);
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = child.wait();
    f.took = started.elapsed();
    f.cpu = diff(&cpu_after, &cpu_before);
    f.loadavg = (load_before, loadavg());
    f.rss = vec![("batch".into(), peak)];
    let csv = out.and_then(|t| t.join().ok()).unwrap_or_default();
    f.odd = odd_rows(&csv);
    for line in csv.lines().skip(1) {
        let state = line.split(',').nth(1).unwrap_or("?");
        *f.counts.entry(state.into()).or_default() += 1;
        f.done += 1;
        f.reused_rows += usize::from(!line.ends_with(','));
    }
    f.load = world.sessions.load(WINDOW, started);
    f
}

/// `mxtls check` one domain after another on a sample spread over the list, extrapolated.
fn baseline(world: &World, portfolio: &Portfolio, s: &Settings) -> Figures {
    let total = portfolio.domains.len();
    let n = s.baseline.clamp(1, total);
    // Shifted by one more at each step, so that the sample does not follow the list's period.
    let sample: Vec<&String> = (0..n)
        .map(|i| &portfolio.domains[(i * (total / n) + i) % total])
        .collect();
    let load_before = loadavg();
    let started = Instant::now();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for d in &sample {
        let out = output_within(
            &mut common::mxtls_at(world, &["check", d, "--json", "--allow-private-targets"]),
            Duration::from_secs(120),
        );
        let state = out
            .ok()
            .and_then(|o| serde_json::from_slice::<serde_json::Value>(&o.stdout).ok())
            .and_then(|v| v["summary"]["status"]["state"].as_str().map(str::to_owned))
            .unwrap_or_else(|| "error".into());
        *counts.entry(state).or_default() += 1;
    }
    let took = started.elapsed();
    let each = took.as_secs_f64() / n as f64;
    println!(
        "{n} domains one at a time in {:.1} s: {each:.2} s each; {total} domains would take \
         {:.1} min",
        took.as_secs_f64(),
        each * total as f64 / 60.0
    );
    Figures {
        run: "baseline".into(),
        total,
        done: n,
        took,
        counts,
        load: world.sessions.load(WINDOW, started),
        loadavg: (load_before, loadavg()),
        ..Figures::default()
    }
}

fn print_figures(f: &Figures, portfolio: &Portfolio) {
    let (max_rss, sum_rss) = rss_max_sum(f);
    println!(
        "{}: {} of {} domains in {:.1} s = {:.0} domains/min; load average {} → {}",
        f.run,
        f.done,
        f.total,
        f.took.as_secs_f64(),
        f.per_minute(),
        f.loadavg.0,
        f.loadavg.1
    );
    if !f.rss.is_empty() {
        let each: Vec<String> = f
            .rss
            .iter()
            .map(|(n, kb)| format!("{n} {:.1}", *kb as f64 / 1024.0))
            .collect();
        println!(
            "peak RSS (MB): {}; max {max_rss:.1}, sum {sum_rss:.1}",
            each.join(", ")
        );
    }
    if let Some(b) = f.store_bytes {
        println!("store: {:.1} MB", b as f64 / 1e6);
    }
    let counts: Vec<String> = f.counts.iter().map(|(s, n)| format!("{s} {n}")).collect();
    println!(
        "rows by state: {}; rows that reused sessions: {}",
        counts.join(", "),
        f.reused_rows
    );
    for row in &f.odd {
        println!("  e.g. {row}");
    }
    if let Some((mean, n)) = f.checks {
        println!("checks the instances ran (/metrics): {n:.0}, {mean:.2} s each on average");
    }
    let shared: Vec<&AddressLoad> = f
        .load
        .iter()
        .filter(|l| portfolio.shared.contains(&l.ip))
        .collect();
    let own: usize = f
        .load
        .iter()
        .filter(|l| portfolio.own.contains(&l.ip))
        .map(|l| l.sessions)
        .sum();
    let (sessions, most, at_once, at) = worst(&f.load);
    let overlap = f
        .load
        .iter()
        .map(|l| l.longest_overlap)
        .max()
        .unwrap_or_default();
    println!(
        "SMTP sessions: {sessions} at {} addresses ({} at the {} shared ones, {own} at own \
         ones); the most any address saw in a {} s window: {most}{} (budget {BUDGET}); the \
         most at once: {at_once} (the longest overlap {:.0} ms)",
        f.load.len(),
        shared.iter().map(|l| l.sessions).sum::<usize>(),
        portfolio.shared.len(),
        WINDOW.as_secs(),
        at.map_or(String::new(), |ip| format!(" at {ip}")),
        overlap.as_secs_f64() * 1000.0,
    );
    let over = f.load.iter().filter(|l| l.most_in_window > BUDGET).count();
    if over > 0 {
        println!("ADDRESSES OVER THE BUDGET: {over}");
    }
    if !f.cpu.is_empty() {
        let cpu: Vec<String> = f.cpu.iter().map(|(n, s)| format!("{n} {s:.0}")).collect();
        println!(
            "CPU seconds (wall {:.0} s × 2 cores = {:.0}): {}",
            f.took.as_secs_f64(),
            2.0 * f.took.as_secs_f64(),
            cpu.join(", ")
        );
    }
}

/// The first three rows of a results CSV in a state the portfolio's servers should not give.
fn odd_rows(csv: &str) -> Vec<String> {
    csv.lines()
        .skip(1)
        .filter(|l| !matches!(l.split(',').nth(1), Some("protected" | "strippable")))
        .take(3)
        .map(str::to_owned)
        .collect()
}

/// (sessions, the most in a window, the most at once, the address with the most in a window).
fn worst(load: &[AddressLoad]) -> (usize, usize, usize, Option<IpAddr>) {
    let busiest = load.iter().max_by_key(|l| l.most_in_window);
    (
        load.iter().map(|l| l.sessions).sum(),
        busiest.map_or(0, |l| l.most_in_window),
        load.iter().map(|l| l.most_at_once).max().unwrap_or(0),
        busiest.map(|l| l.ip),
    )
}

fn rss_max_sum(f: &Figures) -> (f64, f64) {
    let mb = |kb: u64| kb as f64 / 1024.0;
    (
        f.rss.iter().map(|(_, kb)| mb(*kb)).fold(0.0, f64::max),
        f.rss.iter().map(|(_, kb)| mb(*kb)).sum(),
    )
}

/// `method path` to `addr` with the operator's token (HTTP/1.0, read until the server
/// closes, 60 s at most): the status and body.
fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> Result<(u16, String), String> {
    let mut s = TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(|e| e.to_string())?;
    let head = format!(
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes())
        .and_then(|()| s.write_all(body.as_bytes()))
        .map_err(|e| format!("{method} {path}: {e}"))?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)
        .map_err(|e| format!("{method} {path}: {e}"))?;
    let text = String::from_utf8_lossy(&out);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    Ok((status, body))
}

/// The sum of a metric's samples in a Prometheus text page.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A process's peak RSS in kB (0 once it has gone).
fn vm_hwm(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// CPU seconds so far of this process's descendants (their own and their reaped
/// children's), by name — `labels` names the mxtls processes, the rest go by their command
/// (`postgres`, `unbound`, `nsd`) — and of this process itself (`bench+world`: the world's
/// SMTP servers run in it). USER_HZ is taken to be 100.
fn cpu(labels: &[(String, u32)]) -> BTreeMap<String, f64> {
    let me = std::process::id();
    let mut procs: Vec<(u32, u32, String, f64, f64)> = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = stat[open + 1..close].to_owned();
        let f: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        let num = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        let ppid = num(1) as u32;
        procs.push((pid, ppid, comm, num(11) + num(12), num(13) + num(14)));
    }
    let mut out = BTreeMap::new();
    let mut tree = vec![me];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        for (pid, ppid, comm, own, children) in &procs {
            if *ppid == parent {
                tree.push(*pid);
                let name = labels
                    .iter()
                    .find(|(_, p)| p == pid)
                    .map_or(comm.clone(), |(n, _)| n.clone());
                *out.entry(name).or_insert(0.0) += (own + children) / 100.0;
            }
        }
        i += 1;
    }
    if let Some((.., own, _)) = procs.iter().find(|p| p.0 == me) {
        out.insert("bench+world".into(), own / 100.0);
    }
    out
}

fn diff(after: &BTreeMap<String, f64>, before: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
    after
        .iter()
        .map(|(n, s)| (n.clone(), s - before.get(n).copied().unwrap_or(0.0)))
        .filter(|(_, s)| *s >= 0.5)
        .collect()
}
