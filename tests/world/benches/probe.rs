//! The probe's benchmarks, printed (not asserted): `cargo bench -p mxtls-world --bench probe`.
//!
//! * critical path: `critical-path.test` has 4 MX hosts × 2 addresses whose greetings wait
//!   1.0–2.0 s. Prints the whole check's time ÷ the slowest single address session measured
//!   alone (target ≤ 1.10: addresses are checked concurrently, key types too).
//! * scale: 1, 100 and 1000 concurrent SMTP+TLS sessions against one world server. Prints
//!   sessions per second and the growth of peak RSS per in-flight session (target ≤ 100 KB).
//!
//! The world runs as a child process so that its memory is not counted.

#[path = "common/child_world.rs"]
mod child_world;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use mxtls_core::evidence::KeyTypeOffer;
use mxtls_core::names::DnsName;
use mxtls_probe::smtp::{self, SessionPlan};

const NET: u8 = 59;
const PORT: u16 = 2559;

fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn plan(ip: IpAddr, sni: &str, offer: KeyTypeOffer) -> SessionPlan {
    SessionPlan {
        ip,
        port: PORT,
        sni: DnsName::parse(sni).expect("name"),
        offer,
        helo: "bench.mxtls.test".into(),
        source: Default::default(),
        deadline: Instant::now() + Duration::from_secs(60),
        deadlines: mxtls_probe::Deadlines::default(),
        on_step: None,
    }
}

fn main() {
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
        "--no-postfix",
    ])
    else {
        return;
    };
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
            ..mxtls_probe::Config::default()
        };
        let domain = DnsName::parse("critical-path.test").expect("name");

        // Warm the resolver's cache, and learn the addresses.
        let warm = mxtls_probe::check(&domain, &config, None)
            .await
            .expect("check");
        let mut slowest = Duration::ZERO;
        for host in &warm.hosts {
            for a in &host.addresses {
                let t = Instant::now();
                let s = smtp::session(&plan(a.ip, host.name.as_str(), KeyTypeOffer::Any)).await;
                assert!(s.tls.is_some(), "the session with {} completes", a.ip);
                slowest = slowest.max(t.elapsed());
            }
        }
        let mut totals = Vec::new();
        for _ in 0..3 {
            let t = Instant::now();
            let e = mxtls_probe::check(&domain, &config, None)
                .await
                .expect("check");
            totals.push(t.elapsed());
            let sessions: usize = e
                .hosts
                .iter()
                .flat_map(|h| &h.addresses)
                .map(|a| a.sessions.len())
                .sum();
            assert_eq!(sessions, 16, "8 addresses × 2 key-type sessions");
        }
        totals.sort();
        let total = totals[1];
        println!("critical path (4 MX × 2 addresses, greetings 1.0–2.0 s)");
        println!(
            "  slowest single address session: {:>7.3} s",
            slowest.as_secs_f64()
        );
        println!(
            "  whole check (median of 3):       {:>7.3} s",
            total.as_secs_f64()
        );
        println!(
            "  ratio:                           {:>7.3}   (target ≤ 1.10)",
            total.as_secs_f64() / slowest.as_secs_f64()
        );

        println!(
            "\nscale (concurrent SMTP + STARTTLS + TLS 1.3 sessions against one world server)"
        );
        println!(
            "  {:>6} {:>10} {:>12} {:>14} {:>12}",
            "n", "completed", "seconds", "sessions/s", "KB/session"
        );
        let target: IpAddr = format!("127.{NET}.1.1").parse().expect("ip");
        for n in [1usize, 100, 1000] {
            let _ = std::fs::write("/proc/self/clear_refs", "5"); // reset the peak RSS mark
            let base = status_kb("VmRSS:");
            let t = Instant::now();
            let sessions = futures_util::future::join_all((0..n).map(|_| async move {
                smtp::session(&plan(target, "mx.dane-ee.test", KeyTypeOffer::Any)).await
            }))
            .await;
            let secs = t.elapsed().as_secs_f64();
            let peak = status_kb("VmHWM:");
            let ok = sessions.iter().filter(|s| s.tls.is_some()).count();
            // Where the slowest session spent its time: a stall shows up as one long step.
            let slowest = sessions
                .iter()
                .max_by_key(|s| s.transcript.last().map(|l| l.at_ms).unwrap_or(0));
            if let Some(s) = slowest.filter(|_| n > 1) {
                let steps: Vec<String> = s
                    .timings
                    .iter()
                    .map(|t| format!("{} {} ms", mxtls_core::present::step(t.step), t.elapsed_ms))
                    .collect();
                eprintln!("    slowest of {n}: {}", steps.join(", "));
            }
            drop(sessions);
            println!(
                "  {n:>6} {ok:>10} {secs:>12.3} {:>14.1} {:>12.1}",
                n as f64 / secs,
                peak.saturating_sub(base) as f64 / n as f64
            );
        }
    });
    drop(world.stdin.take()); // the world stops when its standard input closes
    let _ = world.wait();
}
