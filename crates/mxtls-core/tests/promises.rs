//! The report's promises (`mxtls_core::promises`) as properties: evidence generated from the
//! shapes the test world has — any mix of MX hosts and addresses, DNSSEC states, TLSA sets,
//! key types, certificates, STARTTLS outcomes, MTA-STS policies and TLS-RPT — judged, and
//! every promise checked on the report. A counterexample proptest finds is shrunk and kept
//! below as a regression case (`found_*`), which runs on every build.

mod common;

use std::sync::OnceLock;

use common::*;
use hickory_proto::rr::RData;
use hickory_proto::rr::rdata::TXT;
use mxtls_core::evidence::{
    Bytes, DnsOutcome, DnssecState, Evidence, FetchFailure, KeyTypeOffer, PolicyFetch,
    SessionError, Step, TlsEvidence,
};
use mxtls_core::names::RecordType;
use mxtls_core::promises;
use mxtls_core::tls::{CipherSuite, NamedGroup, TlsVersion};
use mxtls_core::{analyse, report::Report};
use proptest::prelude::*;

const DOMAIN: &str = "example.org";
const HOSTS: [&str; 3] = ["mx1.example.org", "mx2.example.org", "mx3.example.net"];

/// What DNS says about a name.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Sec {
    Secure,
    Insecure,
    Bogus,
}

impl Sec {
    fn state(self) -> DnssecState {
        match self {
            Sec::Secure => DnssecState::Secure,
            Sec::Insecure => DnssecState::Insecure,
            Sec::Bogus => DnssecState::Bogus {
                reason: "signature expired".into(),
            },
        }
    }
}

/// The TLSA RRset of a host.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Tlsa {
    None,
    /// `3 1 1` of the key the host serves.
    Matches,
    /// `2 1 1` of the test intermediate.
    TaMatches,
    /// `3 1 1` of another key.
    Mismatch,
    /// Only PKIX usages (0/1), unusable for SMTP.
    Unusable,
    LookupFailed,
    Bogus,
}

/// What one address does.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Server {
    Good,
    GoodRsa,
    Untrusted,
    Expired,
    WrongName,
    OldTls,
    NoStarttls,
    TlsFails,
    Silent,
    Unreachable,
    Limited,
    Refused,
}

#[derive(Debug, Clone)]
struct HostShape {
    addresses: Sec,
    tlsa: Tlsa,
    servers: Vec<Server>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mx {
    Normal(Sec),
    Null,
    Failed,
}

#[derive(Debug, Clone, PartialEq)]
enum Sts {
    None,
    /// An enforced policy listing the hosts marked true.
    Enforce(Vec<bool>),
    Testing,
    FetchFails,
}

#[derive(Debug, Clone)]
struct Shape {
    mx: Mx,
    hosts: Vec<HostShape>,
    /// The second host's preference equals the first's.
    same_preference: bool,
    sts: Sts,
    tls_rpt: bool,
}

fn sec() -> impl Strategy<Value = Sec> {
    prop_oneof![
        4 => Just(Sec::Secure),
        3 => Just(Sec::Insecure),
        1 => Just(Sec::Bogus),
    ]
}

fn server() -> impl Strategy<Value = Server> {
    prop_oneof![
        6 => Just(Server::Good),
        2 => Just(Server::GoodRsa),
        2 => Just(Server::Untrusted),
        1 => Just(Server::Expired),
        1 => Just(Server::WrongName),
        1 => Just(Server::OldTls),
        2 => Just(Server::NoStarttls),
        2 => Just(Server::TlsFails),
        1 => Just(Server::Silent),
        1 => Just(Server::Unreachable),
        1 => Just(Server::Limited),
        1 => Just(Server::Refused),
    ]
}

fn host_shape() -> impl Strategy<Value = HostShape> {
    let tlsa = prop_oneof![
        3 => Just(Tlsa::None),
        4 => Just(Tlsa::Matches),
        1 => Just(Tlsa::TaMatches),
        2 => Just(Tlsa::Mismatch),
        1 => Just(Tlsa::Unusable),
        1 => Just(Tlsa::LookupFailed),
        1 => Just(Tlsa::Bogus),
    ];
    (sec(), tlsa, prop::collection::vec(server(), 1..=2)).prop_map(|(addresses, tlsa, servers)| {
        HostShape {
            addresses,
            tlsa,
            servers,
        }
    })
}

fn shape() -> impl Strategy<Value = Shape> {
    let mx = prop_oneof![
        12 => sec().prop_map(Mx::Normal),
        1 => Just(Mx::Null),
        1 => Just(Mx::Failed),
    ];
    let sts = prop_oneof![
        3 => Just(Sts::None),
        3 => prop::collection::vec(prop::bool::weighted(0.8), 3).prop_map(Sts::Enforce),
        1 => Just(Sts::Testing),
        1 => Just(Sts::FetchFails),
    ];
    (
        mx,
        prop::collection::vec(host_shape(), 1..=3),
        any::<bool>(),
        sts,
        any::<bool>(),
    )
        .prop_map(|(mx, hosts, same_preference, sts, tls_rpt)| Shape {
            mx,
            hosts,
            same_preference,
            sts,
            tls_rpt,
        })
}

/// The certificates the shapes use, made once.
struct Certs {
    pki: Pki,
    other: Ca,
}

fn certs() -> &'static Certs {
    static CERTS: OnceLock<Certs> = OnceLock::new();
    CERTS.get_or_init(|| Certs {
        pki: Pki::new(),
        other: Ca::root("another root", "other-ca-ecdsa"),
    })
}

fn chain(server: Server, host: &str) -> Vec<Vec<u8>> {
    let c = certs();
    match server {
        Server::GoodRsa => c.pki.chain(&[host], "ee-rsa", Validity::Current),
        Server::Untrusted => vec![c.other.leaf(&[host], "ee-ecdsa", Validity::Current)],
        Server::Expired => c.pki.chain(&[host], "ee-ecdsa", Validity::Expired),
        Server::WrongName => c
            .pki
            .chain(&["elsewhere.example"], "ee-ecdsa", Validity::Current),
        _ => c.pki.chain(&[host], "ee-ecdsa", Validity::Current),
    }
}

fn session(server: Server, host: &str) -> mxtls_core::evidence::SmtpSession {
    let tls = |s: Server| tls_session(&chain(s, host), KeyTypeOffer::Any, host);
    match server {
        Server::OldTls => {
            let mut s = tls(Server::Good);
            if let Some(t) = s.tls.as_mut() {
                t.version = Some(TlsVersion::TLS10);
                t.cipher_suite = Some(CipherSuite(0xc013));
            }
            s
        }
        Server::NoStarttls => plain_session(&["mx.test", "PIPELINING", "8BITMIME"]),
        Server::TlsFails => stopped_session(
            Step::Handshake,
            SessionError::TlsAlert {
                description: "handshake_failure".into(),
            },
        ),
        Server::Silent => stopped_session(Step::Banner, SessionError::Timeout),
        Server::Unreachable => stopped_session(Step::Connect, SessionError::ConnectRefused),
        Server::Limited => stopped_session(Step::Banner, SessionError::Rejected { code: 421 }),
        s => tls(s),
    }
}

fn tlsa_answer(shape: &HostShape, host: &str) -> Option<mxtls_core::evidence::DnsAnswer> {
    let c = certs();
    let owner = format!("_25._tcp.{host}");
    let leaf = chain(shape.servers[0], host).remove(0);
    let records = |r: Vec<hickory_proto::rr::rdata::TLSA>, state: DnssecState| {
        answer(
            &owner,
            RecordType::TLSA,
            r.into_iter().map(RData::TLSA).collect(),
            state,
        )
    };
    Some(match shape.tlsa {
        Tlsa::None => return None,
        Tlsa::Matches => records(vec![tlsa(3, 1, 1, &leaf)], DnssecState::Secure),
        Tlsa::TaMatches => records(vec![tlsa(2, 1, 1, &c.pki.inter.der)], DnssecState::Secure),
        Tlsa::Mismatch => records(vec![tlsa(3, 1, 1, &c.other.der)], DnssecState::Secure),
        Tlsa::Unusable => records(vec![tlsa(1, 1, 1, &leaf)], DnssecState::Secure),
        Tlsa::LookupFailed => failed_answer(
            &owner,
            RecordType::TLSA,
            DnsOutcome::ServFail,
            DnssecState::Indeterminate {
                reason: "no answer".into(),
            },
        ),
        Tlsa::Bogus => {
            let mut a = records(
                vec![tlsa(3, 1, 1, &leaf)],
                DnssecState::Bogus {
                    reason: "signature expired".into(),
                },
            );
            a.validation_failed = true;
            a
        }
    })
}

fn evidence(shape: &Shape) -> Evidence {
    let mut scenario = Scenario::new(DOMAIN);
    scenario.extra_roots = vec![certs().pki.root.der.clone()];
    for (i, h) in shape.hosts.iter().enumerate() {
        let name = HOSTS[i];
        let mut host = Host::new(name).address_dnssec(h.addresses.state());
        host.preference = Some(if i == 1 && shape.same_preference {
            10
        } else {
            10 * (i as u16 + 1)
        });
        host.ips = (0..h.servers.len())
            .map(|k| format!("192.0.2.{}", 10 * (i + 1) + k))
            .collect();
        host.refused = h.servers.contains(&Server::Refused);
        if let Some(a) = tlsa_answer(h, name) {
            host = host.tlsa_answer(a);
        }
        scenario = scenario.host(host);
    }
    if let Mx::Normal(s) = shape.mx {
        scenario.mx_dnssec = s.state();
    }
    let mut ev = scenario.evidence();
    // One session per address, each address its own server.
    for (h, shape_h) in ev.hosts.iter_mut().zip(&shape.hosts) {
        let name = h.name.as_str().to_owned();
        for (a, server) in h.addresses.iter_mut().zip(&shape_h.servers) {
            if !a.sessions.is_empty() || *server != Server::Refused {
                a.sessions = vec![session(*server, &name)];
            }
            if *server == Server::Refused {
                a.sessions.clear();
            }
        }
    }
    match shape.mx {
        Mx::Null => {
            ev.mx = answer(
                DOMAIN,
                RecordType::MX,
                vec![mx_rdata(0, ".")],
                DnssecState::Secure,
            );
            ev.hosts.clear();
        }
        Mx::Failed => {
            ev.mx = failed_answer(
                DOMAIN,
                RecordType::MX,
                DnsOutcome::ServFail,
                DnssecState::Indeterminate {
                    reason: "no answer".into(),
                },
            );
            ev.hosts.clear();
        }
        Mx::Normal(Sec::Bogus) => ev.mx.validation_failed = true,
        Mx::Normal(_) => {}
    }
    sts(&mut ev, shape);
    if shape.tls_rpt {
        ev.tls_rpt = Some(answer(
            &format!("_smtp._tls.{DOMAIN}"),
            RecordType::TXT,
            vec![RData::TXT(TXT::new(vec![
                "v=TLSRPTv1; rua=mailto:tlsrpt@example.org".into(),
            ]))],
            DnssecState::Secure,
        ));
    }
    ev
}

fn sts(ev: &mut Evidence, shape: &Shape) {
    let (mode, covers) = match &shape.sts {
        Sts::None => return,
        Sts::Enforce(covers) => ("enforce", covers.clone()),
        Sts::Testing => ("testing", vec![true; 3]),
        Sts::FetchFails => ("enforce", vec![true; 3]),
    };
    ev.mta_sts.txt = Some(answer(
        &format!("_mta-sts.{DOMAIN}"),
        RecordType::TXT,
        vec![RData::TXT(TXT::new(vec!["v=STSv1; id=20261128".into()]))],
        DnssecState::Insecure,
    ));
    let listed: String = HOSTS
        .iter()
        .zip(covers)
        .filter(|(_, c)| *c)
        .map(|(h, _)| format!("mx: {h}\r\n"))
        .collect();
    let body = format!("version: STSv1\r\nmode: {mode}\r\n{listed}max_age: 604800\r\n");
    let policy_host = format!("mta-sts.{DOMAIN}");
    let mut fetch = PolicyFetch {
        url: format!("https://{policy_host}/.well-known/mta-sts.txt"),
        address: "192.0.2.80".parse().ok(),
        status: Some(200),
        content_type: Some("text/plain".into()),
        body: Some(Bytes(body.into_bytes())),
        tls: Some(TlsEvidence {
            sni: name(&policy_host),
            version: Some(TlsVersion::TLS13),
            cipher_suite: Some(CipherSuite(0x1301)),
            kx_group: Some(NamedGroup(0x001d)),
            chain: certs()
                .pki
                .chain(&[&policy_host], "ee2-ecdsa", Validity::Current)
                .into_iter()
                .map(Bytes)
                .collect(),
        }),
        elapsed_ms: Some(10),
        ..PolicyFetch::default()
    };
    if shape.sts == Sts::FetchFails {
        fetch.status = None;
        fetch.body = None;
        fetch.failure = Some(FetchFailure::Timeout);
    }
    ev.mta_sts.policy = Some(fetch);
}

/// The broken promises of `shape`'s report, as text for the failure message.
fn broken(shape: &Shape) -> (Report, Vec<String>) {
    let report = analyse(&evidence(shape), NOW);
    let broken = promises::check(&report)
        .into_iter()
        .map(|b| format!("{:?}: {}", b.promise, b.detail))
        .collect();
    (report, broken)
}

fn assert_kept(shape: &Shape) {
    let (report, broken) = broken(shape);
    assert!(
        broken.is_empty(),
        "{shape:?}\nheadline: {}\nbroken: {broken:#?}",
        report.summary.headline
    );
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        .. ProptestConfig::default()
    })]

    /// Every promise holds on every generated domain.
    #[test]
    fn every_report_keeps_its_promises(shape in shape()) {
        let (report, broken) = broken(&shape);
        prop_assert!(broken.is_empty(), "headline: {}\nbroken: {broken:#?}", report.summary.headline);
    }
}

fn host(tlsa: Tlsa, servers: &[Server]) -> HostShape {
    HostShape {
        addresses: Sec::Secure,
        tlsa,
        servers: servers.to_vec(),
    }
}

fn domain(hosts: Vec<HostShape>, sts: Sts, tls_rpt: bool) -> Shape {
    Shape {
        mx: Mx::Normal(Sec::Secure),
        hosts,
        same_preference: false,
        sts,
        tls_rpt,
    }
}

// The counterexamples proptest found, shrunk, each with what was wrong.

/// Postfix was named in the DANE row and the opportunistic row.
#[test]
fn found_a_vendor_in_two_rows() {
    assert_kept(&domain(
        vec![host(Tlsa::None, &[Server::Good])],
        Sts::None,
        false,
    ));
}

/// A testing-mode fix said "once the TLS reports are clean" with no TLS-RPT record.
#[test]
fn found_reports_awaited_without_tls_rpt() {
    assert_kept(&domain(
        vec![host(Tlsa::Matches, &[Server::Good])],
        Sts::Testing,
        false,
    ));
}

/// "Add the CA's 2 1 1 record" above a block with only the 3 1 1 (a chain without its CA).
#[test]
fn found_a_ca_record_promised_but_missing() {
    assert_kept(&domain(
        vec![host(Tlsa::Matches, &[Server::Untrusted])],
        Sts::None,
        false,
    ));
}

/// A grey headline (a 421 to the probe) with no "do this first".
#[test]
fn found_not_tested_without_a_first_step() {
    let uncovered = Sts::Enforce(vec![true, false, false]);
    assert_kept(&domain(
        vec![host(Tlsa::None, &[Server::Limited])],
        uncovered,
        false,
    ));
}

/// An amber "strippable" headline with no "do this first" (the fix was a notice's).
#[test]
fn found_amber_without_a_first_step() {
    assert_kept(&domain(
        vec![host(Tlsa::None, &[Server::Good])],
        Sts::Testing,
        false,
    ));
}

/// DANE-TA fixes that named a 3 1 1 record their block did not hold.
#[test]
fn found_dane_ta_fixes_without_their_record() {
    for server in [Server::Expired, Server::WrongName] {
        assert_kept(&domain(
            vec![host(Tlsa::TaMatches, &[server])],
            Sts::None,
            false,
        ));
    }
}

/// A policy that lists no MX host (invalid: RFC 8461 §3.2 requires one), over a silent
/// server: an error under a grey "could not be tested". Senders ignore an invalid policy and
/// mail flows as without one: a warning.
#[test]
fn found_an_invalid_policy_as_an_error_under_grey() {
    let none_listed = Sts::Enforce(vec![false, false, false]);
    let shape = domain(
        vec![host(Tlsa::None, &[Server::Silent])],
        none_listed,
        false,
    );
    assert_kept(&shape);
    let (report, _) = broken(&shape);
    assert_eq!(report.summary.status, mxtls_core::report::Status::NotTested);
    let f = report
        .findings
        .iter()
        .find(|f| f.code == mxtls_core::Code::MtaStsPolicyInvalid)
        .expect("the invalid policy is a finding");
    assert_eq!(f.severity, mxtls_core::Severity::Warning);
}

/// An enforced policy that does not list the only MX host: enforcing senders refuse it
/// without connecting, so they wait — known even though the server itself is silent.
#[test]
fn an_unlisted_only_host_makes_enforcing_senders_wait_untested() {
    let shape = domain(
        vec![host(Tlsa::None, &[Server::Silent])],
        Sts::Enforce(vec![false, true, false]),
        false,
    );
    assert_kept(&shape);
    let (report, _) = broken(&shape);
    assert_eq!(
        report.summary.status,
        mxtls_core::report::Status::SendersDefer
    );
}

/// A policy that cannot be fetched was an error under an amber "strippable" headline.
#[test]
fn found_a_failed_fetch_as_an_error_while_mail_flows() {
    assert_kept(&domain(
        vec![host(Tlsa::None, &[Server::Good])],
        Sts::FetchFails,
        false,
    ));
}

/// An unlisted host beside a listed but silent one: an error although whether enforcing
/// senders wait could not be tested.
#[test]
fn found_an_unlisted_host_beside_an_untested_one() {
    let shape = domain(
        vec![
            host(Tlsa::None, &[Server::Untrusted]),
            host(Tlsa::None, &[Server::Silent]),
        ],
        Sts::Enforce(vec![false, true, false]),
        false,
    );
    assert_kept(&shape);
}

// The cases of issue 22, each kept as it now reads.

/// An enforced policy that does not list the backup MX: not a green headline above an
/// error; enforcing senders deliver through the listed host, and the report says so.
#[test]
fn an_unlisted_backup_is_a_warning_under_an_amber_headline() {
    let shape = domain(
        vec![
            host(Tlsa::None, &[Server::Good]),
            host(Tlsa::None, &[Server::Good]),
        ],
        Sts::Enforce(vec![true, false, false]),
        true,
    );
    assert_kept(&shape);
    let (report, _) = broken(&shape);
    let f = report
        .findings
        .iter()
        .find(|f| f.code == mxtls_core::Code::MtaStsMxNotCovered)
        .expect("the unlisted host is a finding");
    assert_eq!(f.severity, mxtls_core::Severity::Warning);
    assert!(
        f.explanation.contains("deliver through mx1.example.org"),
        "{}",
        f.explanation
    );
    assert_eq!(
        mxtls_core::present::report_mood(&report),
        mxtls_core::present::Mood::Warn
    );
    assert!(
        report.summary.headline.contains("Needs attention"),
        "{}",
        report.summary.headline
    );
}

/// No STARTTLS behind TLSA records: red, and no "protected by DANE" beside it.
#[test]
fn tlsa_in_front_of_cleartext_claims_no_protection() {
    let shape = domain(
        vec![host(Tlsa::Matches, &[Server::NoStarttls])],
        Sts::None,
        true,
    );
    assert_kept(&shape);
    let (report, _) = broken(&shape);
    assert_eq!(
        report.downgrade_protection,
        mxtls_core::report::Protection::None
    );
    let line = mxtls_core::present::stripping_line(&report).expect("a line");
    assert!(!line.text.contains("by DANE"), "{}", line.text);
    assert!(
        report
            .findings
            .iter()
            .all(|f| !f.explanation.contains("DANE already protects"))
    );
}

/// A silent server: grey, every row unknown, no attack outcome claimed.
#[test]
fn a_silent_server_is_unknown_in_every_row() {
    let shape = domain(
        vec![host(Tlsa::Matches, &[Server::Silent])],
        Sts::None,
        true,
    );
    assert_kept(&shape);
    let (report, _) = broken(&shape);
    assert_eq!(report.summary.status, mxtls_core::report::Status::NotTested);
    assert_eq!(
        report.downgrade_protection,
        mxtls_core::report::Protection::Unknown
    );
    for r in &report.senders {
        assert_eq!(r.delivery, mxtls_core::report::Delivery::Unknown, "{r:?}");
        assert!(!r.stripping_succeeds);
    }
}

/// A bad primary and a good backup, both ways round: the headline and the rows agree that
/// DANE senders deliver (through the good host).
#[test]
fn a_good_host_beside_a_bad_one_is_where_dane_senders_deliver() {
    use mxtls_core::report::{Delivery, Sender};
    for hosts in [
        vec![
            host(Tlsa::Mismatch, &[Server::Good]),
            host(Tlsa::Matches, &[Server::Good]),
        ],
        vec![
            host(Tlsa::Matches, &[Server::Good]),
            host(Tlsa::Mismatch, &[Server::Good]),
        ],
    ] {
        let shape = domain(hosts, Sts::None, true);
        assert_kept(&shape);
        let (report, _) = broken(&shape);
        let dane = report
            .senders
            .iter()
            .find(|r| r.sender == Sender::Dane)
            .expect("row");
        assert_eq!(dane.delivery, Delivery::Authenticated);
        assert!(
            !report.summary.headline.contains("defer"),
            "{}",
            report.summary.headline
        );
    }
}

/// A null MX: every row bounces, and none has an attack outcome.
#[test]
fn a_null_mx_has_no_attack_outcomes() {
    let mut shape = domain(vec![host(Tlsa::None, &[Server::Good])], Sts::None, false);
    shape.mx = Mx::Null;
    assert_kept(&shape);
    let (report, _) = broken(&shape);
    for r in &report.senders {
        assert!(mxtls_core::present::stripping_outcome(r).is_none(), "{r:?}");
    }
}

/// A sender that defers on a broken STARTTLS sends in cleartext once the offer is
/// stripped — the seed's case, in words.
#[test]
fn a_deferring_sender_is_turned_to_cleartext_by_stripping() {
    use mxtls_core::report::{Attack, Delivery, Sender};
    let shape = domain(vec![host(Tlsa::None, &[Server::TlsFails])], Sts::None, true);
    assert_kept(&shape);
    let (report, _) = broken(&shape);
    let row = report
        .senders
        .iter()
        .find(|r| r.sender == Sender::DefersOnTlsFailure)
        .expect("row");
    assert_eq!(
        (row.delivery, row.attack),
        (Delivery::Deferred, Attack::Works)
    );
    let words = mxtls_core::present::stripping_outcome(row).expect("an outcome");
    assert!(words.text.contains("sends in cleartext"), "{}", words.text);
}
