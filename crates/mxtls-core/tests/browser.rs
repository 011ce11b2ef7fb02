//! The core in a real browser: the frozen evidence judged inside headless Chromium, as the web
//! app does it. Run by scripts/test.sh with
//! `cargo test -p mxtls-core --target wasm32-unknown-unknown --test browser`.
#![cfg(target_arch = "wasm32")]

use mxtls_core::report::Verdict;
use mxtls_core::{Code, Evidence, UnixTime, analyse, render};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

const FIXTURE: &str = include_str!("fixtures/evidence-v1.json");

#[wasm_bindgen_test]
fn analyse_runs_in_the_browser() {
    let evidence = Evidence::from_json(FIXTURE).expect("fixture loads");
    let report = analyse(&evidence, UnixTime(1_795_824_000));
    assert_eq!(report.mx[0].addresses[0].tls, Verdict::Untrusted);
    assert_eq!(report.mx[1].addresses[0].tls, Verdict::NoStarttls);
    assert!(report.findings.iter().any(|f| f.code == Code::TlsaMismatch));
    // webpki's signature checks and x509-parser ran: the chain's facts are there.
    assert_eq!(report.mx[0].addresses[0].chains[0].certs.len(), 2);
    assert!(render::text(&report, false).contains("tlsa-mismatch"));
}
