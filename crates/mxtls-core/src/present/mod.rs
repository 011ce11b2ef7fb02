//! The presentation vocabulary: the words and the mood of everything a report shows, written
//! once for every renderer — the terminal text, the web report, the widget, the badge and the
//! live progress of a check. A renderer chooses colours and layout for a [`Mood`]; it never
//! words a verdict or decides how good or bad it is.
//!
//! Machine ids (JSON, data attributes) are the types' own `id()` methods; the words here are
//! prose for people, and may change without breaking anything that reads the ids.

mod count;
mod grid;
mod nameservers;
mod posture;
mod progress;
mod why;

pub use count::{age, count, count_of};
pub use grid::{GridRow, grid};
pub use nameservers::{nameserver_glance, row_state, zone_line};
pub use posture::{PostureFact, posture_facts, posture_glance};
pub use progress::{
    lookup_line, lookup_outcome, progress_line, session_line, session_state, waited,
};
pub use why::{glossary, why};

use crate::evidence::{KeyTypeOffer, Step};
use crate::findings::{Fix, Severity};
use crate::report::{
    Attack, CertRef, ChainReport, DaneStatus, Delivery, FindingGroup, MtaStsReport, Protection,
    Report, Sender, SenderOutcome, Status, StsHost, StsTxt, TlsaReport, Verdict,
};

/// How good or bad something is, for colour and icon: the same for one thing everywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Mood {
    /// Right: authenticated, protected, valid.
    Good,
    /// Neither: a fact, or a state that needs nothing.
    Info,
    /// Not seen: the probe could not test it, so it is neither good nor bad.
    Unknown,
    /// Weaker than it should be; mail still flows.
    Warn,
    /// Mail is deferred, bounced or exposed.
    Bad,
}

impl Mood {
    /// `good`, `info`, `warn`, `bad`: CSS classes and data attributes.
    pub fn id(self) -> &'static str {
        match self {
            Mood::Good => "good",
            Mood::Info => "info",
            Mood::Unknown => "unknown",
            Mood::Warn => "warn",
            Mood::Bad => "bad",
        }
    }
}

/// Words and their mood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Words {
    pub text: String,
    pub mood: Mood,
}

fn words(text: impl Into<String>, mood: Mood) -> Words {
    Words {
        text: text.into(),
        mood,
    }
}

/// A sender test's outcome on one test domain: a neutral outcome is a fact (info), a wait
/// is not seen yet (unknown).
pub fn sender_test_outcome(o: crate::sender_test::Outcome) -> Words {
    use crate::sender_test::Outcome;
    match o {
        Outcome::Good => words("good", Mood::Good),
        Outcome::Bad => words("bad", Mood::Bad),
        Outcome::Neutral => words("neutral", Mood::Info),
        Outcome::Waiting => words("waiting", Mood::Unknown),
    }
}

/// One connection of a sender test in a line: what TLS it did, and whether it delivered.
pub fn sender_test_connection(c: &crate::sender_test::Connection) -> String {
    let tls = match (&c.tls, &c.alert) {
        (Some(t), _) => format!(
            "TLS {} {} {}{}{}",
            t.version,
            t.cipher,
            t.group,
            if t.post_quantum() {
                " (post-quantum)"
            } else {
                ""
            },
            t.sni
                .as_deref()
                .map(|s| format!(", SNI {s}"))
                .unwrap_or_default()
        ),
        (None, Some(alert)) => format!("broke the handshake off (TLS alert {alert})"),
        (None, None) if c.starttls => "STARTTLS, no handshake".into(),
        (None, None) => "no TLS".into(),
    };
    let outcome = if c.delivered {
        "delivered"
    } else if c.mail {
        "began a message, none delivered"
    } else {
        "no message"
    };
    format!("from {}: {tls}; {outcome}", c.source)
}

/// The TLS verdict of an address or chain.
pub fn verdict(v: Verdict) -> Words {
    match v {
        Verdict::Verified => words("verified by DANE", Mood::Good),
        Verdict::Trusted => words("trusted (PKIX), not DANE", Mood::Good),
        Verdict::Untrusted => words("encrypted, not authenticated", Mood::Warn),
        Verdict::NoStarttls => words("no STARTTLS: cleartext", Mood::Bad),
        Verdict::TlsFailed => words("TLS failed", Mood::Bad),
        Verdict::Unreachable => words("unreachable", Mood::Bad),
        Verdict::Broken => words("no working SMTP", Mood::Bad),
        Verdict::Inconclusive => words("inconclusive", Mood::Warn),
        Verdict::Refused => words("not probed (not a public address)", Mood::Warn),
        Verdict::OptedOut => words("not tested (its postmaster opted out)", Mood::Unknown),
    }
}

/// Whether DANE applies to an MX host.
pub fn dane(d: DaneStatus) -> Words {
    match d {
        DaneStatus::Applies => words("applies", Mood::Good),
        DaneStatus::Unusable => words("all records unusable", Mood::Warn),
        DaneStatus::NotPublished => words("no TLSA records", Mood::Info),
        DaneStatus::NotApplicable => words("not applicable (unsigned)", Mood::Info),
        DaneStatus::Failed => words("lookup failed (senders defer)", Mood::Bad),
        DaneStatus::Unknown => words("unknown (resolver strips DNSSEC)", Mood::Warn),
    }
}

/// What happens to a message.
pub fn delivery(d: Delivery) -> Words {
    match d {
        Delivery::Authenticated => words("delivered with authenticated TLS", Mood::Good),
        Delivery::Encrypted => words("delivered encrypted, not authenticated", Mood::Warn),
        Delivery::Cleartext => words("delivered in cleartext", Mood::Bad),
        Delivery::Deferred => words("deferred", Mood::Bad),
        Delivery::Bounced => words("bounced", Mood::Bad),
        Delivery::Unknown => words("unknown", Mood::Unknown),
    }
}

/// Which senders refuse to be downgraded.
pub fn protection(p: Protection) -> Words {
    match p {
        Protection::Dane => words("by DANE, for senders that validate it", Mood::Good),
        Protection::MtaSts => words(
            "by MTA-STS (enforce), for senders that apply it",
            Mood::Good,
        ),
        Protection::Both => words(
            "by DANE and MTA-STS (enforce), for senders that use either",
            Mood::Good,
        ),
        Protection::None => words("no", Mood::Warn),
        Protection::Unknown => words("not known", Mood::Unknown),
    }
}

/// "Protected against STARTTLS stripping: …", the question an attacker on the path asks;
/// `None` for a domain that accepts no mail. It says exactly what the sender table's rows
/// say: the protection named is that of the senders whose rows are blocked, and where no
/// server could be tested it says so, with what DNS alone promises.
pub fn stripping_line(report: &Report) -> Option<Words> {
    if report.summary.accepts_no_mail {
        return None;
    }
    let p = protection(report.downgrade_protection);
    let line = |rest: &str, mood| {
        Some(words(
            format!("Protected against STARTTLS stripping: {rest}"),
            mood,
        ))
    };
    if report.downgrade_protection == Protection::Unknown {
        return line(
            "not known (no server could be tested; what DNS alone shows is in the answer above)",
            Mood::Unknown,
        );
    }
    if report.downgrade_protection != Protection::None {
        let others = if report.downgrade_protection == Protection::Both {
            ""
        } else {
            "; other senders can still be downgraded to cleartext"
        };
        return line(&format!("{}{others}", p.text), p.mood);
    }
    // No protection holds: say why where DNS or a policy promised one.
    let waits = report
        .senders
        .iter()
        .filter(|r| {
            matches!(r.sender, Sender::Dane | Sender::MtaSts)
                && matches!(r.delivery, Delivery::Deferred)
        })
        .count();
    if waits > 0 {
        return line(
            "no — the senders that would refuse cleartext cannot deliver at all (see the table), and the others can be downgraded",
            Mood::Bad,
        );
    }
    line(&p.text, p.mood)
}

/// The vendors [`sender`] names, each in one kind of sender only.
pub const VENDORS: [&str; 6] = [
    "Postfix",
    "Exim",
    "Microsoft 365",
    "Gmail",
    "Yahoo",
    "Sendmail",
];

/// A kind of sending MTA, with the well-known software or service that behaves so. Each
/// vendor is named once: Microsoft 365 validates DANE and also applies MTA-STS, and is
/// named where its behaviour is decided first (DANE, when the domain publishes TLSA).
pub fn sender(s: Sender) -> &'static str {
    match s {
        Sender::Dane => "validates DANE (Postfix or Exim with DANE on, Microsoft 365)",
        Sender::MtaSts => "enforces MTA-STS (Gmail, Yahoo)",
        Sender::Opportunistic => "uses TLS when offered, else cleartext (most servers' default)",
        Sender::DefersOnTlsFailure => "requires TLS once STARTTLS is offered (Sendmail)",
    }
}

/// What happens to a message from this kind of sender, with the host it goes to and the
/// addresses where it fails first (the worst address, not only the best).
pub fn sender_delivery(row: &SenderOutcome) -> Words {
    let d = delivery(row.delivery);
    let mut text = match &row.via {
        Some(h) => format!("{} via {h}", d.text),
        None => d.text,
    };
    let mut mood = d.mood;
    if !row.failing_at.is_empty() {
        let ips: Vec<String> = row.failing_at.iter().map(ToString::to_string).collect();
        text.push_str(&format!(
            " — but it fails at {} and must try another address first",
            ips.join(", ")
        ));
        mood = mood.max(Mood::Warn);
    }
    words(text, mood)
}

/// What an attacker who strips STARTTLS changes for this kind of sender; `None` where it
/// changes nothing (the message bounces, or waits with or without the attack).
pub fn stripping_outcome(row: &SenderOutcome) -> Option<Words> {
    Some(match row.attack {
        Attack::None => return None,
        Attack::NotKnown => words("not known", Mood::Unknown),
        Attack::Works if row.delivery == Delivery::Deferred => words(
            "the attack works: with the STARTTLS offer removed, the sender no longer meets the failing TLS and sends in cleartext",
            Mood::Bad,
        ),
        Attack::Works => words("the attack works: mail in cleartext", Mood::Bad),
        Attack::Blocked => words(
            "the attack is blocked: the sender waits instead",
            Mood::Good,
        ),
    })
}

/// A finding's severity.
pub fn severity(s: Severity) -> Words {
    let mood = match s {
        Severity::Error => Mood::Bad,
        Severity::Warning => Mood::Warn,
        Severity::Notice => Mood::Info,
        Severity::Ok => Mood::Good,
    };
    words(s.id(), mood)
}

/// The mood of a whole report: that of its status, raised by the worst finding shown (an
/// error is bad, a warning at least amber) — the page's box, the widget, the badge, the
/// terminal and the plugin state all take this one, so they agree. A report that could not
/// test anything stays grey: its warnings say why.
pub fn report_mood(report: &Report) -> Mood {
    let status = status_mood(report.summary.status);
    let worst = report
        .findings
        .iter()
        .map(|f| match f.severity {
            Severity::Error => Mood::Bad,
            Severity::Warning => Mood::Warn,
            Severity::Notice | Severity::Ok => Mood::Good,
        })
        .max()
        .unwrap_or(Mood::Good);
    if status == Mood::Unknown && worst != Mood::Bad {
        status
    } else {
        status.max(worst)
    }
}

/// The mood of a status.
pub fn status_mood(status: Status) -> Mood {
    match status {
        Status::SendersDefer | Status::Cleartext => Mood::Bad,
        Status::Protected {
            authenticated: true,
            ..
        } => Mood::Good,
        Status::Protected { .. } | Status::Strippable { .. } => Mood::Warn,
        Status::NotTested | Status::NoMail => Mood::Unknown,
    }
}

/// A monitoring plugin's state (the monitoring-plugins guidelines), so Icinga, Nagios,
/// Zabbix and Uptime Kuma can run `mxtls check --nagios` directly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PluginState {
    Ok,
    Warning,
    Critical,
    Unknown,
}

impl PluginState {
    /// The exit status: 0, 1, 2, 3.
    pub fn code(self) -> u8 {
        match self {
            PluginState::Ok => 0,
            PluginState::Warning => 1,
            PluginState::Critical => 2,
            PluginState::Unknown => 3,
        }
    }

    /// `OK`, `WARNING`, `CRITICAL`, `UNKNOWN`.
    pub fn label(self) -> &'static str {
        match self {
            PluginState::Ok => "OK",
            PluginState::Warning => "WARNING",
            PluginState::Critical => "CRITICAL",
            PluginState::Unknown => "UNKNOWN",
        }
    }
}

/// The plugin state of a report, agreeing with its colour: UNKNOWN when nothing could be
/// tested, CRITICAL for errors or a bad status, WARNING for warnings (the horizon's among
/// them) or a weak status, OK otherwise (a null MX is a choice, not a fault).
pub fn plugin_state(report: &Report) -> PluginState {
    let mood = report_mood(report);
    if report.summary.status == Status::NotTested {
        PluginState::Unknown
    } else if report.has_errors() || mood == Mood::Bad {
        PluginState::Critical
    } else if report.count(Severity::Warning) > 0 || mood == Mood::Warn {
        PluginState::Warning
    } else {
        PluginState::Ok
    }
}

/// The badge's message for a report (`None`: never checked): its status in words, in the
/// report's mood.
pub fn badge(report: Option<&Report>) -> Words {
    let Some(report) = report else {
        return words("not checked", Mood::Unknown);
    };
    let status = report.summary.status;
    let text = match status {
        Status::NoMail => "no mail (null MX)",
        Status::NotTested => "could not test",
        Status::SendersDefer => "senders defer",
        Status::Cleartext => "cleartext possible",
        Status::Strippable {
            authenticated: true,
        } => "TLS, strippable",
        Status::Strippable {
            authenticated: false,
        } => "unauthenticated",
        Status::Protected {
            by: Protection::Dane,
            authenticated: true,
        } => "DANE verified",
        Status::Protected {
            by: Protection::MtaSts,
            authenticated: true,
        } => "MTA-STS enforced",
        Status::Protected {
            by: Protection::Both,
            authenticated: true,
        } => "DANE + MTA-STS",
        Status::Protected { .. } => "not authenticated",
    };
    words(text, report_mood(report))
}

/// The subjects of a group after its face ("also on …").
pub fn also_on(report: &Report, group: &FindingGroup) -> Vec<String> {
    group.findings[1..]
        .iter()
        .filter_map(|i| report.findings.get(*i))
        .map(|f| f.subject.to_string())
        .collect()
}

/// The whole fix of a group of findings: its face's text and file, and every record of every
/// finding of the group once, in order — one block to copy.
pub fn group_fix(report: &Report, group: &FindingGroup) -> Option<Fix> {
    let face = report.findings.get(*group.findings.first()?)?;
    let fix = face.fix.as_ref()?;
    let mut records: Vec<String> = Vec::new();
    for f in group
        .findings
        .iter()
        .filter_map(|i| report.findings.get(*i))
    {
        for r in f.fix.iter().flat_map(|x| &x.records) {
            if !records.contains(r) {
                records.push(r.clone());
            }
        }
    }
    Some(Fix {
        text: fix.text.clone(),
        records,
        file: fix.file.clone(),
    })
}

/// Which certificates the client offered to take in a session.
pub fn offer(o: KeyTypeOffer) -> &'static str {
    match o {
        KeyTypeOffer::Any => "any certificate",
        KeyTypeOffer::Rsa => "RSA certificate only",
        KeyTypeOffer::Ecdsa => "ECDSA certificate only",
        KeyTypeOffer::Ed25519 => "Ed25519 certificate only",
    }
}

/// A step of an SMTP session.
pub fn step(s: Step) -> &'static str {
    match s {
        Step::Connect => "connect",
        Step::Banner => "banner",
        Step::Ehlo => "EHLO",
        Step::Starttls => "STARTTLS",
        Step::Handshake => "TLS handshake",
        Step::EhloTls => "EHLO after TLS",
        Step::Quit => "QUIT",
    }
}

/// The protocol, cipher suite and key exchange of a chain's session, or `—`.
pub fn tls_parameters(c: &ChainReport) -> String {
    let parts: Vec<&str> = [&c.tls_version, &c.cipher_suite, &c.kx_group]
        .into_iter()
        .filter_map(|v| v.as_deref())
        .collect();
    if parts.is_empty() {
        "—".to_owned()
    } else {
        parts.join(", ")
    }
}

/// Whether STARTTLS was advertised in cleartext EHLO (`None`: no EHLO was seen).
pub fn starttls_offered(offered: Option<bool>) -> Option<&'static str> {
    offered.map(|o| {
        if o {
            "STARTTLS offered"
        } else {
            "STARTTLS not offered"
        }
    })
}

/// A chain's PKIX validation.
pub fn chain_pkix(c: &ChainReport) -> Words {
    match &c.pkix {
        Ok(()) => words("valid (chains to a public root)", Mood::Good),
        Err(e) => words(e.to_string(), Mood::Warn),
    }
}

/// A chain's DANE result.
pub fn chain_dane(c: &ChainReport) -> Words {
    match &c.dane {
        None => words("does not apply", Mood::Info),
        Some(d) => match d.authenticated_by {
            Some(r) => words(format!("authenticated by TLSA record #{r}"), Mood::Good),
            None if d.matches.is_empty() => words("no TLSA record matches", Mood::Bad),
            None => words(
                "records match but do not authenticate (see findings)",
                Mood::Bad,
            ),
        },
    }
}

/// Which presented certificate a TLSA record matched.
pub fn tlsa_match(m: &CertRef) -> String {
    let key = m.key.name();
    match m.depth {
        Some(0) => format!("{key} end entity at {}", m.ip),
        Some(d) => format!("{key} chain certificate #{d} at {}", m.ip),
        None => format!("{key} chain at {} (anchor from the record)", m.ip),
    }
}

/// A TLSA record's state: unusable and why, or what it matched.
pub fn tlsa_state(t: &TlsaReport) -> Words {
    match &t.unusable_reason {
        Some(why) => words(format!("unusable: {why}"), Mood::Warn),
        None if !t.compared => words(
            "usable; not compared with a certificate (no server of this host was judged under DANE)",
            Mood::Unknown,
        ),
        None if t.matched.is_empty() => {
            words("usable, but matches no presented certificate", Mood::Bad)
        }
        None => {
            let m: Vec<String> = t.matched.iter().map(tlsa_match).collect();
            words(format!("usable, matches {}", m.join("; ")), Mood::Good)
        }
    }
}

/// `3 1 1 <64 hex>` shortened for an overview; the full record is in the fix and JSON.
pub fn short_record(record: &str) -> String {
    match record.rsplit_once(' ') {
        Some((head, data)) if data.len() > 24 => {
            format!("{head} {}…{}", &data[..12], &data[data.len() - 8..])
        }
        _ => record.to_owned(),
    }
}

/// The `_mta-sts` TXT record in one line.
pub fn sts_txt(t: &StsTxt) -> String {
    match t {
        StsTxt::Missing => "no _mta-sts TXT record".to_owned(),
        StsTxt::Valid { id } => format!("TXT record valid (id {id})"),
        StsTxt::Invalid { reason } => format!("TXT record invalid: {reason}"),
        StsTxt::LookupFailed { reason } => format!("TXT lookup failed: {reason}"),
    }
}

/// The policy in one line: fetched or why not, and what it says.
pub fn sts_policy(r: &MtaStsReport) -> String {
    use crate::report::FetchState;
    match (&r.fetch, &r.policy, &r.policy_error) {
        (FetchState::NotFetched, _, _) => "policy not fetched".to_owned(),
        (FetchState::Failed { why }, _, _) => format!("policy fetch failed: {why}"),
        (FetchState::Fetched, Some(p), _) => format!(
            "mode {}, max_age {} s, mx {}",
            p.mode.id(),
            p.max_age,
            p.mx.join(" ")
        ),
        (FetchState::Fetched, None, e) => {
            format!("policy invalid: {}", e.as_deref().unwrap_or("?"))
        }
    }
}

/// An MX host under the MTA-STS policy.
pub fn sts_host(h: &StsHost) -> Words {
    let listed = if h.covered {
        "listed in the policy"
    } else {
        "not listed in the policy"
    };
    let (cert, mood) = match (h.covered, h.pkix_valid) {
        (_, Some(true)) => ("certificate valid for MTA-STS", Mood::Good),
        (_, Some(false)) => ("fails MTA-STS's certificate check", Mood::Bad),
        (_, None) => ("not judged", Mood::Info),
    };
    let mood = if h.covered { mood } else { Mood::Bad };
    words(format!("{listed}; {cert}"), mood)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every machine id is the serde name, so JSON, data attributes and ids agree.
    #[test]
    fn ids_are_the_serde_names() {
        fn serde_id<T: serde::Serialize>(t: T) -> String {
            serde_json::to_value(t)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        }
        for v in [
            Verdict::Verified,
            Verdict::Trusted,
            Verdict::Untrusted,
            Verdict::NoStarttls,
            Verdict::TlsFailed,
            Verdict::Unreachable,
            Verdict::Inconclusive,
            Verdict::Refused,
            Verdict::OptedOut,
        ] {
            assert_eq!(v.id(), serde_id(v));
        }
        for d in [
            Delivery::Cleartext,
            Delivery::Encrypted,
            Delivery::Authenticated,
            Delivery::Deferred,
            Delivery::Bounced,
            Delivery::Unknown,
        ] {
            assert_eq!(d.id(), serde_id(d));
        }
        for p in [
            Protection::Dane,
            Protection::MtaSts,
            Protection::Both,
            Protection::None,
        ] {
            assert_eq!(p.id(), serde_id(p));
        }
        for s in Sender::ALL {
            assert_eq!(s.id(), serde_id(s));
        }
        for s in [
            Severity::Error,
            Severity::Warning,
            Severity::Notice,
            Severity::Ok,
        ] {
            assert_eq!(s.id(), serde_id(s));
        }
        for s in [
            DaneStatus::Applies,
            DaneStatus::Unusable,
            DaneStatus::NotPublished,
            DaneStatus::NotApplicable,
            DaneStatus::Failed,
            DaneStatus::Unknown,
        ] {
            assert_eq!(s.id(), serde_id(s));
        }
    }
}
