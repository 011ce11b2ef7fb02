//! What the next renewal breaks (`tlsa-rollover-risk`) and what expires within the horizon
//! (`cert-expiring`), judged on chains built by rcgen and TLSA data computed by OpenSSL.

mod common;

use common::*;
use mxtls_core::evidence::{DnsOutcome, DnssecState};
use mxtls_core::names::RecordType;
use mxtls_core::pkix::RootSet;
use mxtls_core::{Code, Horizon, Severity, analyse_over};

const MX: &str = "mx.example.org";

fn scenario(h: Host) -> Scenario {
    Scenario::new("example.org").host(h)
}

/// A Let's Encrypt-like chain: root → "R11, O=Let's Encrypt" → leaf, renewal due.
fn acme_chain(pki: &Pki, org: &str, validity: Validity) -> (Vec<Vec<u8>>, Ca) {
    let inter = pki.root.intermediate_of("R11", Some(org), "other-ca-ecdsa");
    let leaf = inter.leaf(&[MX], "ee-ecdsa", validity);
    (vec![leaf, inter.der.clone()], inter)
}

/// RFC 7671 §8.1: a `2 1 1` for one intermediate of a CA that rotates them breaks when the
/// renewal comes from another; a record for the CA's other intermediate beside it, or a CA
/// that does not rotate, does not.
#[test]
fn a_pinned_intermediate_of_a_rotating_ca_is_a_rollover_risk() {
    let pki = Pki::new();
    let (chain, inter) = acme_chain(&pki, "Let's Encrypt", Validity::RenewalDue);
    let only_r11 = scenario(
        Host::new(MX)
            .tlsa(vec![tlsa(2, 1, 1, &inter.der)])
            .serves(&chain),
    )
    .report();
    let f = finding(&only_r11, Code::TlsaRolloverRisk);
    assert_eq!(f.severity, Severity::Warning);
    assert!(
        f.explanation.contains("O=Let's Encrypt"),
        "{}",
        f.explanation
    );
    assert!(
        f.fix
            .as_ref()
            .is_some_and(|x| x.records.iter().any(|r| r.contains(" 3 1 1 "))),
        "the fix gives the 3 1 1 record for the current key: {:?}",
        f.fix
    );
    assert!(
        !has(&only_r11, Code::TlsaNoRollover),
        "the sharper finding replaces the general one"
    );

    // The CA's other intermediate published beside it: nothing breaks.
    let other = pki
        .root
        .intermediate_of("R10", Some("Let's Encrypt"), "inter-ecdsa");
    let both = scenario(
        Host::new(MX)
            .tlsa(vec![tlsa(2, 1, 1, &inter.der), tlsa(2, 1, 1, &other.der)])
            .serves(&chain),
    )
    .report();
    assert!(!has(&both, Code::TlsaRolloverRisk), "{:?}", codes(&both));

    // A private CA that keeps its intermediate: the 2 1 1 survives a renewal.
    let (chain, inter) = acme_chain(&pki, "Example Corp", Validity::RenewalDue);
    let own = scenario(
        Host::new(MX)
            .tlsa(vec![tlsa(2, 1, 1, &inter.der)])
            .serves(&chain),
    )
    .report();
    assert!(!has(&own, Code::TlsaRolloverRisk), "{:?}", codes(&own));
}

/// Only the current leaf key pinned: a risk once the renewal falls within the horizon; a
/// published next key, or a renewal beyond the horizon, is none.
#[test]
fn only_the_current_key_pinned_is_a_risk_when_renewal_is_near() {
    let pki = Pki::new();
    let due = pki.chain(&[MX], "ee-ecdsa", Validity::RenewalDue);
    let single = scenario(
        Host::new(MX)
            .tlsa(vec![tlsa(3, 1, 1, &due[0])])
            .serves(&due),
    );
    let r = single.report();
    assert!(has(&r, Code::TlsaRolloverRisk));
    assert!(!has(&r, Code::TlsaNoRollover));
    // DANE-EE ignores the leaf's dates: its expiry in 11 days is a notice.
    assert_eq!(severity(&r, Code::CertExpiring), Severity::Notice);
    let none = analyse_over(
        &single.evidence(),
        NOW,
        &RootSet::mozilla(),
        Horizon::Days { days: 0 },
    );
    assert!(!has(&none, Code::TlsaRolloverRisk) && !has(&none, Code::CertExpiring));
    assert!(has(&none, Code::TlsaNoRollover));

    let next = pki.chain(&[MX], "ee2-ecdsa", Validity::Current);
    let pair = scenario(
        Host::new(MX)
            .tlsa(vec![tlsa(3, 1, 1, &due[0]), tlsa(3, 1, 1, &next[0])])
            .serves(&due),
    )
    .report();
    assert!(!has(&pair, Code::TlsaRolloverRisk), "{:?}", codes(&pair));

    // A year-long certificate renewed next June: beyond the default 30 days.
    let current = pki.chain(&[MX], "ee-ecdsa", Validity::Current);
    let later = scenario(
        Host::new(MX)
            .tlsa(vec![tlsa(3, 1, 1, &current[0])])
            .serves(&current),
    )
    .report();
    assert!(!has(&later, Code::TlsaRolloverRisk));
    assert!(has(&later, Code::TlsaNoRollover));
    assert!(!has(&later, Code::CertExpiring));
}

/// Under DANE-TA the leaf's dates count (the anchor's do not): its expiry is a warning.
#[test]
fn an_expiring_leaf_under_dane_ta_is_a_warning() {
    let pki = Pki::new();
    let due = pki.chain(&[MX], "ee-ecdsa", Validity::RenewalDue);
    let r = scenario(
        Host::new(MX)
            .tlsa(vec![tlsa(2, 1, 1, &pki.inter.der)])
            .serves(&due),
    )
    .report();
    let f = finding(&r, Code::CertExpiring);
    assert_eq!(f.severity, Severity::Warning);
    assert!(
        f.title.contains("2026-12-09 00:00:00 UTC, in 11 days"),
        "{}",
        f.title
    );
    assert!(
        !has(&r, Code::TlsaRolloverRisk),
        "the intermediate survives a renewal"
    );
}

/// Our distinguished-name text is x509-parser's `Display` (x509-parser, which the browser
/// build does without, is the tests' oracle).
#[test]
fn names_read_as_x509_parser_writes_them() {
    let pki = Pki::new();
    let (chain, _) = acme_chain(&pki, "Let's Encrypt", Validity::Current);
    for der in chain.iter().chain([&pki.root.der, &pki.inter.der]) {
        use x509_parser::prelude::{FromDer, X509Certificate};
        let cert = mxtls_core::cert::ParsedCert::parse(der).expect("parses");
        let (_, x509) = X509Certificate::from_der(der).expect("x509-parser reads it");
        for (ours, theirs) in [
            (cert.subject_raw(), x509.subject()),
            (cert.issuer_raw(), x509.issuer()),
        ] {
            assert_eq!(mxtls_core::cert::name_text(ours), theirs.to_string());
        }
    }
}

/// A DNSKEY or DS of the chain of trust that got no answer is said (`lookahead-incomplete`,
/// a notice per zone naming what and why), and changes nothing else: not the status, not
/// the other findings, not the headline's cause.
#[test]
fn a_chain_lookup_that_got_no_answer_is_a_notice_and_nothing_more() {
    let pki = Pki::new();
    let leaf = pki.root.leaf(&[MX], "ee-ecdsa", Validity::Current);
    let scenario = scenario(
        Host::new(MX)
            .tlsa(vec![tlsa(3, 1, 1, &leaf)])
            .serves(std::slice::from_ref(&leaf)),
    );
    let complete = mxtls_core::analyse(&scenario.evidence(), NOW);
    let mut evidence = scenario.evidence();
    evidence.dnssec_chain = vec![
        failed_answer(
            "example.org",
            RecordType::DNSKEY,
            DnsOutcome::Timeout,
            DnssecState::Indeterminate {
                reason: "no answer within 10s".into(),
            },
        ),
        failed_answer(
            "example.org",
            RecordType::DS,
            DnsOutcome::Error {
                message: "connection closed".into(),
            },
            DnssecState::Indeterminate {
                reason: "connection closed".into(),
            },
        ),
        answer("org", RecordType::DS, Vec::new(), DnssecState::Secure),
    ];
    let partial = mxtls_core::analyse(&evidence, NOW);
    let notices: Vec<_> = partial
        .findings
        .iter()
        .filter(|f| f.code == Code::LookaheadIncomplete)
        .collect();
    assert_eq!(notices.len(), 1, "one per zone: {notices:#?}");
    let f = notices[0];
    assert_eq!(f.severity, Severity::Notice);
    assert!(
        f.title.contains("DNSKEY") && f.title.contains("DS") && f.title.contains("example.org"),
        "{}",
        f.title
    );
    assert!(f.title.contains("no answer in time") && f.title.contains("connection closed"));
    assert!(!has(&complete, Code::LookaheadIncomplete));
    let others = |r: &mxtls_core::Report| {
        let mut c: Vec<_> = codes(r)
            .into_iter()
            .filter(|c| *c != "lookahead-incomplete")
            .collect();
        c.sort();
        c
    };
    assert_eq!(others(&partial), others(&complete));
    assert_eq!(partial.summary.status, complete.summary.status);
}
