//! `mxtls batch`: every world scenario and forty tenants on one shared mail server, checked
//! as one portfolio. Each scenario's row carries exactly the finding codes the scenario table
//! pins (the same whole outcome `mxtls check` gives, tests/world.rs); the tenants share their
//! server's sessions — the world's SMTP server sees a handful of sessions, within the
//! per-address budget, not forty checks' worth — and each tenant's row says which sessions it
//! reused and how old they were; an entry that is not a domain is an `error` row in its
//! place; CSV has a header and a line per domain.

use std::collections::BTreeMap;
use std::time::Duration;

use mxtls_world::process::output_within;
use mxtls_world::scenarios::SCENARIOS;
use mxtls_world::{Options, World};

mod common;

const TENANTS: usize = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_portfolio_shares_its_mail_servers_and_keeps_every_outcome() {
    let world = World::start(Options {
        net: 115,
        smtp_port: 2615,
        https_port: 4615,
        banner_delay: Duration::from_millis(1500),
        tenants: TENANTS,
        ..Options::default()
    })
    .await
    .expect("the world starts");
    let tenants = mxtls_world::tenant_domains(TENANTS);
    let mut list = String::from("# the world's scenarios, then its tenants\n");
    for s in SCENARIOS {
        list.push_str(&format!("{}\n", s.domain()));
    }
    list.push_str("not a domain!\n");
    for t in &tenants {
        list.push_str(&format!("{t}  # a hosted domain\n"));
    }
    // Listed twice: checked once.
    list.push_str(&format!("{}\n", tenants[0]));
    let file = world.dir.join("portfolio.txt");
    std::fs::write(&file, &list).expect("write");

    let out = tokio::task::block_in_place(|| {
        output_within(
            common::mxtls_at(&world, &["batch"]).arg(&file).args([
                "--json",
                "--parallel",
                "16",
                "--allow-private-targets",
            ]),
            Duration::from_secs(600),
        )
    })
    .expect("mxtls runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    let rows: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    // One row per entry, in the file's order, the repeated tenant once.
    assert_eq!(rows.len(), SCENARIOS.len() + 1 + TENANTS, "{stderr}");
    let by_domain: BTreeMap<String, &serde_json::Value> = rows
        .iter()
        .map(|r| (r["domain"].as_str().unwrap_or("").to_owned(), r))
        .collect();
    assert_eq!(rows[SCENARIOS.len()]["domain"], "not a domain!");
    assert_eq!(rows[SCENARIOS.len()]["status"], "error");

    let mut problems = Vec::new();
    for s in SCENARIOS {
        let domain = s.domain();
        let Some(row) = by_domain.get(&domain) else {
            problems.push(format!("{domain}: no row"));
            continue;
        };
        let mut codes: Vec<String> = row["codes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c.as_str().map(str::to_owned))
            .collect();
        codes.sort();
        codes.dedup();
        if codes != s.codes {
            problems.push(format!("{domain}: codes {codes:?}, want {:?}", s.codes));
        }
        let status = row["status"].as_str().unwrap_or("");
        if !mxtls_core::batch::STATES.contains(&status) || status == "error" {
            problems.push(format!("{domain}: status {status:?}"));
        }
        if row["answer"].as_str().is_none_or(str::is_empty) {
            problems.push(format!("{domain}: no answer"));
        }
        // The causes are the errors and warnings among the codes, each once per MX host;
        // a row with a cause is never coloured good, a protected domain never bad.
        let causes = row["causes"].as_array().cloned().unwrap_or_default();
        for c in &causes {
            let code = c["code"].as_str().unwrap_or("");
            if !codes.iter().any(|k| k == code)
                || !matches!(c["severity"].as_str(), Some("error" | "warning"))
            {
                problems.push(format!("{domain}: cause {c}"));
            }
        }
        let mood = row["mood"].as_str().unwrap_or("");
        let errors = causes.iter().any(|c| c["severity"] == "error");
        if (errors && mood != "bad")
            || (!causes.is_empty() && mood == "good")
            || (status == "protected" && mood == "bad" && !errors)
            || !["good", "warn", "bad", "unknown", "info"].contains(&mood)
        {
            problems.push(format!("{domain}: mood {mood:?} with causes {causes:?}"));
        }
    }
    assert!(problems.is_empty(), "{}\n{stderr}", problems.join("\n"));

    // The tenants: one state, and most of them on sessions another tenant's check opened.
    let states: Vec<&str> = tenants
        .iter()
        .map(|t| by_domain[t]["status"].as_str().unwrap_or(""))
        .collect();
    assert!(states.iter().all(|s| *s == states[0]), "{states:?}");
    let reused = tenants
        .iter()
        .filter(|t| {
            by_domain[*t]["reused"]
                .as_array()
                .is_some_and(|r| !r.is_empty() && r.iter().all(|x| x["age_s"].as_i64().is_some()))
        })
        .count();
    assert!(
        reused >= TENANTS / 2,
        "only {reused} of {TENANTS} tenants reused sessions"
    );
    // What the shared server saw: a few sessions, not forty checks' worth (each check opens
    // two or three), and never more than the budget allows in the run's minutes.
    let shared = world
        .first_address("dane-ee.test")
        .expect("the tenants' server");
    let at_shared = world.sessions.at(shared).len();
    let minutes = stderr
        .lines()
        .find_map(|l| l.split(" domains in ").nth(1))
        .and_then(|l| l.split(' ').next())
        .and_then(|m| m.parse::<f64>().ok())
        .expect("the summary line");
    assert!(
        at_shared as f64 <= 6.0 * (minutes.ceil() + 1.0),
        "{at_shared} sessions at {shared} in {minutes} min"
    );
    assert!(
        at_shared < TENANTS,
        "{at_shared} sessions for {TENANTS} tenants"
    );
    assert!(at_shared > 0, "the shared server was tested at all");

    // CSV: a header and a line per entry.
    let csv = tokio::task::block_in_place(|| {
        output_within(
            common::mxtls_at(&world, &["batch"]).arg(&file).args([
                "--csv",
                "--parallel",
                "16",
                "--allow-private-targets",
            ]),
            Duration::from_secs(600),
        )
    })
    .expect("mxtls runs");
    let text = String::from_utf8_lossy(&csv.stdout);
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(mxtls_core::batch::CSV_HEADER));
    assert_eq!(lines.count(), SCENARIOS.len() + 1 + TENANTS);
    world.stop().await;
}
