//! The probe's session against its peer, printed (not asserted):
//! `cargo bench -p mxtls-world --bench peer` (`MXTLS_BENCH_RUNS`, default 7, runs per figure).
//!
//! * one session: mxtls's SMTP + STARTTLS + TLS session (every key type offered) and Debian's
//!   `posttls-finger` against the same real Postfix, which greets after 2 s (`slow-one.test`),
//!   medians side by side, with mxtls's steps.
//! * critical path: the whole check of `slow-one.test` (one MX) and of `slow-multi.test` (3 MX,
//!   5 addresses, the slowest that Postfix) ÷ its slowest session alone, measured both ways:
//!   mxtls's own session, and posttls-finger's (the peer: what a check costs beyond the one
//!   session a sender needs). Target ≤ 1.05.
//!
//! The world runs as a child process on its own loopback block.

#[path = "common/child_world.rs"]
mod child_world;

use std::net::IpAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mxtls_core::evidence::{KeyTypeOffer, SmtpSession};
use mxtls_core::names::DnsName;
use mxtls_probe::smtp::{self, SessionPlan};

const NET: u8 = 107;
const PORT: u16 = 2607;
const HTTPS_PORT: u16 = 4607;

fn plan(ip: IpAddr, sni: &DnsName, offer: KeyTypeOffer) -> SessionPlan {
    SessionPlan {
        ip,
        port: PORT,
        sni: sni.clone(),
        offer,
        helo: "bench.mxtls.test".into(),
        source: Default::default(),
        deadline: Instant::now() + Duration::from_secs(60),
        deadlines: mxtls_probe::Deadlines::default(),
        on_step: None,
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// posttls-finger's whole session with `ip` (connect to QUIT), or why it failed; `config`
/// holds the empty main.cf it insists on (Debian's postfix is installed unconfigured). `-c`: no
/// chat logging; `-l encrypt`: TLS required, the chain not judged (nor is it by mxtls's
/// session: the core judges it later).
fn finger(ip: IpAddr, config: &std::path::Path) -> Result<Duration, String> {
    let t = Instant::now();
    let out = Command::new("posttls-finger")
        .env("MAIL_CONFIG", config)
        .args(["-c", "-l", "encrypt", &format!("[{ip}]:{PORT}")])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("posttls-finger: {e}"))?;
    let took = t.elapsed();
    let text = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    if !text.contains("TLS connection established") {
        return Err(format!("posttls-finger did not get TLS:\n{text}"));
    }
    Ok(took)
}

/// Each step's median over `runs`, and the rest of the session (QUIT, and what no step
/// counts) as "other".
fn steps(runs: &[(Duration, SmtpSession)]) -> String {
    let Some((_, first)) = runs.first() else {
        return String::new();
    };
    let mut parts: Vec<String> = first
        .timings
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let ms = median(
                runs.iter()
                    .filter_map(|(_, s)| s.timings.get(i))
                    .map(|t| Duration::from_millis(t.elapsed_ms))
                    .collect(),
            );
            format!(
                "{} {} ms",
                mxtls_core::present::step(t.step),
                ms.as_millis()
            )
        })
        .collect();
    let rest = median(
        runs.iter()
            .map(|(total, s)| {
                let counted: u64 = s.timings.iter().map(|t| t.elapsed_ms).sum();
                total.saturating_sub(Duration::from_millis(counted))
            })
            .collect(),
    );
    parts.push(format!("QUIT and the rest {} ms", rest.as_millis()));
    parts.join(", ")
}

/// When a check's first session connected and its last one ended, from its progress events.
async fn timeline(
    mut events: tokio::sync::mpsc::UnboundedReceiver<mxtls_probe::progress::Event>,
) -> (Instant, Instant) {
    use mxtls_probe::progress::Event;
    let (mut first, mut last) = (None, Instant::now());
    while let Some(event) = events.recv().await {
        match event {
            Event::Session { .. } => {
                first.get_or_insert_with(Instant::now);
            }
            Event::SessionDone { .. } => last = Instant::now(),
            _ => {}
        }
    }
    (first.unwrap_or(last), last)
}

fn main() {
    let runs: usize = std::env::var("MXTLS_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(7)
        .max(1);
    mxtls_world::raise_open_files();
    let Some(child_world::ChildWorld {
        process: mut world,
        resolver,
        anchor,
    }) = child_world::start(&[
        "--net",
        &NET.to_string(),
        "--smtp-port",
        &PORT.to_string(),
        "--https-port",
        &HTTPS_PORT.to_string(),
    ])
    else {
        return;
    };
    let finger_config = std::env::temp_dir().join(format!("mxtls-peer-{}", std::process::id()));
    std::fs::create_dir_all(&finger_config).expect("posttls-finger's directory");
    std::fs::write(finger_config.join("main.cf"), "").expect("posttls-finger's main.cf");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let config = mxtls_probe::Config {
            resolver: Some(resolver),
            trust_anchor: Some(anchor.into()),
            allow_private_targets: true,
            smtp_port: PORT,
            https_port: HTTPS_PORT,
            ..mxtls_probe::Config::default()
        };
        println!("mxtls against posttls-finger, {runs} runs each, medians");
        for name in ["slow-one.test", "slow-multi.test"] {
            let domain = DnsName::parse(name).expect("name");
            // Warms the resolver's cache, and finds the addresses.
            let warm = mxtls_probe::check(&domain, &config, None)
                .await
                .expect("check");
            let addresses: Vec<(IpAddr, DnsName)> = warm
                .hosts
                .iter()
                .flat_map(|h| h.addresses.iter().map(|a| (a.ip, h.name.clone())))
                .collect();

            // Each address alone, one after another: mxtls's session, then the peer's.
            let mut slowest = (Duration::ZERO, Duration::ZERO, None);
            for (ip, sni) in &addresses {
                let mut ours = Vec::new();
                let mut theirs = Vec::new();
                for _ in 0..runs {
                    let t = Instant::now();
                    let s = smtp::session(&plan(*ip, sni, KeyTypeOffer::Any)).await;
                    let took = t.elapsed();
                    assert!(s.tls.is_some(), "the session with {ip} completes: {s:?}");
                    ours.push((took, s));
                    match tokio::task::block_in_place(|| finger(*ip, &finger_config)) {
                        Ok(d) => theirs.push(d),
                        Err(e) => eprintln!("{e}"),
                    }
                }
                let (m_ours, m_theirs) = (
                    median(ours.iter().map(|(d, _)| *d).collect()),
                    median(theirs.clone()),
                );
                if m_ours > slowest.0 {
                    slowest = (m_ours, m_theirs, Some((*ip, steps(&ours))));
                }
            }
            let mut checks = Vec::new();
            let mut inside = Vec::new();
            let (mut before, mut after) = (Vec::new(), Vec::new());
            for _ in 0..runs {
                let (tx, events) = tokio::sync::mpsc::unbounded_channel();
                let t = Instant::now();
                let timeline = tokio::spawn(timeline(events));
                let e = mxtls_probe::check(&domain, &config, Some(tx))
                    .await
                    .expect("check");
                let took = t.elapsed();
                checks.push(took);
                if let Ok((first, last)) = timeline.await {
                    before.push(first.saturating_duration_since(t));
                    after.push((t + took).saturating_duration_since(last));
                }
                let complete = e
                    .hosts
                    .iter()
                    .flat_map(|h| &h.addresses)
                    .all(|a| a.sessions.first().is_some_and(|s| s.tls.is_some()));
                assert!(complete, "every address of {name} completes its handshake");
                // The slowest session inside the check, to set beside the one alone.
                if let Some(s) = e
                    .hosts
                    .iter()
                    .flat_map(|h| &h.addresses)
                    .flat_map(|a| a.sessions.first())
                    .max_by_key(|s| s.transcript.last().map_or(0, |l| l.at_ms))
                {
                    let at = s.transcript.last().map_or(0, |l| l.at_ms);
                    inside.push((Duration::from_millis(at), s.clone()));
                }
            }
            let check = median(checks);
            let (ours, theirs, at) = slowest;
            let (ip, alone) = at.unwrap_or((IpAddr::from([0, 0, 0, 0]), String::new()));
            let short = name.trim_end_matches(".test");
            println!("\n{short}: {} addresses, the slowest {ip}", addresses.len());
            println!("  slowest session, mxtls:          {:>7.3} s", secs(ours));
            println!("  slowest session, posttls-finger: {:>7.3} s", secs(theirs));
            println!("    mxtls's steps: {alone}");
            println!("  whole check:                     {:>7.3} s", secs(check));
            println!("    its slowest session's steps: {}", steps(&inside));
            println!(
                "    before the first connect {} ms, after the last session {} ms",
                median(before).as_millis(),
                median(after).as_millis()
            );
            println!(
                "  critical path ÷ mxtls session:   {:>7.3}",
                secs(check) / secs(ours).max(1e-3)
            );
            println!(
                "  critical path ÷ peer session:    {:>7.3}   (target ≤ 1.05)",
                secs(check) / secs(theirs).max(1e-3)
            );
        }
    });
    let _ = std::fs::remove_dir_all(&finger_config);
    drop(world.stdin.take()); // the world stops when its standard input closes
    let _ = world.wait();
}
