//! MTA-STS (RFC 8461) and the sender matrix judged on whole evidence with real certificate
//! chains: the policy host's chain and the MX host's chain come from the test PKI, whose root
//! the evidence records as trusted (as a test world would), so "PKIX-valid" is a real path
//! validation, not a flag.

mod common;

use common::*;
use hickory_proto::rr::RData;
use hickory_proto::rr::rdata::TXT;
use mxtls_core::evidence::{Bytes, DnssecState, Evidence, FetchFailure, PolicyFetch, TlsEvidence};
use mxtls_core::names::RecordType;
use mxtls_core::report::Verdict;
use mxtls_core::report::{Delivery, Protection, Sender, SenderOutcome};
use mxtls_core::tls::{CipherSuite, NamedGroup, TlsVersion};
use mxtls_core::{Code, Report, Severity, analyse};

const DOMAIN: &str = "example.org";
const MX: &str = "mx.example.org";
const POLICY_HOST: &str = "mta-sts.example.org";

fn enforce() -> String {
    format!("version: STSv1\r\nmode: enforce\r\nmx: {MX}\r\nmax_age: 604800\r\n")
}

/// A policy fetch as the probe records it: a chain for `names`, status 200, text/plain.
fn fetch(pki: &Pki, names: &[&str], body: &str) -> PolicyFetch {
    PolicyFetch {
        url: format!("https://{POLICY_HOST}/.well-known/mta-sts.txt"),
        address: Some("192.0.2.80".parse().expect("ip")),
        status: Some(200),
        content_type: Some("text/plain; charset=utf-8".into()),
        location: None,
        body: Some(Bytes(body.as_bytes().to_vec())),
        tls: Some(TlsEvidence {
            sni: name(POLICY_HOST),
            version: Some(TlsVersion::TLS13),
            cipher_suite: Some(CipherSuite(0x1301)),
            kx_group: Some(NamedGroup(0x001d)),
            chain: pki
                .chain(names, "ee2-ecdsa", Validity::Current)
                .into_iter()
                .map(Bytes)
                .collect(),
        }),
        error: None,
        elapsed_ms: Some(12),
        failure: None,
        lookups: Vec::new(),
    }
}

/// An unsigned domain (DANE cannot apply) whose one MX host presents `mx_chain` over
/// `tls_version`, with an `_mta-sts` TXT record and `policy` as fetched.
fn evidence(pki: &Pki, tls_version: TlsVersion, policy: Option<PolicyFetch>) -> Evidence {
    let chain = pki.chain(&[MX], "ee-ecdsa", Validity::Current);
    let mut session = tls_session(&chain, mxtls_core::evidence::KeyTypeOffer::Any, MX);
    if let Some(tls) = session.tls.as_mut() {
        tls.version = Some(tls_version);
    }
    let mut scenario = Scenario::new(DOMAIN).host(
        Host::new(MX)
            .address_dnssec(DnssecState::Insecure)
            .session(session),
    );
    scenario.mx_dnssec = DnssecState::Insecure;
    scenario.extra_roots = vec![pki.root.der.clone()];
    let mut ev = scenario.evidence();
    ev.mta_sts.txt = Some(answer(
        &format!("_mta-sts.{DOMAIN}"),
        RecordType::TXT,
        vec![RData::TXT(TXT::new(vec!["v=STSv1; id=20261128".into()]))],
        DnssecState::Insecure,
    ));
    ev.mta_sts.policy = policy;
    ev
}

fn row(r: &Report, s: Sender) -> &SenderOutcome {
    r.senders
        .iter()
        .find(|o| o.sender == s)
        .unwrap_or_else(|| panic!("no row for {s:?}"))
}

fn sorted_codes(r: &Report) -> Vec<&'static str> {
    let mut c = codes(r);
    c.sort_unstable();
    c.dedup();
    c
}

/// RFC 8461 §5: an enforced policy naming the MX host, with a PKIX-valid certificate for
/// it: MTA-STS senders deliver authenticated and stripping fails for them — and only them.
#[test]
fn an_enforced_policy_with_valid_certificates_stops_stripping_for_mta_sts_senders() {
    let pki = Pki::new();
    let r = analyse(
        &evidence(
            &pki,
            TlsVersion::TLS13,
            Some(fetch(&pki, &[POLICY_HOST], &enforce())),
        ),
        NOW,
    );
    assert_eq!(verdict(&r), Verdict::Trusted);
    assert_eq!(r.downgrade_protection, Protection::MtaSts);
    assert_eq!(
        sorted_codes(&r),
        [
            "cert-trusted",
            "mta-sts-enforce",
            "mx-dnssec-insecure",
            "tlsrpt-missing"
        ]
    );
    let sts = row(&r, Sender::MtaSts);
    assert_eq!(sts.delivery, Delivery::Authenticated);
    assert!(!sts.stripping_succeeds);
    for other in [
        Sender::Dane,
        Sender::Opportunistic,
        Sender::DefersOnTlsFailure,
    ] {
        let o = row(&r, other);
        assert_eq!(o.delivery, Delivery::Encrypted, "{other:?}");
        assert!(o.stripping_succeeds, "{other:?}: nothing stops stripping");
    }
}

/// RFC 8461 §5: testing mode reports but protects nobody.
#[test]
fn testing_mode_protects_nobody() {
    let pki = Pki::new();
    let testing = enforce().replace("enforce", "testing");
    let r = analyse(
        &evidence(
            &pki,
            TlsVersion::TLS13,
            Some(fetch(&pki, &[POLICY_HOST], &testing)),
        ),
        NOW,
    );
    assert_eq!(r.downgrade_protection, Protection::None);
    assert_eq!(severity(&r, Code::MtaStsTesting), Severity::Notice);
    let sts = row(&r, Sender::MtaSts);
    assert_eq!(sts.delivery, Delivery::Encrypted);
    assert!(sts.stripping_succeeds);
}

/// RFC 8461 §5: `mode: none` withdraws the policy: no host is judged against it.
#[test]
fn mode_none_withdraws_the_policy() {
    let pki = Pki::new();
    let none = format!("version: STSv1\nmode: none\nmx: {MX}\nmax_age: 86400\n");
    let r = analyse(
        &evidence(
            &pki,
            TlsVersion::TLS13,
            Some(fetch(&pki, &[POLICY_HOST], &none)),
        ),
        NOW,
    );
    assert_eq!(r.downgrade_protection, Protection::None);
    assert_eq!(severity(&r, Code::MtaStsNone), Severity::Notice);
    assert!(!has(&r, Code::MtaStsEnforce) && !has(&r, Code::MtaStsMissing));
    assert!(!has(&r, Code::MtaStsMxNotCovered) && !has(&r, Code::MtaStsMxCertInvalid));
    assert!(row(&r, Sender::MtaSts).stripping_succeeds);
}

/// RFC 8461 §4.2: under enforce the MX host must offer TLS 1.2 or later; TLS 1.1 fails the
/// policy, so MTA-STS senders defer — and the old version is a finding of its own.
#[test]
fn tls_below_1_2_fails_an_enforced_policy() {
    let pki = Pki::new();
    let r = analyse(
        &evidence(
            &pki,
            TlsVersion::TLS11,
            Some(fetch(&pki, &[POLICY_HOST], &enforce())),
        ),
        NOW,
    );
    assert_eq!(severity(&r, Code::MtaStsMxCertInvalid), Severity::Error);
    assert_eq!(severity(&r, Code::TlsOldVersion), Severity::Warning);
    let sts = row(&r, Sender::MtaSts);
    assert_eq!(sts.delivery, Delivery::Deferred);
    assert!(
        !sts.stripping_succeeds,
        "deferred mail cannot be read either"
    );
    assert_eq!(row(&r, Sender::Opportunistic).delivery, Delivery::Encrypted);
}

/// The reason a policy cannot be used, as the fetch failure finding words it. A warning:
/// mail still flows as it would without a policy (encrypted here, and strippable), which is
/// what the status says too.
fn fetch_failure(policy: PolicyFetch) -> String {
    let pki = Pki::new();
    let r = analyse(&evidence(&pki, TlsVersion::TLS13, Some(policy)), NOW);
    assert_eq!(
        severity(&r, Code::MtaStsPolicyFetchFailed),
        Severity::Warning
    );
    assert_eq!(
        r.summary.status,
        mxtls_core::report::Status::Strippable {
            authenticated: true
        }
    );
    assert_eq!(r.downgrade_protection, Protection::None, "no usable policy");
    assert!(row(&r, Sender::MtaSts).stripping_succeeds);
    assert!(!has(&r, Code::MtaStsEnforce));
    finding(&r, Code::MtaStsPolicyFetchFailed)
        .explanation
        .clone()
}

/// RFC 8461 §3.3: the policy host's certificate must be valid for `mta-sts.<domain>`.
#[test]
fn a_policy_host_certificate_for_another_name_is_refused() {
    let pki = Pki::new();
    let why = fetch_failure(fetch(&pki, &["www.example.org"], &enforce()));
    assert!(
        why.contains("is for www.example.org and not for mta-sts.example.org"),
        "{why}"
    );
}

/// RFC 8461 §3.3: the policy must be served as text/plain.
#[test]
fn a_policy_served_as_html_is_refused() {
    let pki = Pki::new();
    let mut policy = fetch(&pki, &[POLICY_HOST], &enforce());
    policy.content_type = Some("text/html".into());
    let why = fetch_failure(policy);
    assert!(why.contains("served as text/html, not text/plain"), "{why}");
}

/// A policy host that never finished answering: no policy.
#[test]
fn a_policy_fetch_that_timed_out_is_no_policy() {
    let pki = Pki::new();
    let mut policy = fetch(&pki, &[POLICY_HOST], "");
    policy.body = None;
    policy.status = None;
    policy.failure = Some(FetchFailure::Timeout);
    let why = fetch_failure(policy);
    assert!(why.contains("did not answer in time"), "{why}");
}

/// RFC 8461 §3.3: a body over the size limit (here as the probe records an oversized chunked
/// body) is no policy.
#[test]
fn a_policy_over_64_kb_is_no_policy() {
    let pki = Pki::new();
    let mut policy = fetch(&pki, &[POLICY_HOST], "");
    policy.body = None;
    policy.failure = Some(FetchFailure::TooLarge {
        limit: mxtls_core::mta_sts::MAX_POLICY_BYTES,
    });
    let why = fetch_failure(policy);
    assert!(why.contains("larger than 64 KB"), "{why}");
}
