//! `mxtls check --horizon` and `--nagios` against the test world. The horizon findings of
//! `expiring.test` (signatures end in 2 days, the DANE-TA leaf in 10) and `renewal-due.test`
//! (a single 3 1 1, renewal 20 days overdue) appear and vanish at their thresholds; the dates
//! they name are those `dig` and `openssl s_client` read from the world, not the core's own.

use std::process::Command;
use std::time::Duration;

use mxtls_world::process::{output_with_input, output_within};
use mxtls_world::{Options, World};

mod common;

const LIMIT: Duration = Duration::from_secs(90);

fn mxtls(world: &World, domain: &str, extra: &[&str]) -> (Option<i32>, String) {
    let mut cmd = common::mxtls_at(world, &["check", domain, "--allow-private-targets"]);
    cmd.args(extra).env("NO_COLOR", "1");
    let out = output_within(&mut cmd, LIMIT).unwrap_or_else(|e| panic!("{e}"));
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The finding codes and titles of a `--json` report.
fn findings(json: &str) -> Vec<(String, String, String)> {
    let v: serde_json::Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"));
    let mut out: Vec<(String, String, String)> = v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["code"].as_str().unwrap_or_default().to_owned(),
                f["severity"].as_str().unwrap_or_default().to_owned(),
                f["title"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

fn codes_at(world: &World, domain: &str, horizon: Option<&str>) -> Vec<String> {
    let mut extra = vec!["--json"];
    if let Some(h) = horizon {
        extra.extend(["--horizon", h]);
    }
    let (_, json) = mxtls(world, domain, &extra);
    let mut codes: Vec<String> = findings(&json).into_iter().map(|(c, _, _)| c).collect();
    codes.dedup();
    codes
}

/// `YYYYMMDDHHMMSS` (dig's RRSIG times) as the report writes dates.
fn dig_time(t: &str) -> String {
    format!(
        "{}-{}-{} {}:{}:{} UTC",
        &t[0..4],
        &t[4..6],
        &t[6..8],
        &t[8..10],
        &t[10..12],
        &t[12..14]
    )
}

/// The expiration of the RRSIG over `name`/`rtype`, as `dig +dnssec` shows it.
fn rrsig_expiration(world: &World, name: &str, rtype: &str) -> String {
    let mut cmd = Command::new("dig");
    cmd.args(["+dnssec", "+noall", "+answer", "+time=3", "+tries=2", "-p"])
        .arg(world.resolver.port().to_string())
        .arg(format!("@{}", world.resolver.ip()))
        .args([name, rtype]);
    let out = output_within(&mut cmd, Duration::from_secs(20)).expect("dig runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("RRSIG") && l.contains(&format!("RRSIG\t{rtype} ")))
        .or_else(|| text.lines().find(|l| l.contains("RRSIG")))
        .unwrap_or_else(|| panic!("no RRSIG in {text}"));
    // owner ttl class RRSIG type alg labels origttl expiration inception …
    let fields: Vec<&str> = line.split_whitespace().collect();
    dig_time(fields[8])
}

/// The end date of the certificate `ip` presents after STARTTLS, read by openssl.
fn openssl_not_after(world: &World, ip: &str) -> String {
    let connect = format!("{ip}:{}", world.smtp_port);
    let mut cmd = Command::new("openssl");
    cmd.args(["s_client", "-starttls", "smtp", "-connect", &connect]);
    let out = output_with_input(&mut cmd, b"QUIT\r\n", Duration::from_secs(20))
        .expect("openssl s_client runs");
    let pem = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut cmd = Command::new("openssl");
    cmd.args(["x509", "-noout", "-enddate", "-dateopt", "iso_8601"]);
    let out = output_with_input(&mut cmd, pem.as_bytes(), Duration::from_secs(20))
        .expect("openssl x509 runs");
    // notAfter=2026-12-12 03:31:22Z
    let text = String::from_utf8_lossy(&out.stdout);
    let date = text
        .trim()
        .trim_start_matches("notAfter=")
        .trim_end_matches('Z');
    format!("{date} UTC")
}

fn address_of(world: &World, domain: &str) -> String {
    world
        .first_address(domain)
        .map(|a| a.to_string())
        .expect("the scenario runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn horizon_findings_appear_and_vanish_at_their_thresholds() {
    let world = World::start(Options {
        net: 61,
        smtp_port: 2561,
        postfix: false,
        ..Options::default()
    })
    .await
    .expect("the world starts");

    let base = ["dane-verified", "mta-sts-missing", "tlsrpt-missing"];
    let with = |extra: &[&str]| {
        let mut v: Vec<String> = base.iter().chain(extra).map(|s| (*s).to_owned()).collect();
        v.sort();
        v
    };
    // Signatures: 2 days left of 30; the DANE-TA leaf: 10 days left.
    let d = "expiring.test";
    assert_eq!(
        codes_at(&world, d, None),
        with(&["cert-expiring", "rrsig-expiring", "tlsa-no-rollover"]),
        "defaults: 3 days (and a quarter) for signatures, 30 for certificates"
    );
    assert_eq!(
        codes_at(&world, d, Some("1")),
        with(&["tlsa-no-rollover"]),
        "1 day: nothing runs out that soon"
    );
    assert_eq!(
        codes_at(&world, d, Some("5")),
        with(&["rrsig-expiring", "tlsa-no-rollover"]),
        "5 days: the signatures, not yet the certificate"
    );
    assert_eq!(
        codes_at(&world, d, Some("15")),
        with(&["cert-expiring", "rrsig-expiring", "tlsa-no-rollover"]),
    );
    assert_eq!(
        codes_at(&world, d, Some("0")),
        with(&["tlsa-no-rollover"]),
        "--horizon 0: none of them"
    );

    // The dates named are the world's, as dig and openssl read them.
    let (_, json) = mxtls(&world, d, &["--json"]);
    // The evidence carries the whole chain of keys, from the zone up to the root.
    let v: serde_json::Value = serde_json::from_str(&json).expect("json");
    let mut chain: Vec<String> = v["evidence"]["dnssec_chain"]
        .as_array()
        .expect("dnssec_chain")
        .iter()
        .map(|a| format!("{} {}", a["qname"].as_str().unwrap_or(""), a["qtype"]))
        .collect();
    chain.sort();
    assert_eq!(
        chain,
        [
            ". \"DNSKEY\"",
            "expiring.test \"DNSKEY\"",
            "expiring.test \"DS\"",
            "test \"DNSKEY\"",
            "test \"DS\"",
        ],
        "DNSKEY and DS of every zone from the signer to the root"
    );
    let found = findings(&json);
    let mx_expires = rrsig_expiration(&world, d, "MX");
    let rrsig = found
        .iter()
        .find(|(c, _, _)| c == "rrsig-expiring")
        .expect("rrsig-expiring");
    assert_eq!(rrsig.1, "warning");
    assert!(
        rrsig.2.contains(&format!("expire on {mx_expires}")),
        "{rrsig:?} names dig's {mx_expires}"
    );
    let not_after = openssl_not_after(&world, &address_of(&world, d));
    let cert = found
        .iter()
        .find(|(c, _, _)| c == "cert-expiring")
        .expect("cert-expiring");
    assert_eq!(cert.1, "warning", "DANE-TA checks the leaf's dates");
    assert!(
        cert.2.contains(&format!("expires on {not_after}")),
        "{cert:?} names openssl's {not_after}"
    );

    // A single 3 1 1 and a renewal overdue: the rollover risk replaces the general notice;
    // the leaf's expiry is a notice, as DANE-EE ignores it.
    let d = "renewal-due.test";
    assert_eq!(
        codes_at(&world, d, None),
        with(&["cert-expiring", "tlsa-rollover-risk"])
    );
    assert_eq!(codes_at(&world, d, Some("0")), with(&["tlsa-no-rollover"]));
    let (_, json) = mxtls(&world, d, &["--json"]);
    let found = findings(&json);
    assert!(
        found.iter().any(|(c, s, t)| c == "cert-expiring"
            && s == "notice"
            && t.contains("DANE-EE ignores")),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|(c, s, _)| c == "tlsa-rollover-risk" && s == "warning")
    );

    // A healthy domain (30-day signatures, a 90-day certificate one day old): nothing within
    // 20 days; an explicit 60 is a plain threshold for every kind, so the signatures (29 days
    // left) and the renewal (in 59 days) then count.
    assert_eq!(
        codes_at(&world, "dane-ee.test", Some("20")),
        with(&["tlsa-no-rollover"])
    );
    assert_eq!(
        codes_at(&world, "dane-ee.test", Some("60")),
        with(&["rrsig-expiring", "tlsa-rollover-risk"])
    );
    world.stop().await;
}

/// `--nagios`: one line, perfdata, and the plugin's exit status — OK for a good domain,
/// WARNING for one with only warnings, CRITICAL for errors, UNKNOWN for a bad argument.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nagios_mode_prints_one_line_and_the_plugin_status() {
    let world = World::start(Options {
        net: 62,
        smtp_port: 2562,
        postfix: false,
        ..Options::default()
    })
    .await
    .expect("the world starts");
    for (domain, status, label) in [
        ("rollover.test", 0, "OK"),
        ("expiring.test", 1, "WARNING"),
        ("tlsa-mismatch.test", 2, "CRITICAL"),
        ("no-starttls.test", 2, "CRITICAL"),
    ] {
        let (code, out) = mxtls(&world, domain, &["--nagios"]);
        println!("{out}");
        assert_eq!(code, Some(status), "{domain}: {out}");
        assert_eq!(out.lines().count(), 1, "one line: {out}");
        assert!(
            out.starts_with(&format!("MXTLS {label} - {domain}: ")),
            "{out}"
        );
        let (_, perf) = out.split_once(" | ").expect("perfdata");
        for key in ["time=", "mx=1;", "addresses=", "errors=", "warnings="] {
            assert!(perf.contains(key), "{key} in {perf}");
        }
    }
    let (code, out) = mxtls(&world, "not a domain", &["--nagios"]);
    assert_eq!(code, Some(3), "{out}");
    assert!(out.starts_with("MXTLS UNKNOWN - "), "{out}");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mxtls"));
    cmd.args(["check", "x.test", "--nagios", "--timeout", "0"]);
    let out = output_within(&mut cmd, LIMIT).expect("runs");
    assert_eq!(
        out.status.code(),
        Some(3),
        "bad usage is UNKNOWN, not CRITICAL"
    );
    world.stop().await;
}
