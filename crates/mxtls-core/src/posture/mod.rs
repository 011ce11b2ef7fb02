//! TLS posture from first flights: which versions a mail server accepts, whether it takes
//! suites no sender should use, whether it imposes its own suite order, and whether it
//! negotiates post-quantum hybrid key exchange — each answered by a crafted hello whose
//! answer is read without completing a handshake.
//!
//! The plan ([`next`]) asks one question per session, in an order that keeps the cost low
//! for a server that refuses what it should: post-quantum, weak suites, old versions, server
//! order — four sessions. A follow-up is asked only where an answer calls for it (a weak
//! suite accepted: again without it; TLS 1.1 accepted: TLS 1.0; no retry for the hybrid
//! group: the hybrid share itself), never more than [`MAX_SESSIONS`] in all. (internet.nl's
//! sslyze run costs dozens of sessions; testssl.sh one more than the suites a server has.)
//!
//! Server order is a TLS 1.2 question — TLS 1.3 senders choose among suites that are all
//! good — read by comparing the main session's choice with the choice from the same
//! suites in reverse order; a server whose main session spoke TLS 1.3 gives no forward TLS
//! 1.2 sample, so its order stays unknown (`None`) rather than guessed.

use crate::evidence::{
    FlightEnd, HelloOffer, PostureEvidence, PostureSession, Question, TlsEvidence,
};
use crate::tls::{
    CipherSuite, FirstFlight, KeyExchange, NamedGroup, SignatureScheme, SuiteClass, TlsVersion,
    parse_first_flight,
};

/// The most posture sessions for one address.
pub const MAX_SESSIONS: usize = 6;

pub const X25519MLKEM768: NamedGroup = NamedGroup(0x11ec);
const X25519: NamedGroup = NamedGroup(0x001d);
const SECP256R1: NamedGroup = NamedGroup(0x0017);
const SECP384R1: NamedGroup = NamedGroup(0x0018);

/// The TLS 1.2 suites the main session (rustls) offers, in its order: the server-order
/// question offers them reversed.
const MAIN_TLS12_ORDER: [CipherSuite; 6] = [
    CipherSuite(0xc02c),
    CipherSuite(0xc02b),
    CipherSuite(0xcca9),
    CipherSuite(0xc030),
    CipherSuite(0xc02f),
    CipherSuite(0xcca8),
];

pub use crate::report::PostQuantum;

/// What the posture sessions of one address showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posture {
    /// Versions the server accepted, lowest first.
    pub versions: Vec<TlsVersion>,
    /// Insufficient, anonymous and 3DES suites it accepted, in the order found.
    pub weak_suites: Vec<CipherSuite>,
    pub server_order: Option<bool>,
    pub post_quantum: PostQuantum,
    /// Sessions the posture cost.
    pub sessions: usize,
    /// From its TLS ≤ 1.2 answer: extended master secret (RFC 7627).
    pub extended_master_secret: Option<bool>,
    /// From its TLS ≤ 1.2 answer: renegotiation_info answered (RFC 5746).
    pub secure_renegotiation: Option<bool>,
    /// A compression method other than null chosen in any answer.
    pub compression: bool,
    /// The TLS ≤ 1.2 key exchange (group, or DHE prime size).
    pub key_exchange: Option<KeyExchange>,
    /// That key exchange came with an anonymous suite: only senders that accept no
    /// certificate meet it.
    pub key_exchange_anonymous: bool,
    pub signature_scheme: Option<SignatureScheme>,
    /// The large (hybrid-share) hello was met with a close or silence while the small
    /// one was answered: senders that send such hellos by default cannot connect.
    pub drops_large_hello: bool,
}

impl Question {
    /// The hello that asks it. `done` are the sessions so far (follow-ups leave out what
    /// was already found); `main` the main session's TLS where known.
    fn offer(self, done: &[PostureSession], main: Option<&TlsEvidence>) -> HelloOffer {
        let classical = vec![X25519, SECP256R1, SECP384R1];
        let hybrid_first = || [vec![X25519MLKEM768], classical.clone()].concat();
        let tls13_suites = || {
            let mut s = CipherSuite::of_classes(&[SuiteClass::Good]);
            s.retain(|c| c.is_tls13());
            s.extend(MAIN_TLS12_ORDER);
            s
        };
        let below_13 = |max_version, suites| HelloOffer {
            max_version,
            suites,
            groups: classical.clone(),
            key_shares: Vec::new(),
        };
        match self {
            Question::PostQuantum => HelloOffer {
                max_version: TlsVersion::TLS13,
                suites: tls13_suites(),
                groups: hybrid_first(),
                key_shares: vec![X25519],
            },
            // As a post-quantum sender offers it, but with the hybrid share only: a server
            // that has the group takes the share; one without it (or that ranks it so low it
            // spends a round trip to avoid it) asks for X25519 — either way senders get no
            // hybrid exchange from it. A close here is a server that cannot take a large
            // hello, though a classical group was offered too.
            Question::PostQuantumShare => HelloOffer {
                max_version: TlsVersion::TLS13,
                suites: tls13_suites(),
                groups: hybrid_first(),
                key_shares: vec![X25519MLKEM768],
            },
            Question::WeakSuites => below_13(TlsVersion::TLS12, weak_offer()),
            // A server that follows the sender's order took the first kind it has: only the
            // kinds after it are left to ask. Otherwise every kind not yet found.
            Question::WeakSuitesAgain => {
                let found: Vec<_> = accepted_suites(done)
                    .into_iter()
                    .filter_map(weak_kind)
                    .collect();
                let sender_order = server_order(done, main) == Some(false);
                let last_found = found.iter().max().copied();
                let mut suites = weak_offer();
                suites.retain(|s| {
                    weak_kind(*s).is_some_and(|k| {
                        !found.contains(&k) && (!sender_order || Some(k) > last_found)
                    })
                });
                below_13(TlsVersion::TLS12, suites)
            }
            Question::OldVersions => below_13(TlsVersion::TLS11, legacy_offer()),
            Question::OldVersionsAgain => below_13(TlsVersion::TLS10, legacy_offer()),
            // Against a TLS 1.2 main session: its own suites, reversed. Otherwise SHA-1 CBC
            // suites first, then the main session's AEAD ones: a server that takes CBC
            // follows the sender (none prefers SHA-1 CBC over GCM of its own accord).
            Question::ServerOrder => {
                let mut suites: Vec<_> = MAIN_TLS12_ORDER.iter().rev().copied().collect();
                if main.is_none_or(|m| m.version != Some(TlsVersion::TLS12)) {
                    suites = CipherSuite::of_classes(&[SuiteClass::CbcSha1])
                        .into_iter()
                        .filter(|s| s.name().starts_with("TLS_ECDHE_"))
                        .chain(MAIN_TLS12_ORDER)
                        .collect();
                }
                below_13(TlsVersion::TLS12, suites)
            }
        }
    }
}

/// The kinds of weak suite, most harmful first: one answer per kind is what the report
/// needs, so a follow-up leaves out the kind already found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum WeakKind {
    Broken,
    TripleDes,
    Anonymous,
}

fn weak_kind(suite: CipherSuite) -> Option<WeakKind> {
    match suite.class() {
        SuiteClass::Insufficient => Some(WeakKind::Broken),
        SuiteClass::Anonymous => Some(WeakKind::Anonymous),
        _ if suite.is_3des() => Some(WeakKind::TripleDes),
        _ => None,
    }
}

/// Broken, 3DES and anonymous suites, in that order: what no sender should get. A server
/// that follows the sender's order answers with the most harmful kind it has.
fn weak_offer() -> Vec<CipherSuite> {
    let all = CipherSuite::of_classes(&[
        SuiteClass::Insufficient,
        SuiteClass::PhaseOut,
        SuiteClass::Anonymous,
    ]);
    [WeakKind::Broken, WeakKind::TripleDes, WeakKind::Anonymous]
        .into_iter()
        .flat_map(|kind| {
            all.iter()
                .copied()
                .filter(move |s| weak_kind(*s) == Some(kind))
        })
        .collect()
}

/// Everything but TLS 1.3 suites and the broken ones: what a TLS ≤ 1.1 server can pick.
fn legacy_offer() -> Vec<CipherSuite> {
    CipherSuite::of_classes(&[
        SuiteClass::Good,
        SuiteClass::Sufficient,
        SuiteClass::CbcSha1,
        SuiteClass::PhaseOut,
    ])
    .into_iter()
    .filter(|s| !s.is_tls13())
    .collect()
}

fn is_weak(suite: CipherSuite) -> bool {
    weak_kind(suite).is_some()
}

fn flights(done: &[PostureSession]) -> Vec<(Question, FirstFlight, Option<FlightEnd>)> {
    done.iter()
        .map(|s| (s.question, parse_first_flight(s.flight.as_ref()), s.end))
        .collect()
}

fn answer(done: &[PostureSession], q: Question) -> Option<FirstFlight> {
    done.iter()
        .find(|s| s.question == q)
        .map(|s| parse_first_flight(s.flight.as_ref()))
}

fn accepted_suites(done: &[PostureSession]) -> Vec<CipherSuite> {
    flights(done)
        .iter()
        .filter_map(|(_, f, _)| f.hello.as_ref())
        .filter(|h| !h.retry)
        .map(|h| h.cipher_suite)
        .collect()
}

/// The next question and its hello, or `None` when the posture is complete. `main` is the
/// TLS of the address's main session where it is known. The four questions first, then the
/// follow-ups their answers call for, most telling first: TLS 1.0 behind TLS 1.1, the weak
/// kinds not yet found, the hybrid share.
pub fn next(done: &[PostureSession], main: Option<&TlsEvidence>) -> Option<(Question, HelloOffer)> {
    if done.len() >= MAX_SESSIONS {
        return None;
    }
    let asked = |q: Question| done.iter().any(|s| s.question == q);
    let hello = |q| answer(done, q).and_then(|f| f.hello);
    let weak_hello = hello(Question::WeakSuites).filter(|h| is_weak(h.cipher_suite));
    let pq = hello(Question::PostQuantum);
    let wanted = |q: Question| match q {
        Question::WeakSuitesAgain => weak_hello.is_some() && !q.offer(done, main).suites.is_empty(),
        Question::OldVersionsAgain => {
            hello(Question::OldVersions).is_some_and(|h| h.version == TlsVersion::TLS11)
        }
        Question::PostQuantumShare => pq
            .as_ref()
            .is_some_and(|h| h.version >= TlsVersion::TLS13 && h.key_share != Some(X25519MLKEM768)),
        _ => true,
    };
    [
        Question::PostQuantum,
        Question::WeakSuites,
        Question::OldVersions,
        Question::ServerOrder,
        Question::OldVersionsAgain,
        Question::WeakSuitesAgain,
        Question::PostQuantumShare,
    ]
    .into_iter()
    .find(|q| !asked(*q) && wanted(*q))
    .map(|q| (q, q.offer(done, main)))
}

/// Whether the server imposes its own TLS 1.2 suite order, from the server-order answer:
/// against a TLS 1.2 main session, the same choice from the reversed list means it does;
/// otherwise a SHA-1 CBC suite taken first means it does not, and an AEAD one means it
/// does only where another answer showed it has such CBC suites.
fn server_order(done: &[PostureSession], main: Option<&TlsEvidence>) -> Option<bool> {
    let session = done.iter().find(|s| s.question == Question::ServerOrder)?;
    let chosen = parse_first_flight(session.flight.as_ref())
        .hello
        .filter(|h| !h.retry)?
        .cipher_suite;
    let cbc_first = session
        .offer
        .suites
        .first()
        .is_some_and(|s| s.class() == SuiteClass::CbcSha1);
    if !cbc_first {
        let main_suite = main.and_then(|m| m.cipher_suite)?;
        return Some(chosen == main_suite);
    }
    if chosen.class() == SuiteClass::CbcSha1 {
        return Some(false);
    }
    let has_cbc = accepted_suites(done)
        .iter()
        .any(|s| s.class() == SuiteClass::CbcSha1);
    has_cbc.then_some(true)
}

/// Reads the posture from its sessions and the main session's TLS.
pub fn judge(evidence: &PostureEvidence, main: Option<&TlsEvidence>) -> Posture {
    let done = &evidence.sessions;
    let all = flights(done);
    let mut versions: Vec<TlsVersion> = all
        .iter()
        .filter_map(|(_, f, _)| f.hello.as_ref())
        .map(|h| h.version)
        .chain(main.and_then(|t| t.version))
        .filter(|v| (TlsVersion::SSL3..=TlsVersion::TLS13).contains(v))
        .collect();
    versions.sort();
    versions.dedup();
    let mut weak_suites = Vec::new();
    for suite in accepted_suites(done) {
        if is_weak(suite) && !weak_suites.contains(&suite) {
            weak_suites.push(suite);
        }
    }
    let server_order = server_order(done, main);
    // The TLS ≤ 1.2 details come from the server-order answer, else any TLS ≤ 1.2 answer —
    // an authenticated suite's first: an anonymous one shows only what senders that accept
    // no certificate get.
    let tls12_answers: Vec<FirstFlight> = [
        Question::ServerOrder,
        Question::WeakSuites,
        Question::WeakSuitesAgain,
        Question::OldVersions,
    ]
    .into_iter()
    .filter_map(|q| answer(done, q))
    .filter(|f| {
        f.hello
            .as_ref()
            .is_some_and(|h| h.version <= TlsVersion::TLS12)
    })
    .collect();
    let anonymous = |f: &FirstFlight| {
        f.hello
            .as_ref()
            .is_some_and(|h| h.cipher_suite.class() == SuiteClass::Anonymous)
    };
    let tls12 = tls12_answers
        .iter()
        .find(|f| !anonymous(f))
        .or(tls12_answers.first())
        .cloned();
    let (pq, share) = (
        all.iter().find(|(q, _, _)| *q == Question::PostQuantum),
        all.iter()
            .find(|(q, _, _)| *q == Question::PostQuantumShare),
    );
    let pq_hello = pq.and_then(|(_, f, _)| f.hello.clone());
    let share_hello = share.and_then(|(_, f, _)| f.hello.clone());
    let post_quantum = match (&pq_hello, &share_hello) {
        (Some(h), _) if h.key_share == Some(X25519MLKEM768) => PostQuantum::Preferred,
        (Some(h), _) if h.version < TlsVersion::TLS13 => PostQuantum::None,
        (_, Some(s)) if s.key_share == Some(X25519MLKEM768) && !s.retry => PostQuantum::Supported,
        (Some(_), Some(_)) => PostQuantum::None,
        _ => PostQuantum::Unknown,
    };
    let drops_large_hello = pq_hello.is_some()
        && share.is_some_and(|(_, f, end)| {
            f.hello.is_none() && f.alert.is_none() && *end == Some(FlightEnd::Closed)
        });
    Posture {
        versions,
        weak_suites,
        server_order,
        post_quantum,
        sessions: done.len(),
        extended_master_secret: tls12
            .as_ref()
            .and_then(|f| f.hello.as_ref())
            .map(|h| h.extended_master_secret),
        secure_renegotiation: tls12
            .as_ref()
            .and_then(|f| f.hello.as_ref())
            .map(|h| h.secure_renegotiation),
        compression: all
            .iter()
            .filter_map(|(_, f, _)| f.hello.as_ref())
            .any(|h| h.compression != 0),
        key_exchange: tls12.as_ref().and_then(|f| f.key_exchange),
        key_exchange_anonymous: tls12.as_ref().is_some_and(anonymous),
        signature_scheme: tls12.as_ref().and_then(|f| f.signature_scheme),
        drops_large_hello,
    }
}

#[cfg(test)]
mod tests;
