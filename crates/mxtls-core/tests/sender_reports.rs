//! TLS-RPT reports held against evidence, with bytes only: a report of
//! `starttls-not-supported` where the evidence shows STARTTLS working is stripping on the
//! senders' path; where the evidence shows no STARTTLS, it is confirmed with the probe's fix.

mod common;

use common::*;
use mxtls_core::tls_rpt::report::parse_json;
use mxtls_core::{Code, Severity};

const MX: &str = "mx.example.org";

fn report(result: &str, ip: Option<&str>) -> mxtls_core::tls_rpt::report::AggregateReport {
    let ip = ip
        .map(|i| format!(r#","receiving-ip":"{i}""#))
        .unwrap_or_default();
    parse_json(&format!(
        r#"{{"organization-name":"Mail Co","date-range":{{"start-datetime":"2026-11-27T00:00:00Z","end-datetime":"2026-11-27T23:59:59Z"}},"report-id":"r1","policies":[{{"policy":{{"policy-type":"no-policy-found","policy-domain":"example.org"}},"summary":{{"total-successful-session-count":5,"total-failure-session-count":4}},"failure-details":[{{"result-type":"{result}","sending-mta-ip":"198.51.100.7","receiving-mx-hostname":"{MX}"{ip},"failed-session-count":4}}]}}]}}"#
    ))
    .expect("the report reads")
}

#[test]
fn starttls_not_supported_where_it_works_is_stripping_on_the_path() {
    let pki = Pki::new();
    let chain = pki.chain(&[MX], "ee-ecdsa", Validity::Current);
    let s = Scenario::new("example.org").host(Host::new(MX).serves(&chain));
    let (evidence, judged) = (s.evidence(), s.report());
    for ip in [None, Some("192.0.2.25")] {
        let found = mxtls_core::analysis::judge_reports(
            &[report("starttls-not-supported", ip)],
            &evidence,
            &judged,
        );
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].code, Code::TlsRptStrippingOnPath);
        assert_eq!(found[0].severity, Severity::Error);
        assert!(
            found[0]
                .explanation
                .contains("Mail Co reported 4 failed sessions on 2026-11-27")
        );
        assert!(found[0].explanation.contains("198.51.100.7"));
    }
    // The certificate is fine: a sender's certificate-expired is not seen by the probe.
    let found = mxtls_core::analysis::judge_reports(
        &[report("certificate-expired", None)],
        &evidence,
        &judged,
    );
    assert_eq!(found[0].code, Code::TlsRptFailureNotSeen);
}

#[test]
fn starttls_not_supported_where_none_is_offered_is_confirmed() {
    let s = Scenario::new("example.org")
        .host(Host::new(MX).session(plain_session(&["mx.example.org"])));
    let (evidence, judged) = (s.evidence(), s.report());
    assert!(has(&judged, Code::StarttlsMissing));
    let found = mxtls_core::analysis::judge_reports(
        &[report("starttls-not-supported", Some("192.0.2.25"))],
        &evidence,
        &judged,
    );
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].code, Code::TlsRptFailureConfirmed);
    assert_eq!(
        found[0].severity,
        finding(&judged, Code::StarttlsMissing).severity
    );
    assert_eq!(
        found[0].fix,
        finding(&judged, Code::StarttlsMissing).fix,
        "the probe's fix"
    );
    // An address the domain does not publish.
    let found = mxtls_core::analysis::judge_reports(
        &[report("starttls-not-supported", Some("203.0.113.9"))],
        &evidence,
        &judged,
    );
    assert_eq!(
        found[0].code,
        Code::TlsRptUnknownMx,
        "a known host at an address it does not have"
    );
}
