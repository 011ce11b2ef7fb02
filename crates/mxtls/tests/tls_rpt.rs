//! `mxtls tls-rpt` against the test world, with reports written as the big senders write
//! them (Google: JSON, `no-policy-found`, no `receiving-ip`; Microsoft: gzip, list-valued
//! `mx-host`, `receiving-ip`): a sender reporting `starttls-not-supported` where the world's
//! server offers STARTTLS is stripping on that sender's path; where the server offers none,
//! the probe confirms it; a malformed report is refused with exit 2.

use std::path::Path;
use std::time::Duration;

use mxtls_world::process::output_within;
use mxtls_world::sender_reports::{google, microsoft_gz};
use mxtls_world::{Options, World};

mod common;
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(90);

fn mxtls(world: &World, args: &[&std::ffi::OsStr]) -> (Option<i32>, String, String) {
    let mut cmd = common::mxtls_at(world, &["tls-rpt", "--allow-private-targets"]);
    cmd.args(args).env("NO_COLOR", "1");
    let out = output_within(&mut cmd, LIMIT).unwrap_or_else(|e| panic!("{e}"));
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn mxtls_check_json(world: &World, domain: &str) -> String {
    let mut cmd = common::mxtls_at(
        world,
        &["check", domain, "--json", "--allow-private-targets"],
    );
    let out = output_within(&mut cmd, LIMIT).expect("check runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write");
    p
}

fn findings(json: &str) -> Vec<(String, String, String)> {
    let v: Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"));
    let mut out: Vec<(String, String, String)> = v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["code"].as_str().unwrap_or_default().to_owned(),
                f["severity"].as_str().unwrap_or_default().to_owned(),
                f["explanation"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_are_held_against_the_worlds_servers() {
    let world = World::start(Options {
        net: 64,
        smtp_port: 2564,
        postfix: false,
        ..Options::default()
    })
    .await
    .expect("the world starts");
    let dir = world.dir.join("reports");
    std::fs::create_dir_all(&dir).expect("dir");
    let ip_of = |d: &str| {
        world
            .first_address(d)
            .map(|a| a.to_string())
            .expect("scenario")
    };

    // dane-ee.test offers STARTTLS and a handshake DANE verifies: two senders saying
    // starttls-not-supported there is stripping on their path.
    let g = write(
        &dir,
        "google.json",
        google(
            "dane-ee.test",
            "mx.dane-ee.test",
            "starttls-not-supported",
            12,
        )
        .as_bytes(),
    );
    let m = write(
        &dir,
        "microsoft.json.gz",
        &microsoft_gz(
            "dane-ee.test",
            "mx.dane-ee.test",
            &ip_of("dane-ee.test"),
            "starttls-not-supported",
            3,
        ),
    );
    let (code, json, err) = mxtls(&world, &[g.as_os_str(), m.as_os_str(), "--json".as_ref()]);
    assert_eq!(code, Some(1), "an error finding: {err}");
    let found = findings(&json);
    let codes: Vec<&str> = found.iter().map(|f| f.0.as_str()).collect();
    assert_eq!(
        codes,
        ["tlsrpt-stripping-on-path", "tlsrpt-stripping-on-path"],
        "one for the host (Google names no address), one for the address: {found:?}"
    );
    assert!(found.iter().all(|f| f.1 == "error"));
    assert!(
        found.iter().any(|f| f.2.contains("Google Inc.")
            && f.2.contains("209.85.220.41")
            && f.2.contains("12 failed sessions")),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|f| f.2.contains("Microsoft Corporation") && f.2.contains("3 failed sessions")),
        "{found:?}"
    );
    let v: Value = serde_json::from_str(&json).expect("json");
    assert_eq!(
        v["summary"].as_array().map(Vec::len),
        Some(2),
        "two organisations, two days"
    );
    let (_, text, _) = mxtls(&world, &[g.as_os_str(), m.as_os_str()]);
    println!("$ mxtls tls-rpt google.json microsoft.json.gz   (dane-ee.test)\n{text}");

    // no-starttls.test offers none: the probe confirms what the senders saw. Given as
    // evidence from `mxtls check --json`, it is not probed again.
    let mut check = common::mxtls_at(
        &world,
        &[
            "check",
            "no-starttls.test",
            "--json",
            "--allow-private-targets",
        ],
    );
    let out = output_within(&mut check, LIMIT).expect("check runs");
    let evidence = write(&dir, "no-starttls.json", &out.stdout);
    let m = write(
        &dir,
        "microsoft-2.json.gz",
        &microsoft_gz(
            "no-starttls.test",
            "mx.no-starttls.test",
            &ip_of("no-starttls.test"),
            "starttls-not-supported",
            7,
        ),
    );
    let (code, json, err) = mxtls(
        &world,
        &[
            m.as_os_str(),
            "--evidence".as_ref(),
            evidence.as_os_str(),
            "--json".as_ref(),
        ],
    );
    assert_eq!(code, Some(1), "{err}");
    let found = findings(&json);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        (found[0].0.as_str(), found[0].1.as_str()),
        ("tlsrpt-failure-confirmed", "error")
    );
    assert!(
        found[0].2.contains("starttls-missing"),
        "names the probe's finding: {found:?}"
    );
    let (_, text, _) = mxtls(
        &world,
        &[m.as_os_str(), "--evidence".as_ref(), evidence.as_os_str()],
    );
    println!("$ mxtls tls-rpt microsoft-2.json.gz --evidence no-starttls.json\n{text}");
    assert!(
        text.contains("Fix: Enable STARTTLS"),
        "the probe's fix: {text}"
    );

    // A failure the probe does not see (the certificate is fine), and an MX host the domain
    // does not publish.
    let g = write(
        &dir,
        "google-2.json",
        google("dane-ee.test", "mx.dane-ee.test", "certificate-expired", 2).as_bytes(),
    );
    let old = write(
        &dir,
        "google-3.json",
        google(
            "dane-ee.test",
            "old-mx.dane-ee.test",
            "certificate-expired",
            1,
        )
        .as_bytes(),
    );
    let (code, json, _) = mxtls(&world, &[g.as_os_str(), old.as_os_str(), "--json".as_ref()]);
    assert_eq!(code, Some(0));
    let codes: Vec<String> = findings(&json).into_iter().map(|f| f.0).collect();
    assert_eq!(codes, ["tlsrpt-failure-not-seen", "tlsrpt-unknown-mx"]);

    // Against an enforced MTA-STS policy: a sender still applying an older policy (stale),
    // and one that found none (it delivered without it); all sessions fine otherwise.
    let stale = r#"{"organization-name":"Mail Co","date-range":{"start-datetime":"2026-11-30T00:00:00Z","end-datetime":"2026-11-30T23:59:59Z"},"report-id":"s1","policies":[{"policy":{"policy-type":"sts","policy-string":["version: STSv1","mode: testing","mx: mx.sts-enforce.test","max_age: 86400"],"policy-domain":"sts-enforce.test","mx-host":["mx.sts-enforce.test"]},"summary":{"total-successful-session-count":9,"total-failure-session-count":0}}]}"#;
    let s1 = write(&dir, "stale.json", stale.as_bytes());
    let none = google("sts-enforce.test", "mx.sts-enforce.test", "starttls-not-supported", 0)
        .replace(r#","failure-details":[{"result-type":"starttls-not-supported","sending-mta-ip":"209.85.220.41","receiving-mx-hostname":"mx.sts-enforce.test","failed-session-count":0}]"#, "");
    let s2 = write(&dir, "none.json", none.as_bytes());
    let (code, json, err) = mxtls(&world, &[s1.as_os_str(), s2.as_os_str(), "--json".as_ref()]);
    assert_eq!(code, Some(0), "{err}");
    let found = findings(&json);
    let codes: Vec<&str> = found.iter().map(|f| f.0.as_str()).collect();
    assert_eq!(
        codes,
        ["tlsrpt-policy-not-found", "tlsrpt-stale-policy"],
        "{found:?}"
    );
    assert!(found[1].2.contains("mode: testing"), "{found:?}");
    // The same stale sender alone, with its policy now current: all clean.
    let current = stale.replace("mode: testing", "mode: enforce");
    let served: String = {
        let evidence =
            mxtls_core::Evidence::from_json(&mxtls_check_json(&world, "sts-enforce.test"))
                .expect("evidence");
        let body = evidence
            .mta_sts
            .policy
            .and_then(|p| p.body)
            .expect("a policy body");
        String::from_utf8_lossy(body.as_ref()).into_owned()
    };
    let lines: Vec<String> = served
        .lines()
        .map(|l| format!("{:?}", l.trim()))
        .filter(|l| l != "\"\"")
        .collect();
    let current = current.replace(
        r#"["version: STSv1","mode: enforce","mx: mx.sts-enforce.test","max_age: 86400"]"#,
        &format!("[{}]", lines.join(",")),
    );
    let s3 = write(&dir, "current.json", current.as_bytes());
    let (code, json, _) = mxtls(&world, &[s3.as_os_str(), "--json".as_ref()]);
    assert_eq!(code, Some(0));
    let codes: Vec<String> = findings(&json).into_iter().map(|f| f.0).collect();
    assert_eq!(
        codes,
        ["tlsrpt-clean"],
        "the policy it carries is the one served: {served}"
    );

    // Unreadable reports: exit 2 and the reason.
    let bad = write(
        &dir,
        "bad.json",
        br#"{"organization-name":"X","policies":[]}"#,
    );
    let (code, _, err) = mxtls(&world, &[bad.as_os_str()]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("not a TLS-RPT report") && err.contains("date-range"),
        "{err}"
    );
    let gz = write(
        &dir,
        "cut.json.gz",
        &microsoft_gz(
            "x.test",
            "mx.x.test",
            "127.0.0.1",
            "starttls-not-supported",
            1,
        )[..20],
    );
    let (code, _, err) = mxtls(&world, &[gz.as_os_str()]);
    assert_eq!(code, Some(2), "{err}");
    world.stop().await;
}
