//! `mxtls check --posture` against the test world's real Postfix, configured as Debian ships
//! it: the JSON's `posture` and the findings it gives, with `openssl s_client -starttls smtp`
//! as the oracle for the versions and the anonymous suites.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use mxtls_world::process::output_within;
use mxtls_world::{Options, World};

mod common;

fn openssl_negotiates(addr: SocketAddr, options: &[&str]) -> bool {
    let out = std::process::Command::new("openssl")
        .args(["s_client", "-starttls", "smtp", "-connect"])
        .arg(addr.to_string())
        .args(options)
        .stdin(Stdio::null())
        .output()
        .expect("openssl s_client runs");
    let text = String::from_utf8_lossy(&out.stdout);
    out.status.success() && text.contains("Cipher is ") && !text.contains("Cipher is (NONE)")
}

#[test]
fn debian_postfix_posture_in_the_json_and_the_findings() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let world = runtime
        .block_on(World::start(Options {
            net: 105,
            smtp_port: 2605,
            postfix: true,
            ..Options::default()
        }))
        .expect("world");
    let domain = world
        .scenarios
        .iter()
        .find(|s| s.scenario.name == "postfix")
        .expect("the postfix scenario")
        .domain
        .clone();
    let mut cmd = common::mxtls_at(&world, &["check", &domain, "--json", "--posture"]);
    cmd.arg("--allow-private-targets");
    let out = output_within(&mut cmd, Duration::from_secs(90)).unwrap_or_else(|e| panic!("{e}"));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
    let address = &report["mx"][0]["addresses"][0];
    let posture = &address["posture"];
    let ip: std::net::IpAddr = address["ip"].as_str().expect("ip").parse().expect("an ip");
    let addr = SocketAddr::new(ip, world.smtp_port);

    let mut versions = Vec::new();
    for (name, flag) in [
        ("tls1.0", "-tls1"),
        ("tls1.1", "-tls1_1"),
        ("tls1.2", "-tls1_2"),
        ("tls1.3", "-tls1_3"),
    ] {
        if openssl_negotiates(addr, &[flag, "-cipher", "ALL:@SECLEVEL=0"]) {
            versions.push(serde_json::json!(name));
        }
    }
    assert_eq!(
        posture["versions"],
        serde_json::Value::Array(versions),
        "{posture}"
    );
    let anonymous = openssl_negotiates(addr, &["-no_tls1_3", "-cipher", "aNULL:@SECLEVEL=0"]);
    let weak = posture["weak_suites"].as_array().expect("weak_suites");
    assert_eq!(
        weak.iter()
            .any(|s| s.as_str().is_some_and(|s| s.contains("_anon_"))),
        anonymous,
        "{posture}"
    );
    assert_eq!(posture["post_quantum"], "none");
    assert_eq!(
        posture["server_order"],
        serde_json::Value::Null,
        "TLS 1.3 main session"
    );
    assert!(
        posture["sessions"]
            .as_u64()
            .is_some_and(|n| (4..=6).contains(&n))
    );
    assert_eq!(posture["drops_large_hello"], false);

    let codes: Vec<&str> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["code"].as_str())
        .collect();
    for code in [
        "tls-old-versions-accepted",
        "tls-anonymous-suites",
        "tls-post-quantum",
    ] {
        assert!(codes.contains(&code), "{code} in {codes:?}");
    }
    for absent in [
        "tls-weak-suites",
        "tls-compression",
        "tls-insecure-renegotiation",
        "tls-latest-version-missing",
        "tls-large-hello-dropped",
    ] {
        assert!(
            !codes.contains(&absent),
            "{absent} must not be in {codes:?}"
        );
    }
    // Posture notices never make the report worse than it is: the scenario's own status.
    let status = &report["summary"]["status"];
    assert_eq!(status["state"], "protected", "{status}");
    assert_eq!(status["by"], "dane", "{status}");
    let headline = report["summary"]["headline"].as_str().unwrap_or("");
    assert!(
        !headline.contains("Needs attention"),
        "only notices: {headline}"
    );
    runtime.block_on(world.stop());
}
