//! The `mxtls` binary as a user runs it: exit codes, JSON shape, clear errors.

use std::process::Command;
use std::time::Duration;

use mxtls_world::process::output_within;

/// `mxtls ARGS`; a run that has not ended within a minute fails the test as a hang.
fn mxtls(args: &[&str]) -> std::process::Output {
    output_within(
        Command::new(env!("CARGO_BIN_EXE_mxtls"))
            .args(args)
            .env("NO_COLOR", "1"),
        Duration::from_secs(60),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn fixture() -> String {
    format!(
        "{}/../mxtls-core/tests/fixtures/evidence-v1.json",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// Error findings → exit 1, and the text report names them.
#[test]
fn analyse_prints_the_report_and_exits_1_on_errors() {
    let out = mxtls(&["analyse", &fixture()]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("mxtls report for example.org"));
    assert!(text.contains("tlsa-mismatch") && text.contains("starttls-stripped"));
    assert!(!text.contains('\x1b'), "no colour when not a terminal");
}

/// The JSON report carries domain, findings (code, severity, subject), mx with addresses and
/// their verdicts, and the evidence.
#[test]
fn analyse_json_has_the_documented_shape() {
    let out = mxtls(&["analyse", "--json", &fixture()]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["domain"], "example.org");
    let f = &v["findings"][0];
    assert!(f["code"].is_string() && f["severity"] == "error" && f["subject"].is_object());
    assert_eq!(v["mx"][0]["host"], "mx.example.org");
    assert_eq!(v["mx"][0]["addresses"][0]["ip"], "192.0.2.25");
    assert_eq!(v["mx"][0]["addresses"][0]["tls"], "untrusted");
    assert_eq!(v["mx"][1]["addresses"][0]["tls"], "no-starttls");
    // The schema-1 fixture is printed as it was loaded: the current schema, TLS parameters as
    // code points (0x0304 is TLS 1.3), and the report's own names beside them.
    assert_eq!(v["evidence"]["schema"], mxtls_core::SCHEMA_VERSION);
    assert_eq!(
        v["evidence"]["hosts"][0]["addresses"][0]["sessions"][0]["tls"]["version"],
        0x0304
    );
    assert_eq!(
        v["mx"][0]["addresses"][0]["chains"][0]["tls_version"],
        "TLSv1.3"
    );
}

/// Bad input is exit 2 with a one-line reason, never a panic.
#[test]
fn bad_input_exits_2_with_a_clear_error() {
    let out = mxtls(&["analyse", "/nonexistent/evidence.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));

    let dir = std::env::temp_dir().join(format!("mxtls-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let garbage = dir.join("garbage.json");
    std::fs::write(&garbage, "{\"schema\": 1, \"domain\": 5}").unwrap();
    let out = mxtls(&["analyse", garbage.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("mxtls: ") && err.contains("not valid evidence"),
        "{err}"
    );
    std::fs::remove_dir_all(dir).ok();

    let out = mxtls(&["no-such-command"]);
    assert_eq!(out.status.code(), Some(2));
}

/// Options are bounded when they are parsed: a huge `--timeout` (which once overflowed a
/// deadline and panicked the check) is a usage error, for `check` and `serve` alike, and
/// nothing is probed or served.
#[test]
fn out_of_range_options_are_refused_at_parse_time() {
    for args in [
        &["check", "example.org", "--timeout", "18446744073709551615"][..],
        &["check", "example.org", "--timeout", "0"],
        &["check", "example.org", "--timeout", "601"],
        &["check", "example.org", "--smtp-port", "0"],
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--timeout",
            "18446744073709551615",
        ],
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--trusted-proxy",
            "10.0.0.0/33",
        ],
    ] {
        let out = mxtls(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("invalid value"), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}
