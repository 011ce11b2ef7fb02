//! Golden tests of the text renderer, and the frozen evidence fixture that every later
//! version must keep reading (design: "old snapshots keep loading").
//!
//! `UPDATE_GOLDEN=1 cargo test -p mxtls-core --test golden` rewrites the expected files;
//! review the diff before committing it.

mod common;

use common::*;
use mxtls_core::evidence::Evidence;
use mxtls_core::report::Verdict;
use mxtls_core::{Code, analyse, render};

const MX: &str = "mx.example.org";

fn check(name: &str, actual: &str) {
    let path = format!("{}/tests/golden/{name}", env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).expect("write golden");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e} (run with UPDATE_GOLDEN=1)"));
    assert_eq!(actual, expected, "{name} differs from the golden file");
}

fn dane_ok() -> Scenario {
    let pki = Pki::new();
    let chain = pki.chain(&[MX], "ee-ecdsa", Validity::Current);
    Scenario::new("example.org").host(
        Host::new(MX)
            .tlsa(vec![tlsa(3, 1, 1, &chain[0])])
            .serves(&chain),
    )
}

fn mismatch_and_cleartext() -> Scenario {
    let pki = Pki::new();
    let old = pki.chain(&[MX], "ee2-ecdsa", Validity::Current);
    let now = pki.chain(&[MX], "ee-ecdsa", Validity::Current);
    let mut mx2 = Host::new("mx2.example.org").session(plain_session(&[
        "mx2.example.org",
        "PIPELINING",
        "XXXXXXXA",
    ]));
    mx2.preference = Some(20);
    mx2.ips = vec!["2001:db8::25".into()];
    Scenario::new("example.org")
        .host(
            Host::new(MX)
                .tlsa(vec![tlsa(3, 1, 1, &old[0]), tlsa(1, 1, 1, &old[0])])
                .serves(&now),
        )
        .host(mx2)
}

/// The text report of a DANE-verified domain (RFC 7672 §3.1.1).
#[test]
fn text_dane_ok() {
    check("dane-ok.txt", &render::text(&dane_ok().report(), false));
}

/// The text report of a rotated key and a stripped second MX, with fixes.
#[test]
fn text_mismatch_and_cleartext() {
    check(
        "mismatch-and-cleartext.txt",
        &render::text(&mismatch_and_cleartext().report(), false),
    );
}

#[test]
fn colour_only_when_asked() {
    let r = dane_ok().report();
    assert!(!render::text(&r, false).contains('\x1b'));
    assert!(render::text(&r, true).contains("\x1b[32m"));
}

/// Evidence written by schema 1 keeps loading and judging the same way.
#[test]
fn evidence_v1_fixture_still_loads() {
    let path = format!(
        "{}/tests/fixtures/evidence-v1.json",
        env!("CARGO_MANIFEST_DIR")
    );
    if std::env::var_os("UPDATE_GOLDEN").is_some() && !std::path::Path::new(&path).exists() {
        std::fs::write(
            &path,
            serde_json::to_string_pretty(&mismatch_and_cleartext().evidence()).unwrap(),
        )
        .unwrap();
    }
    let text = std::fs::read_to_string(&path).expect("fixture");
    let evidence = Evidence::from_json(&text).expect("schema 1 evidence loads");
    let r = analyse(&evidence, NOW);
    assert_eq!(r.mx.len(), 2);
    assert_eq!(r.mx[0].addresses[0].tls, Verdict::Untrusted);
    assert_eq!(r.mx[1].addresses[0].tls, Verdict::NoStarttls);
    assert!(has(&r, Code::TlsaMismatch) && has(&r, Code::StarttlsStripped));
}

/// Evidence survives a JSON round trip unchanged (snapshots are stored as JSON).
#[test]
fn evidence_round_trips_through_json() {
    let e = mismatch_and_cleartext().evidence();
    let json = serde_json::to_string(&e).unwrap();
    assert_eq!(Evidence::from_json(&json).unwrap(), e);
}
