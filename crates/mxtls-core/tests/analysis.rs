//! MX interpretation, DNSSEC states, SMTP outcomes and PKIX, through `analyse`.

mod common;

use common::*;
use mxtls_core::evidence::{DnsOutcome, DnssecState, RrsigSupport, SessionError, Step};
use mxtls_core::names::RecordType;
use mxtls_core::report::{DaneStatus, Verdict};
use mxtls_core::{Code, Severity};

const MX: &str = "mx.example.org";

fn bogus() -> DnssecState {
    DnssecState::Bogus {
        reason: "RRSIG on _25._tcp.mx.example.org TLSA expired".into(),
    }
}

fn dane_host(pki: &Pki) -> Host {
    let chain = pki.chain(&[MX], "ee-ecdsa", Validity::Current);
    Host::new(MX)
        .tlsa(vec![tlsa(3, 1, 1, &chain[0])])
        .serves(&chain)
}

/// RFC 7505 §3: a null MX means the domain accepts no mail; nothing else is judged.
#[test]
fn null_mx() {
    let mut s = Scenario::new("example.org");
    s.mx_answer = Some(answer(
        "example.org",
        RecordType::MX,
        vec![mx_rdata(0, ".")],
        DnssecState::Secure,
    ));
    let r = s.report();
    assert_eq!(codes(&r), vec!["mx-null"]);
    assert!(r.summary.accepts_no_mail);
    assert!(!r.has_errors());
}

/// RFC 7505 §3: a null MX must not be mixed with other MX records.
#[test]
fn null_mx_mixed_with_others() {
    let pki = Pki::new();
    let mut s = Scenario::new("example.org").host(dane_host(&pki));
    s.mx_answer = Some(answer(
        "example.org",
        RecordType::MX,
        vec![mx_rdata(0, "."), mx_rdata(10, MX)],
        DnssecState::Secure,
    ));
    let r = s.report();
    assert_eq!(severity(&r, Code::MxNullMixed), Severity::Error);
    assert!(!has(&r, Code::MxNull));
    assert_eq!(
        verdict(&r),
        Verdict::Verified,
        "the real MX is still judged"
    );
}

/// RFC 5321 §5.1: no MX → the domain's own address is the mail host; DANE still applies
/// when that is secure (RFC 7672 §2.2.1).
#[test]
fn implicit_mx() {
    let pki = Pki::new();
    let chain = pki.chain(&["example.org"], "ee-ecdsa", Validity::Current);
    let mut host = Host::new("example.org")
        .tlsa(vec![tlsa(3, 1, 1, &chain[0])])
        .serves(&chain);
    host.preference = None;
    let r = Scenario::new("example.org").host(host).report();
    assert_eq!(severity(&r, Code::MxImplicit), Severity::Notice);
    assert_eq!(r.mx[0].preference, None);
    assert_eq!(verdict(&r), Verdict::Verified);
}

/// RFC 5321 §5.1: NXDOMAIN for the domain means mail bounces.
#[test]
fn nonexistent_domain() {
    let mut s = Scenario::new("example.org");
    s.mx_answer = Some(failed_answer(
        "example.org",
        RecordType::MX,
        DnsOutcome::NxDomain,
        DnssecState::Secure,
    ));
    let r = s.report();
    assert_eq!(severity(&r, Code::MxNone), Severity::Error);
}

/// RFC 7672 §2.2.1: an insecure MX RRset means DANE does not apply, even when the MX host
/// publishes TLSA records; the verdict then rests on PKIX.
#[test]
fn insecure_mx_disables_dane() {
    let pki = Pki::new();
    let mut s = Scenario::new("example.org").host(dane_host(&pki));
    s.mx_dnssec = DnssecState::Insecure;
    s.extra_roots = vec![pki.root.der.clone()];
    let r = s.report();
    assert_eq!(r.mx[0].dane, DaneStatus::NotApplicable);
    assert_eq!(severity(&r, Code::MxDnssecInsecure), Severity::Notice);
    assert!(
        finding(&r, Code::MxDnssecInsecure)
            .explanation
            .contains("publish TLSA records")
    );
    assert_eq!(severity(&r, Code::TlsaUnsigned), Severity::Warning);
    assert_eq!(verdict(&r), Verdict::Trusted);
    assert!(r.summary.strippable);
}

/// RFC 7672 §2.2: TLSA records in an unsigned zone are ignored by senders.
#[test]
fn unsigned_zone_with_tlsa() {
    let pki = Pki::new();
    let chain = pki.chain(&[MX], "ee-ecdsa", Validity::Current);
    let owner = "_25._tcp.mx.example.org";
    let host = Host::new(MX)
        .address_dnssec(DnssecState::Insecure)
        .tlsa_answer(answer(
            owner,
            RecordType::TLSA,
            vec![hickory_proto::rr::RData::TLSA(tlsa(3, 1, 1, &chain[0]))],
            DnssecState::Insecure,
        ))
        .serves(&chain);
    let mut s = Scenario::new("example.org").host(host);
    s.mx_dnssec = DnssecState::Insecure;
    let r = s.report();
    assert_eq!(severity(&r, Code::TlsaUnsigned), Severity::Warning);
    assert_eq!(r.mx[0].dane, DaneStatus::NotApplicable);
    assert_eq!(verdict(&r), Verdict::Untrusted);
    assert_eq!(severity(&r, Code::CertUntrusted), Severity::Warning);
}

/// RFC 7672 §2.2: an insecure "no TLSA" is normal: no DANE, no error.
#[test]
fn insecure_zone_without_tlsa_is_not_an_error() {
    let pki = Pki::new();
    let chain = pki.chain(&[MX], "ee-ecdsa", Validity::Current);
    let mut s = Scenario::new("example.org").host(
        Host::new(MX)
            .address_dnssec(DnssecState::Insecure)
            .serves(&chain),
    );
    s.mx_dnssec = DnssecState::Insecure;
    s.extra_roots = vec![pki.root.der.clone()];
    let r = s.report();
    assert!(!r.has_errors(), "{:?}", codes(&r));
    assert!(!has(&r, Code::TlsaLookupFailed) && !has(&r, Code::TlsaMissing));
    assert_eq!(verdict(&r), Verdict::Trusted);
    assert_eq!(severity(&r, Code::CertTrusted), Severity::Ok);
}

/// RFC 7672 §2.2: signed zones without TLSA: a notice offering the record to publish.
#[test]
fn secure_zone_without_tlsa_suggests_records() {
    let pki = Pki::new();
    let chain = pki.chain(&[MX], "ee-ecdsa", Validity::Current);
    let r = Scenario::new("example.org")
        .host(Host::new(MX).serves(&chain))
        .report();
    let f = finding(&r, Code::TlsaMissing);
    assert_eq!(f.severity, Severity::Notice);
    assert!(
        f.fix.as_ref().unwrap().records[0].starts_with("_25._tcp.mx.example.org. IN TLSA 3 1 1 ")
    );
    assert_eq!(r.mx[0].dane, DaneStatus::NotPublished);
}

/// RFC 7672 §2.2: a TLSA lookup that fails (SERVFAIL, timeout) makes DANE senders defer.
#[test]
fn tlsa_lookup_failure_is_an_error() {
    let pki = Pki::new();
    let chain = pki.chain(&[MX], "ee-ecdsa", Validity::Current);
    let failed = failed_answer(
        "_25._tcp.mx.example.org",
        RecordType::TLSA,
        DnsOutcome::ServFail,
        DnssecState::Secure,
    );
    let r = Scenario::new("example.org")
        .host(Host::new(MX).tlsa_answer(failed).serves(&chain))
        .report();
    assert_eq!(severity(&r, Code::TlsaLookupFailed), Severity::Error);
    assert_eq!(r.mx[0].dane, DaneStatus::Failed);
    assert!(!has(&r, Code::DnssecBogus));
}

/// RFC 7672 §2.1.1: a bogus TLSA RRset: the resolver says SERVFAIL; say why, and that
/// senders defer.
#[test]
fn bogus_tlsa_is_reported_with_its_reason() {
    let pki = Pki::new();
    let chain = pki.chain(&[MX], "ee-ecdsa", Validity::Current);
    let mut a = answer(
        "_25._tcp.mx.example.org",
        RecordType::TLSA,
        vec![hickory_proto::rr::RData::TLSA(tlsa(3, 1, 1, &chain[0]))],
        bogus(),
    );
    a.validation_failed = true;
    let r = Scenario::new("example.org")
        .host(Host::new(MX).tlsa_answer(a).serves(&chain))
        .report();
    assert_eq!(severity(&r, Code::DnssecBogus), Severity::Error);
    assert!(
        finding(&r, Code::DnssecBogus)
            .explanation
            .contains("RRSIG on _25._tcp.mx.example.org TLSA expired")
    );
    assert_eq!(severity(&r, Code::TlsaLookupFailed), Severity::Error);
    assert!(
        !has(&r, Code::DaneVerified),
        "bogus data must never authenticate"
    );
}

/// RFC 4035 §4.9: a resolver that strips signatures degrades the probe's view; the domain is
/// not blamed with insecure or bogus findings.
#[test]
fn resolver_stripping_dnssec_is_the_probes_problem() {
    let pki = Pki::new();
    let mut s = Scenario::new("example.org").host(dane_host(&pki));
    s.rrsigs = RrsigSupport::Absent;
    s.mx_dnssec = DnssecState::Insecure;
    let r = s.report();
    assert_eq!(severity(&r, Code::ResolverNoDnssec), Severity::Warning);
    assert!(!has(&r, Code::MxDnssecInsecure) && !has(&r, Code::TlsaUnsigned));
    assert_eq!(r.mx[0].dane, DaneStatus::Unknown);
}

/// RFC 2181 §10.3: an MX target must not be an alias.
#[test]
fn mx_pointing_at_a_cname() {
    let pki = Pki::new();
    let mut host = dane_host(&pki);
    host.cname_to = Some("real.example.org".into());
    let r = Scenario::new("example.org").host(host).report();
    assert_eq!(severity(&r, Code::MxCname), Severity::Warning);
}

/// RFC 7505 §4 spirit: an MX naming an IP address is unusable.
#[test]
fn mx_ip_literal() {
    let mut s = Scenario::new("example.org");
    s.mx_answer = Some(answer(
        "example.org",
        RecordType::MX,
        vec![mx_rdata(10, "192.0.2.1")],
        DnssecState::Secure,
    ));
    let r = s.report();
    assert_eq!(severity(&r, Code::MxIpLiteral), Severity::Error);
}

/// RFC 3207 §4: no STARTTLS → cleartext; under DANE the explanation says senders defer.
#[test]
fn starttls_missing() {
    let pki = Pki::new();
    let chain = pki.chain(&[MX], "ee-ecdsa", Validity::Current);
    let host = Host::new(MX)
        .tlsa(vec![tlsa(3, 1, 1, &chain[0])])
        .session(plain_session(&["mx.test", "PIPELINING", "8BITMIME"]));
    let r = Scenario::new("example.org").host(host).report();
    assert_eq!(verdict(&r), Verdict::NoStarttls);
    let f = finding(&r, Code::StarttlsMissing);
    assert_eq!(f.severity, Severity::Error);
    assert!(f.explanation.contains("defer"));
}

/// RFC 3207 §6: an EHLO with STARTTLS overwritten by X's is a middlebox stripping it.
#[test]
fn starttls_stripped() {
    let host = Host::new(MX).session(plain_session(&["mx.test", "PIPELINING", "XXXXXXXA"]));
    let r = Scenario::new("example.org").host(host).report();
    assert_eq!(verdict(&r), Verdict::NoStarttls);
    assert_eq!(severity(&r, Code::StarttlsStripped), Severity::Error);
    assert!(!has(&r, Code::StarttlsMissing));
}

/// A 220 to STARTTLS followed by cleartext is a middlebox answering for the server.
#[test]
fn cleartext_after_starttls_is_stripping() {
    let mut s = stopped_session(
        Step::Handshake,
        SessionError::CleartextAfterStarttls {
            text: "250 OK".into(),
        },
    );
    s.starttls = Some(mxtls_core::evidence::Reply {
        code: 220,
        lines: vec!["Go ahead".into()],
    });
    let r = Scenario::new("example.org")
        .host(Host::new(MX).session(s))
        .report();
    assert_eq!(verdict(&r), Verdict::TlsFailed);
    assert_eq!(severity(&r, Code::StarttlsStripped), Severity::Error);
}

/// RFC 3207 §4.1: STARTTLS advertised then refused (454) or a broken handshake.
#[test]
fn starttls_failed() {
    let mut refused = stopped_session(Step::Starttls, SessionError::Rejected { code: 454 });
    refused.starttls = Some(mxtls_core::evidence::Reply {
        code: 454,
        lines: vec!["4.7.0 TLS not available".into()],
    });
    let r = Scenario::new("example.org")
        .host(Host::new(MX).session(refused))
        .report();
    assert_eq!(verdict(&r), Verdict::TlsFailed);
    assert!(
        finding(&r, Code::StarttlsFailed)
            .explanation
            .contains("454")
    );

    let broken = stopped_session(
        Step::Handshake,
        SessionError::TlsAlert {
            description: "HandshakeFailure".into(),
        },
    );
    let r = Scenario::new("example.org")
        .host(Host::new(MX).session(broken))
        .report();
    assert_eq!(verdict(&r), Verdict::TlsFailed);
    assert_eq!(severity(&r, Code::StarttlsFailed), Severity::Error);
}

/// A refused connection is unreachable; a 421 greeting or a reset is inconclusive, not a
/// failure of the domain. With nothing judged, the servers could not be tested: from one
/// vantage point a server that is down looks like port 25 blocked on the probe's side.
#[test]
fn unreachable_and_inconclusive() {
    let r = Scenario::new("example.org")
        .host(Host::new(MX).session(stopped_session(Step::Connect, SessionError::ConnectRefused)))
        .report();
    assert_eq!(verdict(&r), Verdict::Unreachable);
    assert!(
        r.findings
            .iter()
            .any(|f| f.code == Code::SmtpUnreachable && f.severity == Severity::Warning),
        "the only address is unreachable from here: {:?}",
        codes(&r)
    );
    assert!(!r.has_errors());
    assert_eq!(r.summary.status, mxtls_core::report::Status::NotTested);
    assert!(
        r.summary.headline.contains("could be tested"),
        "{}",
        r.summary.headline
    );

    let mut greeted_421 = stopped_session(Step::Banner, SessionError::Rejected { code: 421 });
    greeted_421.banner = Some(mxtls_core::evidence::Reply {
        code: 421,
        lines: vec!["Too many connections".into()],
    });
    let r = Scenario::new("example.org")
        .host(Host::new(MX).session(greeted_421))
        .report();
    assert_eq!(verdict(&r), Verdict::Inconclusive);
    assert_eq!(severity(&r, Code::SmtpInconclusive), Severity::Notice);
    assert!(!r.has_errors());

    let reset = stopped_session(Step::Banner, SessionError::Reset);
    let r = Scenario::new("example.org")
        .host(Host::new(MX).session(reset))
        .report();
    assert_eq!(verdict(&r), Verdict::Inconclusive);
}

/// RFC 6890: an MX address that is not public is refused by the target policy.
#[test]
fn refused_address() {
    let mut host = Host::new(MX);
    host.ips = vec!["10.0.0.25".into()];
    host.refused = true;
    let r = Scenario::new("example.org").host(host).report();
    assert_eq!(verdict(&r), Verdict::Refused);
    assert_eq!(severity(&r, Code::AddressRefused), Severity::Warning);
}

/// RFC 5280 §6 / RFC 6125 §6: without DANE the verdict is PKIX: trusted only with a chain to a
/// trusted root and the MX name; otherwise warnings.
#[test]
fn pkix_without_dane() {
    let pki = Pki::new();
    let good = pki.chain(&[MX], "ee-ecdsa", Validity::Current);
    let mut s = Scenario::new("example.org").host(
        Host::new(MX)
            .address_dnssec(DnssecState::Insecure)
            .serves(&good),
    );
    s.mx_dnssec = DnssecState::Insecure;
    s.extra_roots = vec![pki.root.der.clone()];
    assert_eq!(verdict(&s.report()), Verdict::Trusted);

    s.extra_roots.clear();
    let r = s.report();
    assert_eq!(verdict(&r), Verdict::Untrusted);
    assert_eq!(severity(&r, Code::CertUntrusted), Severity::Warning);

    let wrong = pki.chain(&["other.example.net"], "ee-ecdsa", Validity::Current);
    let mut s = Scenario::new("example.org").host(
        Host::new(MX)
            .address_dnssec(DnssecState::Insecure)
            .serves(&wrong),
    );
    s.mx_dnssec = DnssecState::Insecure;
    s.extra_roots = vec![pki.root.der.clone()];
    let r = s.report();
    assert_eq!(verdict(&r), Verdict::Untrusted);
    assert_eq!(severity(&r, Code::CertNameMismatch), Severity::Warning);

    let expired = pki.chain(&[MX], "ee-ecdsa", Validity::Expired);
    let mut s = Scenario::new("example.org").host(
        Host::new(MX)
            .address_dnssec(DnssecState::Insecure)
            .serves(&expired),
    );
    s.mx_dnssec = DnssecState::Insecure;
    s.extra_roots = vec![pki.root.der.clone()];
    let r = s.report();
    assert_eq!(severity(&r, Code::CertExpired), Severity::Warning);

    // A chain without its intermediate does not validate.
    let mut s = Scenario::new("example.org").host(
        Host::new(MX)
            .address_dnssec(DnssecState::Insecure)
            .serves(&good[..1]),
    );
    s.mx_dnssec = DnssecState::Insecure;
    s.extra_roots = vec![pki.root.der.clone()];
    assert_eq!(
        severity(&s.report(), Code::CertUntrusted),
        Severity::Warning
    );
}

/// Two MX hosts, one good and one without STARTTLS: each judged on its own.
#[test]
fn two_hosts_judged_separately() {
    let pki = Pki::new();
    let mut bad = Host::new("mx2.example.org").session(plain_session(&["mx2", "PIPELINING"]));
    bad.preference = Some(20);
    bad.ips = vec!["192.0.2.26".into()];
    let r = Scenario::new("example.org")
        .host(dane_host(&pki))
        .host(bad)
        .report();
    assert_eq!(r.mx[0].addresses[0].tls, Verdict::Verified);
    assert_eq!(r.mx[1].addresses[0].tls, Verdict::NoStarttls);
    assert!(r.has_errors());
    assert!(r.summary.headline.contains("cleartext"));
}

/// Findings are ordered most severe first: errors, warnings, notices, then what is right —
/// the order written out here, not the code's own `Ord`.
#[test]
fn findings_are_sorted_by_severity() {
    let r = Scenario::new("example.org")
        .host(Host::new(MX).session(plain_session(&["mx", "X"])))
        .report();
    let order = ["error", "warning", "notice", "ok"];
    let ranks: Vec<usize> = r
        .findings
        .iter()
        .map(|f| {
            order
                .iter()
                .position(|o| *o == f.severity.id())
                .expect("a known severity")
        })
        .collect();
    let mut distinct = ranks.clone();
    distinct.dedup();
    assert!(
        distinct.len() >= 3,
        "the case must mix severities: {:?}",
        codes(&r)
    );
    assert!(
        ranks.windows(2).all(|w| w[0] <= w[1]),
        "most severe first: {:?}",
        r.findings
            .iter()
            .map(|f| (f.code.as_str(), f.severity.id()))
            .collect::<Vec<_>>()
    );
}

/// A lookup that got no answer (a timeout) is a failed lookup that senders retry, not a
/// DNSSEC failure with "re-sign the zone" as its fix.
#[test]
fn a_timed_out_lookup_is_a_dns_failure_not_a_dnssec_one() {
    let mut s = Scenario::new("example.org");
    s.mx_answer = Some(failed_answer(
        "example.org",
        RecordType::MX,
        DnsOutcome::Timeout,
        DnssecState::Indeterminate {
            reason: "no answer within 10s".into(),
        },
    ));
    let r = s.report();
    assert_eq!(severity(&r, Code::DnsLookupFailed), Severity::Error);
    assert!(!has(&r, Code::DnssecIndeterminate) && !has(&r, Code::DnssecBogus));
    assert!(
        r.findings
            .iter()
            .all(|f| f.fix.as_ref().is_none_or(|x| !x.text.contains("Re-sign"))),
        "{:?}",
        r.findings
    );
}

/// The `_mta-sts` and `_smtp._tls` lookups timing out (the MX fine) are failed lookups, not
/// invalid or missing records: senders keep a cached policy, and nobody can tell whether a
/// record is published.
#[test]
fn timed_out_mta_sts_and_tls_rpt_lookups_are_failed_lookups() {
    let pki = Pki::new();
    let mut ev = Scenario::new("example.org")
        .host(dane_host(&pki))
        .evidence();
    let timeout = |q: &str| {
        failed_answer(
            q,
            RecordType::TXT,
            DnsOutcome::Timeout,
            DnssecState::Indeterminate {
                reason: "no answer within 10s".into(),
            },
        )
    };
    ev.mta_sts.txt = Some(timeout("_mta-sts.example.org"));
    ev.tls_rpt = Some(timeout("_smtp._tls.example.org"));
    let r = mxtls_core::analyse(&ev, NOW);
    let failed: Vec<(&str, Severity)> = r
        .findings
        .iter()
        .filter(|f| f.code == Code::DnsLookupFailed)
        .map(|f| (f.title.as_str(), f.severity))
        .collect();
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert!(failed.iter().all(|(_, s)| *s == Severity::Warning));
    for absent in [
        Code::MtaStsTxtInvalid,
        Code::MtaStsMissing,
        Code::TlsRptMissing,
        Code::TlsRptInvalid,
        Code::DnssecIndeterminate,
    ] {
        assert!(!has(&r, absent), "{absent} in {:?}", codes(&r));
    }
}
