//! The plan and the judgement against modelled servers: a server here is what it accepts,
//! and answers a hello as TLS says it must (highest common version, a suite by its order or
//! the sender's, a retry for a group it prefers but got no share for). Real servers answer
//! the same hellos in the probe's and the world's tests.

use super::*;
use crate::evidence::Bytes;
use crate::names::DnsName;

#[derive(Clone)]
struct Server {
    versions: Vec<TlsVersion>,
    /// In the server's own preference order.
    suites: Vec<CipherSuite>,
    server_order: bool,
    /// In the server's preference order.
    groups: Vec<NamedGroup>,
    /// OpenSSL 3.5's way: the server's first group in common, with a retry if the sender
    /// sent no share for it. Otherwise (OpenSSL ≤ 3.4, rustls) the sender's first share the
    /// server has, a retry only when there is none.
    strict_group_order: bool,
    drops_large_hello: bool,
}

impl Server {
    fn modern() -> Server {
        Server {
            versions: vec![TlsVersion::TLS12, TlsVersion::TLS13],
            suites: [
                vec![
                    CipherSuite(0x1302),
                    CipherSuite(0x1301),
                    CipherSuite(0x1303),
                ],
                MAIN_TLS12_ORDER.to_vec(),
            ]
            .concat(),
            server_order: true,
            groups: vec![X25519MLKEM768, X25519, SECP256R1],
            strict_group_order: true,
            drops_large_hello: false,
        }
    }

    /// What Debian 12's Postfix accepts by default: TLS 1.0 to 1.3, anonymous suites,
    /// the sender's order, no hybrid group.
    fn debian_postfix() -> Server {
        let mut suites = Server::modern().suites;
        suites.extend([
            CipherSuite(0xc013),
            CipherSuite(0xc014),
            CipherSuite(0x002f),
            CipherSuite(0xc018),
            CipherSuite(0x0034),
        ]);
        Server {
            versions: vec![
                TlsVersion::TLS10,
                TlsVersion::TLS11,
                TlsVersion::TLS12,
                TlsVersion::TLS13,
            ],
            suites,
            server_order: false,
            groups: vec![X25519, SECP256R1],
            strict_group_order: false,
            drops_large_hello: false,
        }
    }

    fn answer(&self, offer: &HelloOffer) -> (Vec<u8>, FlightEnd) {
        let large = offer.key_shares.contains(&X25519MLKEM768);
        if large && self.drops_large_hello {
            return (Vec::new(), FlightEnd::Closed);
        }
        let max = offer.max_version;
        let Some(version) = self.versions.iter().rev().find(|v| **v <= max).copied() else {
            return (alert(70), FlightEnd::Complete);
        };
        let usable = |s: &CipherSuite| s.is_tls13() == (version == TlsVersion::TLS13);
        let suite = if self.server_order {
            self.suites
                .iter()
                .find(|s| usable(s) && offer.suites.contains(s))
        } else {
            offer
                .suites
                .iter()
                .find(|s| usable(s) && self.suites.contains(s))
        };
        let Some(suite) = suite.copied() else {
            return (alert(40), FlightEnd::Complete);
        };
        if version < TlsVersion::TLS13 {
            return (hello(version, suite, None, false), FlightEnd::Complete);
        }
        let first_common = self
            .groups
            .iter()
            .find(|g| offer.groups.contains(g))
            .copied();
        let Some(first_common) = first_common else {
            return (alert(40), FlightEnd::Complete);
        };
        let shared = offer.key_shares.iter().find(|g| self.groups.contains(g));
        let group = match shared {
            Some(g) if !self.strict_group_order || *g == first_common => *g,
            _ => first_common,
        };
        let retry = !offer.key_shares.contains(&group);
        (
            hello(version, suite, Some(group), retry),
            FlightEnd::Complete,
        )
    }
}

fn alert(description: u8) -> Vec<u8> {
    vec![0x15, 3, 3, 0, 2, 2, description]
}

fn hello(
    version: TlsVersion,
    suite: CipherSuite,
    group: Option<NamedGroup>,
    retry: bool,
) -> Vec<u8> {
    let legacy = version.min(TlsVersion::TLS12);
    let mut body = legacy.0.to_be_bytes().to_vec();
    body.extend(if retry {
        crate::tls::RETRY_RANDOM
    } else {
        [7; 32]
    });
    body.push(0);
    body.extend(suite.0.to_be_bytes());
    body.push(0);
    let mut exts = Vec::new();
    if version == TlsVersion::TLS13 {
        exts.extend([0x00, 0x2b, 0, 2, 3, 4]);
        if let Some(g) = group {
            let share: Vec<u8> = if retry { Vec::new() } else { vec![1; 32] };
            exts.extend([0x00, 0x33]);
            let len = if retry { 2 } else { 4 + share.len() };
            exts.extend((len as u16).to_be_bytes());
            exts.extend(g.0.to_be_bytes());
            if !retry {
                exts.extend((share.len() as u16).to_be_bytes());
                exts.extend(share);
            }
        }
    } else {
        exts.extend([0x00, 0x17, 0, 0, 0xff, 0x01, 0, 1, 0]);
    }
    body.extend((exts.len() as u16).to_be_bytes());
    body.extend(exts);
    let mut message = vec![2, 0];
    message.extend((body.len() as u16).to_be_bytes());
    message.extend(body);
    let mut record = vec![0x16, 3, 3];
    record.extend((message.len() as u16).to_be_bytes());
    record.extend(message);
    if version < TlsVersion::TLS13 {
        record.extend([0x16, 3, 3, 0, 4, 14, 0, 0, 0]); // ServerHelloDone
    }
    record
}

/// The main session as rustls would have it against this server.
fn main_session(server: &Server) -> TlsEvidence {
    let version = *server.versions.last().expect("a version");
    let offered: Vec<CipherSuite> = [
        vec![
            CipherSuite(0x1302),
            CipherSuite(0x1301),
            CipherSuite(0x1303),
        ],
        MAIN_TLS12_ORDER.to_vec(),
    ]
    .concat();
    let usable = |s: &CipherSuite| s.is_tls13() == (version == TlsVersion::TLS13);
    let suite = if server.server_order {
        server
            .suites
            .iter()
            .find(|s| usable(s) && offered.contains(s))
    } else {
        offered
            .iter()
            .find(|s| usable(s) && server.suites.contains(s))
    };
    TlsEvidence {
        sni: DnsName::parse("mx.example.org").expect("name"),
        version: Some(version),
        cipher_suite: suite.copied(),
        kx_group: Some(X25519),
        chain: Vec::new(),
    }
}

fn run(server: &Server) -> (Posture, Vec<Question>) {
    let mut done = Vec::new();
    let main = main_session(server);
    while let Some((question, offer)) = next(&done, Some(&main)) {
        let (flight, end) = server.answer(&offer);
        done.push(PostureSession {
            question,
            offer,
            flight: Bytes(flight),
            end: Some(end),
            stopped: None,
        });
    }
    let asked = done.iter().map(|s| s.question).collect();
    let evidence = PostureEvidence {
        sessions: done,
        ..PostureEvidence::default()
    };
    (judge(&evidence, Some(&main)), asked)
}

#[test]
fn a_server_that_refuses_what_it_should_costs_four_sessions() {
    let (posture, asked) = run(&Server::modern());
    assert_eq!(
        asked,
        vec![
            Question::PostQuantum,
            Question::WeakSuites,
            Question::OldVersions,
            Question::ServerOrder
        ]
    );
    assert_eq!(posture.versions, vec![TlsVersion::TLS12, TlsVersion::TLS13]);
    assert!(posture.weak_suites.is_empty());
    assert_eq!(posture.post_quantum, PostQuantum::Preferred);
    assert_eq!(posture.server_order, None, "the main session spoke TLS 1.3");
    assert_eq!(posture.sessions, 4);
    assert_eq!(posture.extended_master_secret, Some(true));
    assert!(!posture.drops_large_hello && !posture.compression);
}

#[test]
fn debian_postfix_shows_old_versions_and_anonymous_suites_within_six() {
    let (posture, asked) = run(&Server::debian_postfix());
    assert!(asked.len() <= MAX_SESSIONS, "{asked:?}");
    assert_eq!(
        posture.versions,
        vec![
            TlsVersion::TLS10,
            TlsVersion::TLS11,
            TlsVersion::TLS12,
            TlsVersion::TLS13
        ]
    );
    let names: Vec<String> = posture.weak_suites.iter().map(|s| s.name()).collect();
    assert_eq!(
        names,
        // One of each kind: the follow-up looks for a kind not yet found.
        vec!["TLS_DH_anon_WITH_AES_128_CBC_SHA"]
    );
    assert_eq!(posture.post_quantum, PostQuantum::None);
    // It took the SHA-1 CBC suite listed first: the sender's order.
    assert_eq!(posture.server_order, Some(false));
}

#[test]
fn server_order_is_read_against_a_tls_1_2_main_session() {
    let mut server = Server::modern();
    server.versions = vec![TlsVersion::TLS12];
    server.groups = vec![X25519];
    let (posture, _) = run(&server);
    assert_eq!(posture.server_order, Some(true));
    assert_eq!(posture.versions, vec![TlsVersion::TLS12]);
    assert_eq!(posture.post_quantum, PostQuantum::None, "no TLS 1.3");
    server.server_order = false;
    assert_eq!(run(&server).0.server_order, Some(false));
}

#[test]
fn a_hybrid_group_taken_but_not_preferred_is_supported() {
    let mut server = Server::modern();
    server.groups = vec![X25519, X25519MLKEM768];
    server.strict_group_order = false;
    let (posture, asked) = run(&server);
    assert_eq!(posture.post_quantum, PostQuantum::Supported);
    assert!(asked.contains(&Question::PostQuantumShare), "{asked:?}");
    assert_eq!(posture.sessions, 5);
}

#[test]
fn a_server_that_drops_the_large_hello_is_said_so() {
    let mut server = Server::modern();
    server.groups = vec![X25519];
    server.drops_large_hello = true;
    let (posture, _) = run(&server);
    assert!(posture.drops_large_hello);
    assert_eq!(posture.post_quantum, PostQuantum::Unknown);
}

#[test]
fn the_plan_never_exceeds_its_cap_even_on_nonsense() {
    let mut done = Vec::new();
    while let Some((question, offer)) = next(&done, None) {
        done.push(PostureSession {
            question,
            offer,
            flight: Bytes(b"220 not TLS\r\n".to_vec()),
            end: Some(FlightEnd::Complete),
            stopped: None,
        });
        assert!(done.len() <= MAX_SESSIONS);
    }
    let posture = judge(
        &PostureEvidence {
            sessions: done,
            ..PostureEvidence::default()
        },
        None,
    );
    assert!(posture.versions.is_empty() && posture.weak_suites.is_empty());
    assert_eq!(posture.post_quantum, PostQuantum::Unknown);
}
