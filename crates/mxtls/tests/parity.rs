//! One check, three ways. `mxtls check`, the in-process hub of `mxtls serve`, and a cluster
//! (`mxtls serve --no-probe` and an `mxtls worker` on PostgreSQL) run the same probe and must
//! gather the same evidence for every world scenario: the same lookups with the same
//! outcomes and DNSSEC states (the chain of trust included), the same policy fetch and the
//! same SMTP sessions. Only what measures the moment differs: timings, TTLs counted down in
//! the resolver's cache, DNS message ids in the wire form, the probe's own start and end.

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use mxtls_world::process::output_within;
use mxtls_world::scenarios::{SCENARIOS, Scenario, Signing};
use mxtls_world::{Options, World};
use serde_json::Value;

mod common;
use common::{Proc, free_port, healthy, spawn};

/// Fields that measure the moment rather than what was seen.
const VOLATILE: &[&str] = &[
    "elapsed_ms",
    "timings",
    "at_ms",
    "wire",
    "ttl",
    "probe",
    "gathered_at",
];

/// Scenarios checked at once (each path runs its three checks one after another).
const AT_ONCE: usize = 6;

/// `value` without the volatile fields, at any depth, and with the records of each RRset in
/// one order (an RRset is a set: resolvers hand it out in any order).
fn steady(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !VOLATILE.contains(&k.as_str()))
                .map(|(k, v)| {
                    let mut v = steady(v);
                    if let (true, Value::Array(records)) = (k == "records", &mut v) {
                        records.sort_by_key(|r| r.to_string());
                    }
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(steady).collect()),
        other => other.clone(),
    }
}

/// Where `a` and `b` differ, as JSON paths with both values (at most `max`).
fn differences(path: &str, a: &Value, b: &Value, out: &mut Vec<String>, max: usize) {
    if out.len() >= max || a == b {
        return;
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let (va, vb) = (
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                );
                differences(&format!("{path}.{k}"), va, vb, out, max);
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                differences(&format!("{path}[{i}]"), va, vb, out, max);
            }
        }
        _ => {
            let short = |v: &Value| {
                let s = v.to_string();
                match s.char_indices().nth(300) {
                    Some((cut, _)) => format!("{}…", &s[..cut]),
                    None => s,
                }
            };
            out.push(format!("{path}: {} ≠ {}", short(a), short(b)));
        }
    }
}

/// The lookups of the DNSSEC chain whose question got no usable answer.
fn chain_failures(evidence: &Value) -> Vec<String> {
    evidence["dnssec_chain"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| matches!(a["outcome"]["kind"].as_str(), Some("timeout" | "error")))
        .map(|a| format!("{} {}: {}", a["qtype"], a["qname"], a["outcome"]))
        .collect()
}

/// The evidence of `mxtls check --json`.
fn by_cli(world: &World, domain: &str) -> Result<Value, String> {
    let mut cmd = common::mxtls_at(
        world,
        &["check", domain, "--json", "--allow-private-targets"],
    );
    let out = output_within(&mut cmd, Duration::from_secs(120)).map_err(|e| e.to_string())?;
    let json: Value = serde_json::from_slice(&out.stdout).map_err(|e| {
        format!(
            "not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )
    })?;
    Ok(json["evidence"].clone())
}

/// The evidence a check stream from `addr` ends with; `client` is the forwarded client
/// address (the server trusts loopback as a proxy), so each scenario has its own quota.
fn by_server(addr: SocketAddr, domain: &str, client: &str) -> Result<Value, String> {
    let stream = common::get_within(
        addr,
        &format!("/api/check/{domain}"),
        &format!("X-Forwarded-For: {client}\r\n"),
        Duration::from_secs(180),
    )?;
    let evidence = common::stream_events(&stream)?.evidence;
    Ok(evidence["evidence"].clone())
}

/// `mxtls serve` on a free loopback port with the world's flags.
fn serve(world: &World, args: &[&str], log: &std::path::Path) -> (Proc, SocketAddr) {
    let listen = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let mut all = vec!["serve", "--posture=false"];
    all.extend_from_slice(args);
    let mut cmd = common::mxtls_at(world, &all);
    cmd.args(["--allow-private-targets", "--target-reuse", "0"])
        .args(["--trusted-proxy", "127.0.0.0/8"])
        .arg("--listen")
        .arg(listen.to_string())
        .arg("--web-dir")
        .arg(world.dir.join("no-web-app"));
    let proc = spawn(cmd, log);
    healthy(listen, log);
    (proc, listen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_the_hub_and_a_cluster_worker_gather_the_same_evidence() {
    let world = World::start(Options {
        net: 87,
        smtp_port: 2587,
        banner_delay: Duration::from_millis(1500),
        ..Options::default()
    })
    .await
    .expect("the world starts");
    let pg = mxtls_world::postgres::Cluster::start().unwrap_or_else(|e| panic!("{e}"));
    let db = pg.database("parity").expect("database");
    let logs = world.dir.join("parity-logs");
    std::fs::create_dir_all(&logs).expect("logs");
    let sqlite = world.dir.join("hub.sqlite");
    let sqlite = sqlite.to_string_lossy().into_owned();
    let (_hub, hub) = serve(&world, &["--db", &sqlite], &logs.join("hub.log"));
    let (_front, front) = serve(
        &world,
        &["--db", &db, "--no-probe"],
        &logs.join("front.log"),
    );
    let _worker = spawn(
        {
            let mut cmd: Command = common::mxtls_at(
                &world,
                &[
                    "worker",
                    "--posture=false",
                    "--db",
                    &db,
                    "--target-reuse",
                    "0",
                    "--allow-private-targets",
                ],
            );
            cmd.args(["--jobs", &AT_ONCE.to_string()]);
            cmd
        },
        &logs.join("worker.log"),
    );

    // MXTLS_PARITY_ONLY=a,b narrows the run to those scenarios, to look into one.
    let only = std::env::var("MXTLS_PARITY_ONLY").unwrap_or_default();
    let scenarios: Vec<&Scenario> = SCENARIOS
        .iter()
        .filter(|s| only.is_empty() || only.split(',').any(|o| o == s.name))
        .collect();
    let world = &world;
    let mut problems = Vec::new();
    let mut compared = 0;
    let mut backed_off = 0;
    tokio::task::block_in_place(|| {
        for (chunk_no, chunk) in scenarios.chunks(AT_ONCE).enumerate() {
            let results: Vec<(String, Result<[Value; 3], String>)> = std::thread::scope(|s| {
                let handles: Vec<_> = chunk
                    .iter()
                    .enumerate()
                    .map(|(i, scenario)| {
                        let domain = scenario.domain();
                        let client = format!("192.0.2.{}", chunk_no * AT_ONCE + i + 1);
                        s.spawn(move || {
                            let got = (|| {
                                let cli =
                                    by_cli(world, &domain).map_err(|e| format!("cli: {e}"))?;
                                let hub = by_server(hub, &domain, &client)
                                    .map_err(|e| format!("hub: {e}"))?;
                                let cluster = by_server(front, &domain, &client)
                                    .map_err(|e| format!("cluster: {e}"))?;
                                Ok([cli, hub, cluster])
                            })();
                            (domain, got)
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("a scenario thread"))
                    .collect()
            });
            for (domain, got) in results {
                let [cli, hub, cluster] = match got {
                    Ok(all) => all,
                    Err(e) => {
                        problems.push(format!("{domain}: {e}"));
                        continue;
                    }
                };
                compared += 1;
                for (path, evidence) in [("cli", &cli), ("hub", &hub), ("cluster", &cluster)] {
                    let failed = chain_failures(evidence);
                    if !failed.is_empty() {
                        problems.push(format!(
                            "{domain}: the {path}'s DNSSEC chain has lookups that got no answer: {failed:?}"
                        ));
                    }
                }
                let reference = steady(&cli);
                for (path, evidence) in [("hub", &hub), ("cluster", &cluster)] {
                    let mut evidence = evidence.clone();
                    backed_off += polite_as_cli(&mut evidence, &cli);
                    let mut diff = Vec::new();
                    differences("evidence", &reference, &steady(&evidence), &mut diff, 8);
                    if !diff.is_empty() {
                        problems.push(format!(
                            "{domain}: the {path} gathered other evidence than `mxtls check` (cli ≠ {path}):\n    {}",
                            diff.join("\n    ")
                        ));
                    }
                }
                // Signed zones have a chain of trust to fetch: an empty one is a silent gap.
                if cli["dnssec_chain"].as_array().is_none_or(Vec::is_empty)
                    && SCENARIOS
                        .iter()
                        .any(|s| s.domain() == domain && matches!(s.signing, Signing::Signed))
                {
                    problems.push(format!("{domain}: signed, yet no DNSSEC chain was fetched"));
                }
            }
        }
    });
    assert_eq!(
        compared,
        scenarios.len(),
        "every scenario compared: {problems:#?}"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    eprintln!(
        "{compared} scenarios, the same evidence on three paths; {backed_off} session(s) left out by the servers' back-off after a refusal"
    );
}

/// The one difference the paths have on purpose: `mxtls serve` and a worker are polite
/// (`TargetBudget`): after an address refused a session (connection refused, `421`), they
/// leave it alone for a while, so a session the CLI opened is, there, stopped before it
/// connects with the back-off as its reason. Such a session is taken as the CLI's, where the
/// CLI's sessions with that address show the refusal; how many were is returned.
fn polite_as_cli(evidence: &mut Value, cli: &Value) -> usize {
    let mut taken = 0;
    let address = |e: &Value, h: usize, a: usize| e["hosts"][h]["addresses"][a].clone();
    let hosts = evidence["hosts"].as_array().map_or(0, Vec::len);
    for h in 0..hosts {
        let addresses = evidence["hosts"][h]["addresses"]
            .as_array()
            .map_or(0, Vec::len);
        for a in 0..addresses {
            let theirs = address(cli, h, a);
            let refused = theirs["sessions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|s| {
                    matches!(
                        s["stopped"]["error"]["kind"].as_str(),
                        Some("connect-refused" | "rejected")
                    )
                });
            if !refused {
                continue;
            }
            let sessions = evidence["hosts"][h]["addresses"][a]["sessions"]
                .as_array_mut()
                .map(std::mem::take)
                .unwrap_or_default();
            let sessions: Vec<Value> = sessions
                .into_iter()
                .enumerate()
                .map(|(i, s)| {
                    let backed_off = s["stopped"]["step"] == "connect"
                        && s["stopped"]["error"]["message"]
                            .as_str()
                            .is_some_and(|m| m.contains("leaving it alone for a while"));
                    match theirs["sessions"].get(i) {
                        Some(cli_session) if backed_off => {
                            taken += 1;
                            cli_session.clone()
                        }
                        _ => s,
                    }
                })
                .collect();
            evidence["hosts"][h]["addresses"][a]["sessions"] = Value::Array(sessions);
        }
    }
    taken
}
