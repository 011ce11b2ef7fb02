//! An address's TLS posture in words: the facts the report lists under the address and the
//! short line the grid shows in its TLS cell. Each fact takes its mood from the findings the
//! analysis made about it, so a fact is never redder or greener than its finding.

use std::net::IpAddr;

use super::{Mood, Words, count_of, words};
use crate::findings::{Code, Finding, Severity, Subject};
use crate::report::{AddressReport, PostQuantum, Report};

/// One line of an address's posture: what was asked, what the server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostureFact {
    pub label: &'static str,
    pub value: Words,
}

/// The findings that speak about each fact (and so give it its mood).
const VERSIONS: &[Code] = &[Code::TlsOldVersionsAccepted, Code::TlsNoTls13];
const SUITES: &[Code] = &[Code::TlsWeakSuites, Code::TlsAnonymousSuites];
const ORDER: &[Code] = &[Code::TlsNoServerOrder];
const PQ: &[Code] = &[Code::TlsPostQuantum, Code::TlsLargeHelloDropped];
const KEX: &[Code] = &[Code::TlsWeakKeyExchange, Code::TlsWeakSignatureHash];
const EMS: &[Code] = &[Code::TlsNoExtendedMasterSecret];
const RENEGOTIATION: &[Code] = &[Code::TlsInsecureRenegotiation];
const COMPRESSION: &[Code] = &[Code::TlsCompression];

/// Every code a posture fact takes its mood from.
fn posture_codes() -> impl Iterator<Item = Code> {
    [
        VERSIONS,
        SUITES,
        ORDER,
        PQ,
        KEX,
        EMS,
        RENEGOTIATION,
        COMPRESSION,
    ]
    .into_iter()
    .flatten()
    .copied()
}

fn about(report: &Report, ip: IpAddr) -> impl Iterator<Item = &Finding> {
    report
        .findings
        .iter()
        .filter(move |f| matches!(&f.subject, Subject::Address { ip: i, .. } if *i == ip))
}

fn severity_mood(s: Severity) -> Mood {
    super::severity(s).mood
}

/// The worst mood the findings with `codes` give, or `known`'s mood when none speaks.
fn mood_of(report: &Report, ip: IpAddr, codes: &[Code], known: bool) -> Mood {
    about(report, ip)
        .filter(|f| codes.contains(&f.code))
        .map(|f| severity_mood(f.severity))
        .max_by_key(|m| rank(*m))
        .unwrap_or(if known { Mood::Good } else { Mood::Unknown })
}

/// Worse is higher; `Unknown` sits below every judged mood so that it never hides one.
fn rank(m: Mood) -> u8 {
    match m {
        Mood::Unknown => 0,
        Mood::Good => 1,
        Mood::Info => 2,
        Mood::Warn => 3,
        Mood::Bad => 4,
    }
}

/// `tls1.0` → `1.0`, `ssl3` → `SSL 3`.
fn version_number(v: &str) -> String {
    match v.strip_prefix("tls") {
        Some(n) => n.to_owned(),
        None => v.replace("ssl", "SSL "),
    }
}

fn version_name(v: &str) -> String {
    match v.strip_prefix("tls") {
        Some(n) => format!("TLS {n}"),
        None => v.replace("ssl", "SSL "),
    }
}

fn yes_no(v: Option<bool>, yes: &str, no: &str) -> (String, bool) {
    match v {
        Some(true) => (yes.to_owned(), true),
        Some(false) => (no.to_owned(), true),
        None => ("not seen".to_owned(), false),
    }
}

/// The posture of `a` as labelled facts, in the order a reader asks them; empty where no
/// posture sessions were run.
pub fn posture_facts(report: &Report, a: &AddressReport) -> Vec<PostureFact> {
    let Some(p) = &a.posture else {
        return Vec::new();
    };
    let ip = a.ip;
    let fact = |label, text: String, codes: &[Code], known: bool| PostureFact {
        label,
        value: words(text, mood_of(report, ip, codes, known)),
    };
    let mut facts = Vec::new();
    let versions = if p.versions.is_empty() {
        "none seen".to_owned()
    } else {
        p.versions
            .iter()
            .map(|v| version_name(v))
            .collect::<Vec<_>>()
            .join(", ")
    };
    facts.push(fact(
        "Versions accepted",
        versions,
        VERSIONS,
        !p.versions.is_empty(),
    ));
    let suites = if p.weak_suites.is_empty() {
        "none seen".to_owned()
    } else {
        p.weak_suites.join(", ")
    };
    facts.push(fact("Weak or anonymous suites", suites, SUITES, true));
    let (order, known) = yes_no(
        p.server_order,
        "the server's (TLS 1.2)",
        "the sender's (TLS 1.2)",
    );
    facts.push(fact("Suite order", order, ORDER, known));
    let pq = match p.post_quantum {
        PostQuantum::Preferred => "X25519MLKEM768, preferred",
        PostQuantum::Supported => "X25519MLKEM768 when the sender offers it",
        PostQuantum::None => "not offered",
        PostQuantum::Unknown => "not known",
    };
    let pq = if p.drops_large_hello {
        format!("{pq}; closes on a hello with a post-quantum share")
    } else {
        pq.to_owned()
    };
    facts.push(fact(
        "Post-quantum key exchange",
        pq,
        PQ,
        p.post_quantum != PostQuantum::Unknown || p.drops_large_hello,
    ));
    if let Some(kex) = &p.key_exchange {
        let text = match &p.weak_signature_hash {
            Some(hash) => format!("{kex}, signed with {hash}"),
            None => kex.clone(),
        };
        facts.push(fact("TLS 1.2 key exchange", text, KEX, true));
    }
    let (ems, known) = yes_no(p.extended_master_secret, "yes", "no");
    facts.push(fact("Extended master secret", ems, EMS, known));
    let (reneg, known) = yes_no(p.secure_renegotiation, "signalled", "not signalled");
    facts.push(fact("Secure renegotiation", reneg, RENEGOTIATION, known));
    let compression = if p.compression { "on" } else { "off" };
    facts.push(fact(
        "Compression",
        compression.to_owned(),
        COMPRESSION,
        true,
    ));
    let cost = match &p.reused_from {
        Some(r) => words(
            format!(
                "from a check {} ago",
                super::age((report.judged_at.0 - r.gathered_at.0).max(0))
            ),
            Mood::Info,
        ),
        None => words(
            count_of(p.sessions, "extra session", "extra sessions"),
            Mood::Info,
        ),
    };
    facts.push(PostureFact {
        label: "Asked in",
        value: cost,
    });
    if let Some(why) = &p.incomplete {
        facts.push(PostureFact {
            label: "Not asked",
            value: words(why.clone(), Mood::Unknown),
        });
    }
    facts
}

/// The grid's short word on `a`'s posture ("accepts 1.0–1.3 · weak suites · PQ"), in the mood
/// of its worst posture finding; `None` where no posture sessions were run.
pub fn posture_glance(report: &Report, a: &AddressReport) -> Option<Words> {
    let p = a.posture.as_ref()?;
    let mut parts = Vec::new();
    match (p.versions.first(), p.versions.last()) {
        (Some(lo), Some(hi)) if lo == hi => {
            parts.push(format!("accepts {} only", version_number(lo)))
        }
        (Some(lo), Some(hi)) => parts.push(format!(
            "accepts {}–{}",
            version_number(lo),
            version_number(hi)
        )),
        _ => parts.push("versions not seen".to_owned()),
    }
    let findings: Vec<&Finding> = about(report, a.ip)
        .filter(|f| posture_codes().any(|c| c == f.code))
        .collect();
    if findings.iter().any(|f| f.code == Code::TlsWeakSuites) {
        parts.push("weak suites".to_owned());
    }
    if matches!(
        p.post_quantum,
        PostQuantum::Preferred | PostQuantum::Supported
    ) {
        parts.push("PQ".to_owned());
    }
    if p.drops_large_hello {
        parts.push("drops PQ hellos".to_owned());
    }
    let mood = findings
        .iter()
        .map(|f| severity_mood(f.severity))
        .max_by_key(|m| rank(*m))
        .unwrap_or(if p.versions.is_empty() {
            Mood::Unknown
        } else {
            Mood::Good
        });
    Some(words(parts.join(" · "), mood))
}
