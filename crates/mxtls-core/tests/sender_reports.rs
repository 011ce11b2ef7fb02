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

/// A report whose policies are about two domains, as a sender that aggregates per mailbox
/// writes it: 4 failures at example.org, 70 at other.example.
fn mixed() -> mxtls_core::tls_rpt::report::AggregateReport {
    parse_json(&format!(
        r#"{{"organization-name":"Mail Co","date-range":{{"start-datetime":"2026-11-27T00:00:00Z","end-datetime":"2026-11-27T23:59:59Z"}},"report-id":"r2","policies":[
        {{"policy":{{"policy-type":"no-policy-found","policy-domain":"example.org"}},"summary":{{"total-successful-session-count":5,"total-failure-session-count":4}},"failure-details":[{{"result-type":"starttls-not-supported","receiving-mx-hostname":"{MX}","failed-session-count":4}}]}},
        {{"policy":{{"policy-type":"no-policy-found","policy-domain":"Other.Example."}},"summary":{{"total-successful-session-count":30,"total-failure-session-count":70}},"failure-details":[{{"result-type":"certificate-expired","receiving-mx-hostname":"mx.other.example","failed-session-count":70}}]}}]}}"#
    ))
    .expect("the report reads")
}

#[test]
fn reports_about_another_domain_are_left_out_of_the_counts_too() {
    use mxtls_core::tls_rpt::report::{about, summarise};
    let only_other = report("starttls-not-supported", None);
    let mut only_other = only_other;
    only_other.report_id = "r3".into();
    only_other.policies[0].policy_domain = "other.example".into();
    let all = vec![mixed(), only_other];

    let ours = about(&all, "example.org");
    assert_eq!(
        ours.len(),
        1,
        "the report only about other.example is dropped"
    );
    assert_eq!(ours[0].report_id, "r2");
    assert_eq!(ours[0].policies.len(), 1);
    assert_eq!(ours[0].policies[0].policy_domain, "example.org");
    let rows = summarise(&ours);
    let failed: u64 = rows.iter().map(|r| r.failed).sum();
    let successful: u64 = rows.iter().map(|r| r.successful).sum();
    assert_eq!((successful, failed), (5, 4), "{rows:?}");
    let details: Vec<_> = rows.iter().flat_map(|r| &r.failures).collect();
    assert_eq!(details.len(), 1, "{details:?}");
    assert_eq!(details[0].0.as_deref(), Some(MX));
    assert_eq!(details[0].3, 4);

    // The other domain, by the name it was given with a trailing dot and capitals.
    let theirs = about(&all, "other.example.");
    let failed: u64 = summarise(&theirs).iter().map(|r| r.failed).sum();
    assert_eq!(failed, 70 + 4);

    // The findings agree with the counts: only example.org's failures are judged.
    let pki = Pki::new();
    let chain = pki.chain(&[MX], "ee-ecdsa", Validity::Current);
    let s = Scenario::new("example.org").host(Host::new(MX).serves(&chain));
    let (evidence, judged) = (s.evidence(), s.report());
    let found = mxtls_core::analysis::judge_reports(&ours, &evidence, &judged);
    assert_eq!(
        found,
        mxtls_core::analysis::judge_reports(&all, &evidence, &judged)
    );
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].code, Code::TlsRptStrippingOnPath);
    assert!(
        found[0]
            .explanation
            .contains("Mail Co reported 4 failed sessions"),
        "{}",
        found[0].explanation
    );
}
