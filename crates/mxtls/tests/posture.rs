//! `mxtls check --posture` on every posture scenario of the test world (real Postfix
//! instances configured as Debian ships it and otherwise, a post-quantum rustls server, a path
//! that drops large hellos): the JSON's `posture` and exactly the posture findings each
//! scenario pins, with `openssl s_client -starttls smtp` as the independent oracle for the
//! versions and the weak suites wherever OpenSSL can speak to the server.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use mxtls_world::process::output_within;
use mxtls_world::scenarios::PosturePin;
use mxtls_world::{Options, World};

mod common;

/// The codes a posture may give; any other finding is the scenario's own business.
const POSTURE_CODES: &[&str] = &[
    "tls-old-versions-accepted",
    "tls-weak-suites",
    "tls-anonymous-suites",
    "tls-no-server-order",
    "tls-latest-version-missing",
    "tls-no-ems",
    "tls-insecure-renegotiation",
    "tls-compression",
    "tls-weak-key-exchange",
    "tls-weak-signature-hash",
    "tls-post-quantum",
    "tls-large-hello-dropped",
    "tls-posture-reused",
];

fn openssl_negotiates(addr: SocketAddr, options: &[&str]) -> bool {
    let mut cmd = std::process::Command::new("openssl");
    cmd.args(["s_client", "-starttls", "smtp", "-connect"])
        .arg(addr.to_string())
        .args(options)
        .stdin(Stdio::null());
    let out = output_within(&mut cmd, Duration::from_secs(20)).unwrap_or_else(|e| panic!("{e}"));
    let text = String::from_utf8_lossy(&out.stdout);
    out.status.success() && text.contains("Cipher is ") && !text.contains("Cipher is (NONE)")
}

/// The kinds of weak suites among IANA names, in the pin's order: broken (NULL, export,
/// RC4, DES, IDEA, MD5 — anonymous or not), 3DES, anonymous.
fn weak_kinds(names: &[serde_json::Value]) -> Vec<&'static str> {
    let broken = |n: &str| {
        ["NULL", "EXPORT", "RC4", "RC2", "_DES_", "IDEA", "MD5"]
            .iter()
            .any(|b| n.contains(b))
    };
    let has = |f: &dyn Fn(&str) -> bool| names.iter().filter_map(|n| n.as_str()).any(f);
    let mut kinds = Vec::new();
    if has(&|n| n.contains("_anon_") && !broken(n)) {
        kinds.push("anonymous");
    }
    if has(&|n| n.contains("_3DES_") && !n.contains("_anon_")) {
        kinds.push("3des");
    }
    if has(&broken) {
        kinds.push("broken");
    }
    kinds
}

/// What OpenSSL itself can negotiate with the server: versions, and the weak kinds.
fn oracle(addr: SocketAddr) -> (Vec<&'static str>, Vec<&'static str>) {
    let mut versions = Vec::new();
    for (name, flag) in [
        ("tls1.0", "-tls1"),
        ("tls1.1", "-tls1_1"),
        ("tls1.2", "-tls1_2"),
        ("tls1.3", "-tls1_3"),
    ] {
        if openssl_negotiates(addr, &[flag, "-cipher", "ALL:@SECLEVEL=0"]) {
            versions.push(name);
        }
    }
    let mut weak = Vec::new();
    if openssl_negotiates(addr, &["-no_tls1_3", "-cipher", "aNULL:@SECLEVEL=0"]) {
        weak.push("anonymous");
    }
    if openssl_negotiates(addr, &["-no_tls1_3", "-cipher", "3DES:!aNULL:@SECLEVEL=0"]) {
        weak.push("3des");
    }
    if openssl_negotiates(
        addr,
        &[
            "-no_tls1_3",
            "-cipher",
            "eNULL:EXPORT:RC4:DES:!3DES:!aNULL:@SECLEVEL=0",
        ],
    ) {
        weak.push("broken");
    }
    (versions, weak)
}

/// The same report as text and as a `--nagios` line (`mxtls analyse` on the JSON): the text
/// lists the posture under the address and in the grid's posture column, the plugin line
/// counts it, each as the JSON says.
fn views_agree(json: &[u8], ip: &str, pin: &PosturePin, fail: &mut impl FnMut(String)) {
    let path = std::env::temp_dir().join(format!("mxtls-posture-{}.json", std::process::id()));
    std::fs::write(&path, json).expect("the report written");
    let analyse = |extra: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_mxtls"));
        cmd.arg("analyse")
            .arg(&path)
            .args(extra)
            .env("NO_COLOR", "1");
        let out =
            output_within(&mut cmd, Duration::from_secs(30)).unwrap_or_else(|e| panic!("{e}"));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let text = analyse(&[]);
    let number = |v: &str| v.trim_start_matches("tls").to_owned();
    let range = match (pin.versions.first(), pin.versions.last()) {
        (Some(lo), Some(hi)) if lo == hi => format!("accepts {} only", number(lo)),
        (Some(lo), Some(hi)) => format!("accepts {}–{}", number(lo), number(hi)),
        _ => "versions not seen".to_owned(),
    };
    let names: Vec<String> = pin
        .versions
        .iter()
        .map(|v| format!("TLS {}", number(v)))
        .collect();
    let versions_line = text
        .lines()
        .find(|l| l.trim_start().starts_with("Versions accepted:"));
    match versions_line {
        Some(l) if l.ends_with(&names.join(", ")) => {}
        other => fail(format!("text lists versions as {other:?}, not {names:?}")),
    }
    // The grid's row: indented, with the address and a posture column.
    let glance = text.lines().find(|l| {
        l.starts_with("  ")
            && l.contains(ip)
            && (l.contains(" accepts ") || l.contains("versions not seen"))
    });
    match glance {
        Some(l) if l.contains(&range) => {}
        other => fail(format!(
            "the grid's posture column says {other:?}, not {range:?}"
        )),
    }
    let pq = matches!(pin.post_quantum, "preferred" | "supported");
    if glance.is_some_and(|l| l.split(" · ").any(|part| part.trim_end() == "PQ") != pq) {
        fail(format!(
            "the grid's posture column and post-quantum {} disagree",
            pin.post_quantum
        ));
    }
    let nagios = analyse(&["--nagios"]);
    let old = pin
        .versions
        .iter()
        .any(|v| matches!(*v, "ssl3" | "tls1.0" | "tls1.1"));
    for (name, value) in [("old_tls", old), ("post_quantum", pq)] {
        let want = format!(" {name}={};;;0", u8::from(value));
        if !nagios.contains(&want) {
            fail(format!("--nagios lacks {want:?}: {nagios}"));
        }
    }
    let _ = std::fs::remove_file(&path);
}

#[test]
fn every_posture_scenario_reports_its_pinned_posture() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let world = runtime
        .block_on(World::start(Options {
            net: 105,
            smtp_port: 2605,
            postfix: true,
            ..Options::default()
        }))
        .expect("world");
    let pinned: Vec<(String, &'static str, PosturePin)> = world
        .scenarios
        .iter()
        .filter_map(|s| {
            s.scenario
                .posture
                .map(|p| (s.domain.clone(), s.scenario.name, p))
        })
        .collect();
    assert!(pinned.len() >= 6, "the posture scenarios: {}", pinned.len());
    let mut failures = Vec::new();
    for (domain, name, pin) in &pinned {
        let mut cmd = common::mxtls_at(&world, &["check", domain, "--json", "--posture"]);
        cmd.arg("--allow-private-targets");
        let out =
            output_within(&mut cmd, Duration::from_secs(90)).unwrap_or_else(|e| panic!("{e}"));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
        let address = &report["mx"][0]["addresses"][0];
        let posture = &address["posture"];
        let mut fail = |what: String| failures.push(format!("{name}: {what}\n  {posture}"));
        let versions: Vec<&str> = posture["versions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str())
            .collect();
        if versions != pin.versions {
            fail(format!("versions {versions:?}, pinned {:?}", pin.versions));
        }
        let weak = weak_kinds(posture["weak_suites"].as_array().map_or(&[][..], |a| a));
        if weak != pin.weak {
            fail(format!("weak kinds {weak:?}, pinned {:?}", pin.weak));
        }
        if posture["server_order"].as_bool() != pin.server_order {
            fail(format!("server order, pinned {:?}", pin.server_order));
        }
        if posture["post_quantum"] != pin.post_quantum {
            fail(format!("post-quantum, pinned {}", pin.post_quantum));
        }
        if posture["drops_large_hello"] != pin.drops_large_hello {
            fail(format!("large hello, pinned {}", pin.drops_large_hello));
        }
        let sessions = posture["sessions"].as_u64().unwrap_or(0);
        if !(4..=6).contains(&sessions) {
            fail(format!("{sessions} sessions, not 4 to 6"));
        }
        let mut codes: Vec<&str> = report["findings"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f["code"].as_str())
            .filter(|c| POSTURE_CODES.contains(c))
            .collect();
        codes.sort_unstable();
        let mut want = pin.codes.to_vec();
        want.sort_unstable();
        if codes != want {
            fail(format!("posture findings {codes:?}, pinned {want:?}"));
        }
        views_agree(
            &out.stdout,
            address["ip"].as_str().unwrap_or("?"),
            pin,
            &mut fail,
        );
        // The verdict is the scenario's own: posture notices never turn it.
        if report["summary"]["status"]["state"] != "protected" {
            fail(format!("status {}", report["summary"]["status"]));
        }
        // OpenSSL agrees where it can speak to the server (not through a path that drops
        // what it sends, and it has no hybrid group).
        if !pin.drops_large_hello
            && let Some(ip) = address["ip"].as_str().and_then(|i| i.parse().ok())
        {
            let (versions, weak) = oracle(SocketAddr::new(ip, world.smtp_port));
            if versions != pin.versions || weak != pin.weak {
                fail(format!(
                    "openssl s_client negotiates {versions:?} and {weak:?}"
                ));
            }
        }
    }
    runtime.block_on(world.stop());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
