//! `mxtls check` against the test world: for every scenario of tests/world/SCENARIOS.md, the
//! JSON report gives the whole documented outcome — every address's verdict, exactly the
//! listed finding codes (no more, no fewer), the stripping protection and the exit status.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use mxtls_world::process::output_within;
use mxtls_world::scenarios::SCENARIOS;
use mxtls_world::{Options, World};

mod common;

/// A check that has not ended by then is a hang: the test fails with the command.
const CHECK_LIMIT: Duration = Duration::from_secs(90);

fn run(cmd: &mut Command) -> Output {
    output_within(cmd, CHECK_LIMIT).unwrap_or_else(|e| panic!("{e}"))
}

/// `mxtls check DOMAIN` pointed at the world.
fn mxtls_check(world: &World, domain: &str) -> Command {
    common::mxtls_at(world, &["check", domain])
}

fn check(world: &World, domain: &str, extra: &[&str]) -> (Option<i32>, serde_json::Value, String) {
    let out = run(mxtls_check(world, domain).arg("--json").args(extra));
    let json = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (
        out.status.code(),
        json,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The text report, as a user reads it (`NO_COLOR`).
fn report_text(world: &World, domain: &str) -> String {
    let out = run(mxtls_check(world, domain)
        .arg("--allow-private-targets")
        .env("NO_COLOR", "1"));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A zone-file line with its whitespace made single spaces and the class kept.
fn normalise(line: &str) -> String {
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Every SMTP session the evidence records, as `ip offered`.
fn sessions(report: &serde_json::Value) -> Vec<String> {
    report["evidence"]["hosts"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|h| h["addresses"].as_array().into_iter().flatten())
        .flat_map(|a| {
            a["sessions"]
                .as_array()
                .into_iter()
                .flatten()
                .map(move |s| format!("{} {}", a["ip"], s["offered"]))
        })
        .collect()
}

fn verdicts(report: &serde_json::Value) -> Vec<String> {
    report["mx"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|m| {
            m["addresses"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|a| a["tls"].as_str().unwrap_or("?").to_owned())
        })
        .collect()
}

/// The report's finding codes as a set (sorted, each once), as the scenario table lists them.
fn codes(report: &serde_json::Value) -> Vec<String> {
    let mut codes: Vec<String> = report["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| f["code"].as_str().unwrap_or("?").to_owned())
        .collect();
    codes.sort();
    codes.dedup();
    codes
}

/// The longest single SMTP session of the evidence, from its own step timings.
fn slowest_session(report: &serde_json::Value) -> Duration {
    let sessions = report["evidence"]["hosts"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|h| h["addresses"].as_array().into_iter().flatten())
        .flat_map(|a| a["sessions"].as_array().into_iter().flatten());
    let ms = sessions
        .map(|s| {
            s["timings"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t["elapsed_ms"].as_u64())
                .sum::<u64>()
        })
        .max()
        .unwrap_or(0);
    Duration::from_millis(ms)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_gives_its_documented_verdicts_and_findings() {
    let world = World::start(Options {
        net: 57,
        smtp_port: 2557,
        banner_delay: Duration::from_millis(1500),
        ..Options::default()
    })
    .await
    .expect("the world starts");
    let mut problems = Vec::new();
    for s in SCENARIOS {
        let domain = s.domain();
        let started = Instant::now();
        let (status, report, stderr) =
            tokio::task::block_in_place(|| check(&world, &domain, &["--allow-private-targets"]));
        let took = started.elapsed();
        let got_verdicts = verdicts(&report);
        if got_verdicts != s.verdicts {
            problems.push(format!(
                "{domain}: verdicts {got_verdicts:?}, want {:?}",
                s.verdicts
            ));
        }
        if s.verdicts.is_empty() && !sessions(&report).is_empty() {
            problems.push(format!(
                "{domain}: nothing is judged, yet the probe connected: {:?}",
                sessions(&report)
            ));
        }
        let got_codes = codes(&report);
        if got_codes != s.codes {
            let extra: Vec<&String> = got_codes
                .iter()
                .filter(|c| !s.codes.contains(&c.as_str()))
                .collect();
            let missing: Vec<&&str> = s
                .codes
                .iter()
                .filter(|c| !got_codes.iter().any(|g| g == *c))
                .collect();
            problems.push(format!(
                "{domain}: findings differ: unexpected {extra:?}, missing {missing:?} {stderr}"
            ));
        }
        // The report the CLI printed keeps every promise (ARCHITECTURE.md, "The report's
        // promises"): the same check the core's property tests run on generated evidence.
        match serde_json::from_value::<mxtls_core::Report>(report.clone()) {
            Ok(r) => {
                for b in mxtls_core::promises::check(&r) {
                    problems.push(format!(
                        "{domain}: broken promise {:?}: {}",
                        b.promise, b.detail
                    ));
                }
            }
            Err(e) => problems.push(format!("{domain}: the JSON is not a report: {e}")),
        }
        if report["downgrade_protection"].as_str() != Some(s.protection) {
            problems.push(format!(
                "{domain}: downgrade_protection {}, want {}",
                report["downgrade_protection"], s.protection
            ));
        }
        if status != Some(s.exit) {
            problems.push(format!("{domain}: exit {status:?}, want {}", s.exit));
        }
        // The DS the fix tells the owner of bad-ds.test to publish is the one ldns computed
        // for the zone's real key (an independent oracle), not the stale one in test.
        if s.name == "bad-ds" {
            let fix: Vec<String> = report["findings"][0]["fix"]["records"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| r.as_str().map(normalise))
                .collect();
            let zones = world.dir.join("zones");
            let ldns: Vec<String> = std::fs::read_dir(&zones)
                .into_iter()
                .flatten()
                .flatten()
                .filter(|e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    n.starts_with("Kbad-ds.test.+") && n.ends_with(".ds")
                })
                .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                .map(|t| normalise(&t))
                .collect();
            let parent = std::fs::read_to_string(zones.join("test_zone")).unwrap_or_default();
            let parent = normalise(&parent);
            if fix.len() != 1 || !ldns.contains(&fix[0]) || parent.contains(&fix[0]) {
                problems.push(format!(
                    "{domain}: the DS fix {fix:?} is not ldns's DS of the zone's key ({ldns:?})"
                ));
            }
        }
        // One server under two MX names is probed once: mx2's entry carries mx1's sessions
        // and says so.
        if s.name == "shared-address" {
            let hosts = &report["evidence"]["hosts"];
            let (one, two) = (&hosts[0]["addresses"][0], &hosts[1]["addresses"][0]);
            if one["ip"] != two["ip"]
                || two["probed_for"] != "mx1.shared-address.test"
                || !one["probed_for"].is_null()
                || one["sessions"] != two["sessions"]
            {
                problems.push(format!(
                    "{domain}: the shared address was not probed once for both names: {one} / {two}"
                ));
            }
        }
        // An enforced policy that misses the MX host: MTA-STS senders defer, others deliver.
        if s.name == "sts-mx-not-listed" {
            let row = report["senders"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|r| r["sender"] == "mta-sts")
                .cloned()
                .unwrap_or_default();
            if row["delivery"] != "deferred" || row["stripping_succeeds"] != false {
                problems.push(format!("{domain}: MTA-STS sender row {row}"));
            }
        }
        // Sessions run concurrently: eight addresses whose greetings take 1-2 s each are
        // checked in about the time of the slowest one, not of their sum (about 6x).
        if s.name == "critical-path" {
            let slowest = slowest_session(&report);
            let ratio = took.as_secs_f64() / slowest.as_secs_f64().max(0.001);
            if !(slowest >= Duration::from_millis(1900) && ratio < 1.8) {
                problems.push(format!(
                    "{domain}: the check took {took:?}, its slowest session {slowest:?} (ratio {ratio:.2}): sessions are not concurrent"
                ));
            }
        }
        if !s.says.is_empty() {
            let text = tokio::task::block_in_place(|| report_text(&world, &domain));
            for phrase in s.says {
                if !text.contains(phrase) {
                    problems.push(format!(
                        "{domain}: the text report lacks \"{phrase}\":\n{text}"
                    ));
                }
            }
        }
        if report["domain"] != domain.as_str()
            || report["evidence"]["schema"] != mxtls_core::SCHEMA_VERSION
        {
            problems.push(format!("{domain}: JSON lacks domain or evidence"));
        }
    }

    // Without --allow-private-targets the probe refuses the world's loopback addresses: the
    // servers could not be tested (exit 3), and the report says so instead of a verdict.
    let (status, report, _) =
        tokio::task::block_in_place(|| check(&world, "private-target.test", &[]));
    if status != Some(3) || report["summary"]["status"]["state"] != "not-tested" {
        problems.push(format!(
            "private-target without the test flag: exit {status:?}, status {}",
            report["summary"]["status"]
        ));
    }
    if verdicts(&report) != ["refused"] || !codes(&report).iter().any(|c| c == "address-refused") {
        problems.push(format!(
            "private-target without the test flag: {:?} {:?}",
            verdicts(&report),
            codes(&report)
        ));
    }
    if report["evidence"]["hosts"][0]["addresses"][0]["sessions"]
        .as_array()
        .is_some_and(|s| !s.is_empty())
    {
        problems.push("a refused address was connected to".into());
    }

    // The SHA-256 DS the ds-sha1 fix asks for is the one ldns computes from the zone's key.
    let (_, report, _) =
        tokio::task::block_in_place(|| check(&world, "ds-sha1.test", &["--allow-private-targets"]));
    let fix: Vec<String> = report["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["code"] == "ds-digest-sha1-only")
        .flat_map(|f| f["fix"]["records"].as_array().cloned().unwrap_or_default())
        .filter_map(|r| r.as_str().map(normalise))
        .collect();
    let keys = std::fs::read_dir(world.dir.join("zones"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
            name.is_some_and(|n| n.starts_with("Kds-sha1.test.") && n.ends_with(".key"))
        });
    let oracle: Vec<String> = keys
        .map(|key| {
            let out = run(Command::new("ldns-key2ds").args(["-n", "-2"]).arg(key));
            // ldns prints the TTL; the fix leaves it to the parent.
            let text = String::from_utf8_lossy(&out.stdout).replace("\t3600\t", " ");
            normalise(text.trim())
        })
        .collect();
    if fix.is_empty() || fix != oracle {
        problems.push(format!(
            "ds-sha1: the fix's DS {fix:?}, ldns-key2ds {oracle:?}"
        ));
    }

    // The name servers in the text report: a table where they disagree, one line where not.
    let text = tokio::task::block_in_place(|| report_text(&world, "ns-stale.test"));
    let line = |needles: &[&str]| text.lines().any(|l| needles.iter().all(|n| l.contains(n)));
    if !(line(&["ns-stale.test: 1 of 2 servers disagree"])
        && line(&["ns.test ", "serial 2", "agrees"])
        && line(&[
            "ns-b.test",
            "serial 1",
            "serial 1, newest 2",
            "TLSA: no such name",
        ]))
    {
        problems.push(format!("ns-stale: the name server table\n{text}"));
    }
    let text = tokio::task::block_in_place(|| report_text(&world, "dane-ee.test"));
    if !text.contains("dane-ee.test: 1 server, serial 1") || text.contains("disagree") {
        problems.push(format!("dane-ee: one name server, folded\n{text}"));
    }

    // Bad input: a clear one-line error and exit 2.
    let out = run(Command::new(env!("CARGO_BIN_EXE_mxtls")).args(["check", "not a domain!"]));
    if out.status.code() != Some(2)
        || !String::from_utf8_lossy(&out.stderr).contains("not a valid domain")
    {
        problems.push(format!(
            "bad domain: exit {:?} {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }

    let logs = world.logs();
    world.stop().await;
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}\n{logs}",
        problems.len(),
        problems.join("\n")
    );
}
