//! The posture benchmark, printed (not asserted): `cargo bench -p mxtls --bench posture`.
//!
//! For every posture scenario of the test world (real Postfix instances, a post-quantum
//! rustls server, a path that drops large hellos), side by side on the same listener:
//! mxtls's posture part — the sessions it cost and the time it added to the check (the
//! median of three checks with `posture` on, less the median of three with it off) — and `sslscan --starttls-smtp`: the
//! connections the server accepted and the seconds it took. `MXTLS_BENCH_TESTSSL=1` adds
//! `testssl.sh --starttls smtp` (minutes per server). Connections are counted where the
//! servers see them: Postfix's "connect from" log lines, and the world's own session log.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use mxtls_world::process::output_within;
use mxtls_world::{Options, World};

/// Every session the world's servers have accepted so far, Postfix's included.
fn connections(world: &World, at: SocketAddr) -> usize {
    let mut n = world.sessions.at(at.ip()).len();
    if let Ok(dirs) = std::fs::read_dir(&world.dir) {
        for dir in dirs.flatten() {
            let name = dir.file_name().to_string_lossy().into_owned();
            if name == "postfix" || name.starts_with("postfix-") {
                n += postfix_connects(&dir.path().join("maillog"), at);
            }
        }
    }
    n
}

fn postfix_connects(log: &Path, at: SocketAddr) -> usize {
    // Postfix logs the client, not its own address: only this benchmark connects, one tool
    // at a time, so every "connect from" since the last count is ours — but only the
    // instance listening at `at` sees them.
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let listens = std::fs::read_to_string(log.with_file_name("etc/master.cf"))
        .unwrap_or_default()
        .contains(&format!("{}:{} inet", at.ip(), at.port()));
    if !listens {
        return 0;
    }
    text.lines()
        .filter(|l| l.contains("]: connect from "))
        .count()
}

fn probe_config(world: &World, posture: bool) -> mxtls_probe::Config {
    mxtls_probe::Config {
        resolver: Some(world.resolver),
        trust_anchor: Some(world.trust_anchor.clone()),
        allow_private_targets: true,
        smtp_port: world.smtp_port,
        https_port: world.https_port,
        extra_pkix_roots: vec![world.root_ca_der.clone()],
        timeout: Duration::from_secs(60),
        posture: mxtls_probe::PostureConfig {
            ask: posture,
            ..Default::default()
        },
        ..mxtls_probe::Config::default()
    }
}

/// Checks timed with and without the posture, per scenario.
const RUNS: usize = 3;

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs.get(xs.len() / 2).copied().unwrap_or(0.0)
}

/// Runs `cmd` and returns its seconds and the connections the server saw meanwhile.
fn tool(world: &World, at: SocketAddr, cmd: &mut std::process::Command) -> Option<(f64, usize)> {
    let before = connections(world, at);
    let started = Instant::now();
    let out = output_within(cmd, Duration::from_secs(900)).ok()?;
    let took = started.elapsed().as_secs_f64();
    // Postfix writes its log lines a moment after the connection ends.
    std::thread::sleep(Duration::from_millis(300));
    // testssl.sh 3.0 exits with a count of its findings: a run that printed its closing
    // "Done" line finished.
    let finished = out.status.success() || String::from_utf8_lossy(&out.stdout).contains("Done ");
    finished.then(|| (took, connections(world, at) - before))
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let world = runtime
        .block_on(World::start(Options {
            net: 106,
            smtp_port: 2606,
            postfix: true,
            ..Options::default()
        }))
        .expect("world");
    let testssl = std::env::var("MXTLS_BENCH_TESTSSL").is_ok_and(|v| v == "1");
    println!(
        "{:<22} {:>8} {:>9} {:>13} | {:>8} {:>9} | {:>8} {:>9} | posture",
        "scenario",
        "mxtls",
        "posture s",
        "check s ±pos",
        "sslscan",
        "seconds",
        "testssl",
        "seconds"
    );
    for s in world
        .scenarios
        .iter()
        .filter(|s| s.scenario.posture.is_some())
    {
        let Some(ip) = s.hosts.first().and_then(|(_, a)| a.first()).copied() else {
            continue;
        };
        let at = SocketAddr::new(ip, world.smtp_port);
        let domain = mxtls_core::names::parse_user_domain(&s.domain).expect("a domain");
        // The same check without and with the posture: the difference is its cost.
        let timed = |posture: bool| {
            let config = probe_config(&world, posture);
            let started = Instant::now();
            let evidence = runtime
                .block_on(mxtls_probe::check(&domain, &config, None))
                .expect("a check");
            (started.elapsed().as_secs_f64(), evidence)
        };
        // Medians of three each: one check's seconds move with the machine.
        let plain = median((0..RUNS).map(|_| timed(false).0).collect());
        let before = connections(&world, at);
        let (first, evidence) = timed(true);
        std::thread::sleep(Duration::from_millis(300));
        let seen = connections(&world, at) - before;
        let posture_s = |e: &mxtls_core::evidence::Evidence| {
            e.hosts[0].addresses[0]
                .posture
                .as_ref()
                .and_then(|p| p.elapsed_ms)
                .unwrap_or(0) as f64
                / 1000.0
        };
        let mut withs = vec![first];
        let mut parts = vec![posture_s(&evidence)];
        for _ in 1..RUNS {
            let (t, e) = timed(true);
            withs.push(t);
            parts.push(posture_s(&e));
        }
        let with = median(withs);
        let part = median(parts);
        let address = &evidence.hosts[0].addresses[0];
        let posture = address.posture.as_ref();
        let sessions = posture.map_or(0, |p| p.sessions.len());
        let judged = posture.map(|p| {
            mxtls_core::posture::judge(p, address.sessions.first().and_then(|m| m.tls.as_ref()))
        });
        let sslscan = tool(
            &world,
            at,
            std::process::Command::new("sslscan")
                .args(["--starttls-smtp", "--no-colour"])
                .arg(at.to_string()),
        );
        let testssl = testssl
            .then(|| {
                tool(
                    &world,
                    at,
                    std::process::Command::new("testssl")
                        .args(["--quiet", "--color", "0", "--starttls", "smtp"])
                        .arg(at.to_string()),
                )
            })
            .flatten();
        let cell = |r: Option<(f64, usize)>| {
            r.map_or(("-".to_owned(), "-".to_owned()), |(t, n)| {
                (n.to_string(), format!("{t:.2}"))
            })
        };
        let (ss_n, ss_t) = cell(sslscan);
        let (ts_n, ts_t) = cell(testssl);
        println!(
            "{:<22} {:>8} {:>9.3} {:>13} | {:>8} {:>9} | {:>8} {:>9} | {}",
            s.scenario.name,
            format!("{sessions} ({seen})"),
            part,
            format!("{with:.2}/{plain:.2}"),
            ss_n,
            ss_t,
            ts_n,
            ts_t,
            judged.map_or("-".to_owned(), |p| format!(
                "{} weak {} order {:?} pq {:?}{}",
                p.versions
                    .iter()
                    .map(|v| v.short_name())
                    .collect::<Vec<_>>()
                    .join(","),
                p.weak_suites.len(),
                p.server_order,
                p.post_quantum,
                if p.drops_large_hello {
                    " drops-large-hello"
                } else {
                    ""
                }
            ))
        );
    }
    println!(
        "\nmxtls: posture sessions (connections the server saw during the check with posture, \
         all sessions included), the posture part's seconds (its evidence's elapsed_ms, \
         median of 3) and the whole check's with/without posture (medians of 3); \
         sslscan/testssl: connections and seconds for their whole run"
    );
    runtime.block_on(world.stop());
}
