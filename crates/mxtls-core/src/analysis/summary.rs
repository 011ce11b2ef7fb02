//! The answer at the top of the report: reachability of the whole domain and the headline.

use super::{Judge, MxState};
use crate::evidence::Evidence;
use crate::findings::{Code, Finding, Severity};
use crate::report::{MxReport, Protection, Status, Summary, Verdict};

impl Judge<'_> {
    /// No address anywhere accepted a connection: mail cannot be delivered at all.
    pub(super) fn reachability(&mut self, hosts: &[MxReport]) {
        let verdicts: Vec<Verdict> = hosts
            .iter()
            .flat_map(|h| h.addresses.iter().map(|a| a.tls))
            .collect();
        if !verdicts.is_empty() && verdicts.iter().all(|v| *v == Verdict::Unreachable) {
            let subject = self.domain();
            self.push(
                Finding::new(Code::SmtpUnreachable, Severity::Error, subject, "No MX host accepts connections on port 25")
                    .explain("Every address of every MX host refused or ignored the connection. Senders queue mail and bounce it after a few days.")
                    .fix("Make sure the mail servers run, listen on port 25 and are reachable through firewalls."),
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
        format!("No mail server of {domain} could be tested: see the findings below.")
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
