//! The answer at the top of the report: reachability of the whole domain and the headline.

use super::{Judge, MxState};
use crate::evidence::Evidence;
use crate::findings::{Code, Finding, Severity};
use crate::report::{
    Delivery, FindingGroup, MtaStsReport, MxReport, Protection, SenderOutcome, Status, Summary,
    Verdict,
};

impl Judge<'_> {
    /// No address anywhere accepted a connection. From one vantage point that cannot be
    /// told apart from port 25 blocked on the probe's own network, so it is a warning and the
    /// report says the servers could not be tested — never a verdict on the domain.
    pub(super) fn reachability(&mut self, hosts: &[MxReport]) {
        let verdicts: Vec<Verdict> = hosts
            .iter()
            .flat_map(|h| h.addresses.iter().map(|a| a.tls))
            .collect();
        if !verdicts.is_empty() && verdicts.iter().all(|v| *v == Verdict::Unreachable) {
            let subject = self.domain();
            self.push(
                Finding::new(Code::SmtpUnreachable, Severity::Warning, subject, "No MX host accepted a connection from the probe on port 25")
                    .explain("Every address of every MX host refused or ignored the probe's connection. Either the mail servers are down or filtered — then senders queue mail and bounce it after a few days — or port 25 is blocked between the probe and them (many networks block outgoing port 25).")
                    .fix("Make sure the mail servers run, listen on port 25 and are reachable through firewalls; if they are, check again from a network that allows outgoing port 25."),
            );
        }
    }
}

/// The status, headline and flags of the report, and the protection it claims, from what
/// happens to mail: the DNS, the judged addresses, the sender matrix and the protection the
/// rows show. `findings` are in impact order (severities already by consequence), so the
/// first error names the cause.
pub(super) fn summarise(
    ev: &Evidence,
    mx: &MxState,
    hosts: &[MxReport],
    findings: &[Finding],
    senders: &[SenderOutcome],
    sts: Option<&MtaStsReport>,
    protection: Protection,
) -> (Summary, Protection) {
    let domain = &ev.domain;
    let judged: Vec<Verdict> = hosts
        .iter()
        .flat_map(|h| h.addresses.iter().map(|a| a.tls))
        .filter(|v| {
            !matches!(
                v,
                Verdict::Unreachable
                    | Verdict::Broken
                    | Verdict::Inconclusive
                    | Verdict::Refused
                    | Verdict::OptedOut
            )
        })
        .collect();
    let dane_authenticated = !judged.is_empty() && judged.iter().all(|v| *v == Verdict::Verified);
    let all_pkix = !judged.is_empty()
        && judged
            .iter()
            .all(|v| matches!(v, Verdict::Verified | Verdict::Trusted));
    let has = |severity: Severity, codes: &[Code]| {
        findings
            .iter()
            .any(|f| f.severity == severity && codes.contains(&f.code))
    };
    let dns_broken = mx.failed
        || has(
            Severity::Error,
            &[
                Code::DnssecBogus,
                Code::DnssecIndeterminate,
                Code::DnsLookupFailed,
            ],
        );
    let deferred = senders.iter().any(|r| r.delivery == Delivery::Deferred);
    let cleartext = judged
        .iter()
        .any(|v| matches!(v, Verdict::NoStarttls | Verdict::TlsFailed));
    let status = if mx.null {
        Status::NoMail
    } else if dns_broken {
        Status::SendersDefer
    } else if judged.is_empty() && !deferred {
        Status::NotTested
    } else if cleartext {
        Status::Cleartext
    } else if deferred || judged.is_empty() {
        Status::SendersDefer
    } else if protection != Protection::None {
        let authenticated = match protection {
            Protection::Dane => dane_authenticated,
            _ => all_pkix,
        };
        Status::Protected {
            by: protection,
            authenticated,
        }
    } else {
        Status::Strippable {
            authenticated: all_pkix,
        }
    };
    // Nothing seen: what an attacker could do is not known either.
    let protection = match status {
        Status::NotTested => Protection::Unknown,
        Status::NoMail => Protection::None,
        _ => protection,
    };
    // The first error (or warning) names the cause.
    let cause = |severities: &[Severity]| {
        findings
            .iter()
            .find(|f| severities.contains(&f.severity))
            .map(|f| f.title.clone().to_lowercase_first())
    };
    let errors = [Severity::Error];
    let problems = [Severity::Error, Severity::Warning];
    let for_whom = match protection {
        Protection::Dane => "for senders that validate DANE",
        Protection::MtaSts => "for senders that enforce MTA-STS",
        _ => "for senders that validate DANE or enforce MTA-STS",
    };
    let mut headline = match status {
        Status::NoMail => {
            format!("{domain} accepts no mail (null MX): there is nothing to protect.")
        }
        Status::SendersDefer if mx.bogus => format!(
            "Validating senders cannot use the MX records of {domain}: they fail DNSSEC validation, so those senders defer mail. The probe does not follow them either: see the finding for why they fail."
        ),
        Status::SendersDefer if mx.failed => format!(
            "Senders cannot find the mail servers of {domain}: the MX lookup fails, so mail is deferred or bounced."
        ),
        Status::SendersDefer => format!(
            "Some senders defer mail to {domain}: {}.",
            cause(&errors).unwrap_or_else(|| "no MX host has an address they can use".into())
        ),
        Status::NotTested => format!(
            "No mail server of {domain} could be tested: {}. What DNS alone shows: {}.",
            untested_why(hosts),
            dns_alone(mx, hosts, sts.is_some_and(MtaStsReport::enforced))
        ),
        Status::Cleartext => format!(
            "Mail to {domain} can travel in cleartext: {}.",
            cause(&errors).unwrap_or_else(|| "not every MX host offers working STARTTLS".into())
        ),
        Status::Protected {
            by: Protection::Dane | Protection::Both,
            authenticated: true,
        } => format!(
            "Mail to {domain} is protected {for_whom}: DANE authenticates every MX host, and STARTTLS cannot be stripped from them."
        ),
        Status::Protected {
            by: Protection::MtaSts,
            authenticated: true,
        } => format!(
            "Mail to {domain} is protected {for_whom}: valid certificates everywhere, and the enforced policy stops STARTTLS stripping."
        ),
        Status::Protected { .. } => format!(
            "STARTTLS to {domain} cannot be stripped {for_whom}, but not every server is authenticated: {}.",
            cause(&problems).unwrap_or_else(|| "see the findings below".into())
        ),
        Status::Strippable {
            authenticated: true,
        } => {
            format!(
                "Mail to {domain} is encrypted with valid certificates, but an attacker on the path can strip STARTTLS: {}.",
                cause(&problems).unwrap_or_else(|| {
                    "neither DANE nor an enforced MTA-STS policy protects it".into()
                })
            )
        }
        Status::Strippable {
            authenticated: false,
        } => format!(
            "Mail to {domain} is encrypted but not authenticated: an attacker on the path can intercept it or strip STARTTLS."
        ),
    };
    // A good answer with a problem below it says so in the same line (and takes its
    // colour): the first one, which is also the first fix.
    if matches!(
        status,
        Status::Protected {
            authenticated: true,
            ..
        }
    ) && let Some(w) = cause(&problems)
    {
        headline.push_str(&format!(" Needs attention: {w}."));
    }
    let summary = Summary {
        headline,
        status,
        dane_authenticated,
        strippable: !mx.null && protection == Protection::None,
        accepts_no_mail: mx.null,
    };
    (summary, protection)
}

/// Lower-cases the first letter of a finding's title, to continue a sentence.
trait LowerFirst {
    fn to_lowercase_first(self) -> String;
}

impl LowerFirst for String {
    fn to_lowercase_first(self) -> String {
        let mut c = self.chars();
        // An acronym ("STARTTLS", "MTA-STS", "DANE-TA") keeps its capitals.
        let acronym = self.chars().nth(1).is_some_and(char::is_uppercase);
        match c.next() {
            Some(first) if !acronym => first.to_lowercase().chain(c).collect(),
            _ => self,
        }
    }
}

/// How much a finding costs senders, lowest first: what makes mail undeliverable, then
/// what sends it in cleartext, then what makes DANE or MTA-STS senders defer, then what
/// voids a protection the owner set up, then the rest in catalogue order.
pub(super) fn impact(code: Code) -> usize {
    const ORDER: &[Code] = &[
        Code::TlsRptStrippingOnPath,
        Code::MxNone,
        Code::DnsLookupFailed,
        Code::DnssecBogus,
        Code::DnssecIndeterminate,
        Code::MxNullMixed,
        Code::MxIpLiteral,
        Code::MxHostNoAddress,
        Code::StarttlsStripped,
        Code::StarttlsMissing,
        Code::StarttlsFailed,
        Code::TlsaMismatch,
        Code::TlsaKeyTypePartial,
        Code::DaneTaNotInChain,
        Code::DaneTaNameMismatch,
        Code::TlsaLookupFailed,
        Code::CertExpired,
        Code::MtaStsMxNotCovered,
        Code::MtaStsMxCertInvalid,
        Code::AddressesDiffer,
        Code::RrsigExpiring,
        Code::CertExpiring,
        Code::TlsaRolloverRisk,
        Code::TlsaUnusable,
        Code::MtaStsTxtInvalid,
        Code::MtaStsPolicyFetchFailed,
        Code::MtaStsPolicyInvalid,
        Code::SmtpUnresponsive,
        Code::SmtpUnreachable,
        Code::TlsOldVersion,
        Code::MtaStsEnforceUnsafe,
        Code::MtaStsMissing,
        Code::TlsaUnsigned,
    ];
    ORDER
        .iter()
        .position(|c| *c == code)
        .unwrap_or(ORDER.len() + Code::ALL.iter().position(|c| *c == code).unwrap_or(0))
}

/// Groups of one cause, and the one or two that come first: errors or warnings with a fix,
/// most harmful first. Where nothing could be tested and no such fix exists, what to do
/// first is what lets the probe test (a server that limited it: check again later).
pub(super) fn groups(findings: &[Finding], status: Status) -> (Vec<FindingGroup>, Vec<usize>) {
    let mut groups: Vec<FindingGroup> = Vec::new();
    for (i, f) in findings.iter().enumerate() {
        match groups
            .iter_mut()
            .find(|g| g.code == f.code && g.severity == f.severity)
        {
            Some(g) => g.findings.push(i),
            None => groups.push(FindingGroup {
                code: f.code,
                severity: f.severity,
                findings: vec![i],
            }),
        }
    }
    let first = groups
        .iter()
        .enumerate()
        .filter(|(_, g)| {
            matches!(g.severity, Severity::Error | Severity::Warning)
                && findings[g.findings[0]].fix.is_some()
        })
        .map(|(i, _)| i)
        .take(2)
        .collect::<Vec<usize>>();
    let first = if first.is_empty() && status == Status::NotTested {
        groups
            .iter()
            .position(|g| {
                matches!(
                    g.code,
                    Code::SmtpInconclusive
                        | Code::SmtpUnreachable
                        | Code::SmtpUnresponsive
                        | Code::AddressRefused
                ) && findings[g.findings[0]].fix.is_some()
            })
            .into_iter()
            .collect()
    } else if first.is_empty()
        && !matches!(
            status,
            Status::NoMail
                | Status::Protected {
                    authenticated: true,
                    ..
                }
        )
    {
        // A weaker status than the best one always has a first step: the most useful notice
        // with a fix (switching a testing policy to enforce, publishing TLSA records).
        groups
            .iter()
            .position(|g| g.severity != Severity::Ok && findings[g.findings[0]].fix.is_some())
            .into_iter()
            .collect()
    } else {
        first
    };
    (groups, first)
}

/// Why no address could be judged, from the verdicts of those there are.
fn untested_why(hosts: &[MxReport]) -> String {
    let verdicts: Vec<Verdict> = hosts
        .iter()
        .flat_map(|h| h.addresses.iter().map(|a| a.tls))
        .collect();
    let all = |v: Verdict| !verdicts.is_empty() && verdicts.iter().all(|x| *x == v);
    if verdicts.is_empty() {
        "no MX host has an address the probe could use".to_owned()
    } else if all(Verdict::OptedOut) {
        "the operator of this checker was asked not to test these mail servers".to_owned()
    } else if all(Verdict::Refused) {
        "every address is one the probe does not connect to (not a public address)".to_owned()
    } else if all(Verdict::Unreachable) {
        "no address accepted a connection from the probe (the servers are down, or port 25 is blocked on the way)".to_owned()
    } else if all(Verdict::Inconclusive) {
        "every server refused or limited the probe (a 421 greeting, greylisting, a rate limit)"
            .to_owned()
    } else {
        "every address was refused, unreachable or limited the probe".to_owned()
    }
}

/// What the DNS answers promise senders, without any server seen.
fn dns_alone(mx: &MxState, hosts: &[MxReport], sts_enforced: bool) -> String {
    let dane = !hosts.is_empty()
        && hosts.iter().all(|h| {
            matches!(
                h.dane,
                crate::report::DaneStatus::Applies | crate::report::DaneStatus::Unusable
            )
        });

    let signed = if mx.dnssec.is_secure() {
        "the MX records are DNSSEC-signed"
    } else {
        "the MX records are not DNSSEC-signed"
    };
    let policy = match dane {
        true => "TLSA records oblige DANE senders to use authenticated TLS",
        false
            if hosts
                .iter()
                .any(|h| h.dane == crate::report::DaneStatus::NotPublished) =>
        {
            "no TLSA records are published"
        }
        _ => "DANE does not apply",
    };
    let sts = if sts_enforced {
        ", and an enforced MTA-STS policy covers them"
    } else {
        ""
    };
    format!("{signed}; {policy}{sts}")
}
