//! The answer at the top of the report: reachability of the whole domain and the headline.

use super::{Judge, MxState};
use crate::evidence::Evidence;
use crate::findings::{Code, Finding, Severity};
use crate::report::{MxReport, Protection, Status, Summary, Verdict};

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

pub(super) fn summarise(
    ev: &Evidence,
    mx: &MxState,
    hosts: &[MxReport],
    findings: &[Finding],
    protection: Protection,
) -> Summary {
    let domain = &ev.domain;
    let judged: Vec<Verdict> = hosts
        .iter()
        .flat_map(|h| h.addresses.iter().map(|a| a.tls))
        .filter(|v| {
            !matches!(
                v,
                Verdict::Unreachable | Verdict::Inconclusive | Verdict::Refused
            )
        })
        .collect();
    let dane_authenticated = !judged.is_empty() && judged.iter().all(|v| *v == Verdict::Verified);
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let headline = if mx.null {
        format!("{domain} accepts no mail (null MX): there is nothing to protect.")
    } else if mx.bogus {
        format!(
            "Validating senders cannot use the MX records of {domain}: they fail DNSSEC validation, so those senders defer mail. The probe does not follow them either: see the finding for why they fail."
        )
    } else if mx.failed {
        format!(
            "Senders cannot find the mail servers of {domain}: the MX lookup fails, so mail is deferred or bounced."
        )
    } else if judged.is_empty() {
        format!(
            "No mail server of {domain} could be tested: {}. What DNS alone shows: {}.",
            untested_why(hosts),
            dns_alone(mx, hosts, protection)
        )
    } else if dane_authenticated && errors == 0 {
        format!(
            "Mail to {domain} is protected: DANE authenticates every MX host, and STARTTLS cannot be stripped."
        )
    } else if judged
        .iter()
        .any(|v| matches!(v, Verdict::NoStarttls | Verdict::TlsFailed))
    {
        format!(
            "Mail to {domain} can travel in cleartext: not every MX host offers working STARTTLS."
        )
    } else if errors > 0 {
        format!(
            "Mail to {domain} is at risk: {errors} error(s) below make senders defer mail or lose protection."
        )
    } else if judged.iter().all(|v| *v == Verdict::Trusted) && protection == Protection::MtaSts {
        format!(
            "Mail to {domain} is protected for MTA-STS senders: valid certificates everywhere, and the enforced policy stops STARTTLS stripping."
        )
    } else if judged.iter().all(|v| *v == Verdict::Trusted) {
        format!(
            "Mail to {domain} is encrypted with valid certificates, but without DANE or an enforced MTA-STS policy an attacker on the path can strip STARTTLS."
        )
    } else {
        format!(
            "Mail to {domain} is encrypted but not authenticated: an attacker on the path can intercept it or strip STARTTLS."
        )
    };
    let all_trusted = !judged.is_empty() && judged.iter().all(|v| *v == Verdict::Trusted);
    let status = if mx.null {
        Status::NoMail
    } else if errors > 0 {
        Status::Problems { errors }
    } else if judged.is_empty() {
        Status::NotTested
    } else if dane_authenticated {
        Status::DaneVerified
    } else if all_trusted && protection == Protection::MtaSts {
        Status::MtaStsEnforced
    } else if all_trusted {
        Status::TlsNoDane
    } else {
        Status::Unauthenticated
    };
    Summary {
        headline,
        status,
        dane_authenticated,
        strippable: !mx.null && protection == Protection::None,
        accepts_no_mail: mx.null,
    }
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
fn dns_alone(mx: &MxState, hosts: &[MxReport], protection: Protection) -> String {
    let signed = if mx.dnssec.is_secure() {
        "the MX records are DNSSEC-signed"
    } else {
        "the MX records are not DNSSEC-signed"
    };
    let policy = match protection {
        Protection::Dane | Protection::Both => {
            "TLSA records oblige DANE senders to use authenticated TLS"
        }
        _ if hosts
            .iter()
            .any(|h| h.dane == crate::report::DaneStatus::NotPublished) =>
        {
            "no TLSA records are published"
        }
        _ => "DANE does not apply",
    };
    let sts = match protection {
        Protection::MtaSts | Protection::Both => ", and an enforced MTA-STS policy covers them",
        _ => "",
    };
    format!("{signed}; {policy}{sts}")
}
