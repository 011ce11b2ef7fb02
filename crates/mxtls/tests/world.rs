//! `mxtls check` against the test world: for every scenario of tests/world/SCENARIOS.md, the
//! JSON report gives the documented per-address verdicts and finding codes.

use std::process::Command;
use std::time::Duration;

use mxtls_world::scenarios::SCENARIOS;
use mxtls_world::{Options, World};

/// `mxtls check DOMAIN` pointed at the world.
fn mxtls_check(world: &World, domain: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mxtls"));
    cmd.args(["check", domain, "--timeout", "30"])
        .arg("--resolver")
        .arg(world.resolver.to_string())
        .arg("--trust-anchor")
        .arg(&world.trust_anchor)
        .arg("--pkix-roots")
        .arg(&world.root_ca)
        .arg("--smtp-port")
        .arg(world.smtp_port.to_string())
        .arg("--https-port")
        .arg(world.https_port.to_string());
    cmd
}

fn check(world: &World, domain: &str, extra: &[&str]) -> (Option<i32>, serde_json::Value, String) {
    let out = mxtls_check(world, domain)
        .arg("--json")
        .args(extra)
        .output()
        .expect("mxtls runs");
    let json = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (
        out.status.code(),
        json,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The text report, as a user reads it (`NO_COLOR`).
fn report_text(world: &World, domain: &str) -> String {
    let out = mxtls_check(world, domain)
        .arg("--allow-private-targets")
        .env("NO_COLOR", "1")
        .output()
        .expect("mxtls runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
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

fn codes(report: &serde_json::Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| f["code"].as_str().unwrap_or("?").to_owned())
        .collect()
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
        let (status, report, stderr) =
            tokio::task::block_in_place(|| check(&world, &domain, &["--allow-private-targets"]));
        let got_verdicts = verdicts(&report);
        let got_codes = codes(&report);
        let want: Vec<String> = s.verdicts.iter().map(|v| v.to_string()).collect();
        if !s.verdicts.is_empty() && got_verdicts != want {
            problems.push(format!(
                "{domain}: verdicts {got_verdicts:?}, want {want:?}"
            ));
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
        if let Some(want) = s.protection
            && report["downgrade_protection"].as_str() != Some(want)
        {
            problems.push(format!(
                "{domain}: downgrade_protection {}, want {want}",
                report["downgrade_protection"]
            ));
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
        for code in s.codes {
            if !got_codes.iter().any(|c| c == code) {
                problems.push(format!("{domain}: no {code} in {got_codes:?} {stderr}"));
            }
        }
        let errors = report["findings"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|f| f["severity"] == "error");
        if status != Some(if errors { 1 } else { 0 }) {
            problems.push(format!("{domain}: exit {status:?} with errors={errors}"));
        }
        if report["domain"] != domain.as_str() || report["evidence"]["schema"] != 1 {
            problems.push(format!("{domain}: JSON lacks domain or evidence"));
        }
    }

    // Without --allow-private-targets the probe refuses the world's loopback addresses.
    let (_, report, _) = tokio::task::block_in_place(|| check(&world, "private-target.test", &[]));
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

    // Bad input: a clear one-line error and exit 2.
    let out = Command::new(env!("CARGO_BIN_EXE_mxtls"))
        .args(["check", "not a domain!"])
        .output()
        .expect("mxtls");
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
