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
    /// was already accepted).
    fn offer(self, done: &[PostureSession]) -> HelloOffer {
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
                groups: vec![X25519MLKEM768, X25519],
                key_shares: vec![X25519MLKEM768],
            },
            Question::WeakSuites => below_13(TlsVersion::TLS12, weak_offer()),
            Question::WeakSuitesAgain => {
                let found: Vec<_> = accepted_suites(done)
                    .into_iter()
                    .filter_map(weak_kind)
                    .collect();
                let mut suites = weak_offer();
                suites.retain(|s| weak_kind(*s).is_some_and(|k| !found.contains(&k)));
                below_13(TlsVersion::TLS12, suites)
            }
            Question::OldVersions => below_13(TlsVersion::TLS11, legacy_offer()),
            Question::OldVersionsAgain => below_13(TlsVersion::TLS10, legacy_offer()),
            Question::ServerOrder => {
                let mut suites: Vec<_> = MAIN_TLS12_ORDER.iter().rev().copied().collect();
                suites.extend(CipherSuite::of_classes(&[
                    SuiteClass::Sufficient,
                    SuiteClass::CbcSha1,
                ]));
                below_13(TlsVersion::TLS12, suites)
            }
        }
    }
}

/// The kinds of weak suite, most harmful first: one answer per kind is what the report
/// needs, so a follow-up leaves out the kind already found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
/// TLS of the address's main session where it is known: when it spoke TLS 1.3 and another
/// answer already showed TLS 1.2, the server-order question (which can only be read
/// against a TLS 1.2 main session) is not asked.
pub fn next(done: &[PostureSession], main: Option<&TlsEvidence>) -> Option<(Question, HelloOffer)> {
    if done.len() >= MAX_SESSIONS {
        return None;
    }
    let asked = |q: Question| done.iter().any(|s| s.question == q);
    let hello = |q| answer(done, q).and_then(|f| f.hello);
    let weak_hello = hello(Question::WeakSuites).filter(|h| is_weak(h.cipher_suite));
    let pq = hello(Question::PostQuantum);
    let tls12_seen = flights(done)
        .iter()
        .filter_map(|(_, f, _)| f.hello.as_ref())
        .any(|h| h.version == TlsVersion::TLS12);
    let main_tls13 = main.is_some_and(|t| t.version == Some(TlsVersion::TLS13));
    let wanted = [
        (Question::PostQuantum, true),
        (Question::WeakSuites, true),
        (
            Question::WeakSuitesAgain,
            weak_hello.is_some() && !Question::WeakSuitesAgain.offer(done).suites.is_empty(),
        ),
        (Question::OldVersions, true),
        (
            Question::OldVersionsAgain,
            hello(Question::OldVersions).is_some_and(|h| h.version == TlsVersion::TLS11),
        ),
        (
            Question::PostQuantumShare,
            pq.is_some_and(|h| {
                h.version >= TlsVersion::TLS13 && h.key_share != Some(X25519MLKEM768)
            }),
        ),
        (Question::ServerOrder, !(main_tls13 && tls12_seen)),
    ];
    wanted
        .into_iter()
        .find(|(q, wanted)| *wanted && !asked(*q))
        .map(|(q, _)| (q, q.offer(done)))
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
        .collect();
    versions.sort();
    versions.dedup();
    let mut weak_suites = Vec::new();
    for suite in accepted_suites(done) {
        if is_weak(suite) && !weak_suites.contains(&suite) {
            weak_suites.push(suite);
        }
    }
    let order = answer(done, Question::ServerOrder).and_then(|f| f.hello);
    let server_order = match (main, &order) {
        (Some(m), Some(o)) if m.version == Some(TlsVersion::TLS12) && !o.retry => {
            let first = Question::ServerOrder.offer(done).suites.first().copied();
            match m.cipher_suite {
                Some(chosen) if chosen == o.cipher_suite => Some(first != Some(chosen)),
                Some(_) => Some(false),
                None => None,
            }
        }
        _ => None,
    };
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
            f.hello.is_none()
                && f.alert.is_none()
                && matches!(end, Some(FlightEnd::Closed | FlightEnd::Deadline))
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
