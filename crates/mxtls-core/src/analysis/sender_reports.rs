//! TLS-RPT reports held against the probe's evidence: what real senders saw, matched with
//! what the probe sees and says. A sender that reports `starttls-not-supported` where the
//! probe sees STARTTLS offered and working is the stripping attack observed in the wild.

use std::net::IpAddr;

use crate::evidence::Evidence;
use crate::findings::{Code, Finding, Severity, Subject};
use crate::names::DnsName;
use crate::report::{AddressReport, Mode, MxReport, Report, Verdict};
use crate::tls_rpt::report::{AggregateReport, PolicyType, ResultType};

/// Failures of one result type at one receiving host and address, over every report.
struct Seen<'r> {
    result: &'r ResultType,
    host: Option<&'r str>,
    ip: Option<IpAddr>,
    sessions: u64,
    organizations: Vec<&'r str>,
    senders: Vec<IpAddr>,
    first_day: String,
    last_day: String,
}

impl Seen<'_> {
    /// "Google LLC and Mail Co reported 200 sessions … on 2026-11-30 (from 209.85.1.1, …)".
    fn who(&self) -> String {
        let days = if self.first_day == self.last_day {
            format!("on {}", self.first_day)
        } else {
            format!("from {} to {}", self.first_day, self.last_day)
        };
        let from = if self.senders.is_empty() {
            String::new()
        } else {
            let shown: Vec<String> = self.senders.iter().take(3).map(|i| i.to_string()).collect();
            let more = self.senders.len().saturating_sub(3);
            let more = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            format!(", sending from {}{more}", shown.join(", "))
        };
        format!(
            "{} reported {} {days}{from}",
            self.organizations.join(", "),
            crate::present::count(self.sessions, "failed session", "failed sessions")
        )
    }

    fn place(&self) -> String {
        match (self.host, self.ip) {
            (Some(h), Some(ip)) => format!("{h} [{ip}]"),
            (Some(h), None) => h.to_owned(),
            (None, Some(ip)) => format!("[{ip}]"),
            (None, None) => "your mail servers".to_owned(),
        }
    }
}

/// The reports' findings for the domain of `evidence`, judged as `report`. Reports about
/// another policy domain are left out (the caller says so).
pub fn judge_reports(
    reports: &[AggregateReport],
    evidence: &Evidence,
    report: &Report,
) -> Vec<Finding> {
    let domain = evidence.domain.as_str();
    let ours = |d: &str| d.is_empty() || d == domain;
    let mut seen: Vec<Seen<'_>> = Vec::new();
    let mut out = Vec::new();
    for r in reports {
        let day: String = r.start.to_string().chars().take(10).collect();
        for p in r.policies.iter().filter(|p| ours(&p.policy_domain)) {
            for f in &p.failures {
                let host = f.receiving_mx_hostname.as_deref();
                let at = seen.iter().position(|s| {
                    s.result == &f.result_type && s.host == host && s.ip == f.receiving_ip
                });
                let s = match at {
                    Some(i) => &mut seen[i],
                    None => {
                        seen.push(Seen {
                            result: &f.result_type,
                            host,
                            ip: f.receiving_ip,
                            sessions: 0,
                            organizations: Vec::new(),
                            senders: Vec::new(),
                            first_day: day.clone(),
                            last_day: day.clone(),
                        });
                        let last = seen.len() - 1;
                        &mut seen[last]
                    }
                };
                s.sessions = s.sessions.saturating_add(f.failed_session_count);
                if !s.organizations.contains(&r.organization.as_str()) {
                    s.organizations.push(&r.organization);
                }
                if let Some(ip) = f.sending_mta_ip
                    && !s.senders.contains(&ip)
                {
                    s.senders.push(ip);
                }
                s.first_day = s.first_day.clone().min(day.clone());
                s.last_day = s.last_day.clone().max(day.clone());
            }
        }
    }
    for s in &seen {
        out.push(failure(s, report));
    }
    out.extend(policy_findings(reports, evidence, report));
    if out.is_empty() {
        let sessions: u64 = reports
            .iter()
            .flat_map(|r| &r.policies)
            .filter(|p| ours(&p.policy_domain))
            .map(|p| p.successful)
            .sum();
        let orgs = organizations(
            reports
                .iter()
                .filter(|r| r.policies.iter().any(|p| ours(&p.policy_domain))),
        );
        if sessions > 0 {
            out.push(
                Finding::new(
                    Code::TlsRptClean,
                    Severity::Ok,
                    domain_subject(evidence),
                    format!(
                        "{orgs} reported {sessions} sessions, all with TLS as your policy asks"
                    ),
                )
                .explain("No sender reported a failed TLS session in these reports."),
            );
        }
    }
    out
}

fn organizations<'a>(reports: impl Iterator<Item = &'a AggregateReport>) -> String {
    let mut names: Vec<&str> = reports.map(|r| r.organization.as_str()).collect();
    names.sort();
    names.dedup();
    names.join(", ")
}

fn domain_subject(ev: &Evidence) -> Subject {
    Subject::Domain {
        name: ev.domain.clone(),
    }
}

/// The MX host a failure is about, by name or else by address.
fn host_of<'a>(report: &'a Report, s: &Seen<'_>) -> Option<&'a MxReport> {
    let by_name = s
        .host
        .and_then(|h| report.mx.iter().find(|m| m.host.as_str() == h));
    by_name.or_else(|| {
        s.ip.and_then(|ip| {
            report
                .mx
                .iter()
                .find(|m| m.addresses.iter().any(|a| a.ip == ip))
        })
    })
}

/// The probe finding codes that are the same failure as a report's result type.
fn counterparts(result: &ResultType) -> &'static [Code] {
    use Code::*;
    match result {
        ResultType::StarttlsNotSupported | ResultType::DaneRequired => {
            &[StarttlsMissing, StarttlsStripped, StarttlsFailed]
        }
        ResultType::CertificateHostMismatch => {
            &[CertNameMismatch, DaneTaNameMismatch, MtaStsMxCertInvalid]
        }
        ResultType::CertificateExpired => &[CertExpired],
        ResultType::CertificateNotTrusted => &[CertUntrusted, MtaStsMxCertInvalid],
        ResultType::ValidationFailure => &[
            TlsaMismatch,
            TlsaKeyTypePartial,
            DaneTaNotInChain,
            DaneTaNameMismatch,
            CertUntrusted,
            CertExpired,
        ],
        ResultType::TlsaInvalid => &[TlsaMismatch, TlsaUnusable, TlsaKeyTypePartial],
        ResultType::DnssecInvalid => &[DnssecBogus, DnssecIndeterminate, TlsaLookupFailed],
        ResultType::StsPolicyFetchError => &[MtaStsPolicyFetchFailed],
        ResultType::StsPolicyInvalid => &[MtaStsPolicyInvalid, MtaStsTxtInvalid],
        ResultType::StsWebpkiInvalid => &[
            MtaStsMxCertInvalid,
            CertUntrusted,
            CertNameMismatch,
            CertExpired,
        ],
        ResultType::Other(_) => &[],
    }
}

/// Whether a probe finding is about `host` (or about the whole domain).
fn about(f: &Finding, host: Option<&DnsName>) -> bool {
    match (&f.subject, host) {
        (Subject::Domain { .. }, _) => true,
        (Subject::Host { name } | Subject::Address { host: name, .. }, Some(h)) => name == h,
        (_, None) => true,
        (Subject::Resolver, _) => false,
    }
}

/// STARTTLS offered and a handshake that worked, as the probe saw the address.
fn starttls_works(a: &AddressReport) -> bool {
    a.starttls_offered == Some(true)
        && matches!(
            a.tls,
            Verdict::Verified | Verdict::Trusted | Verdict::Untrusted
        )
}

fn failure(s: &Seen<'_>, report: &Report) -> Finding {
    let host = host_of(report, s);
    let subject = match (host, s.ip) {
        (Some(h), Some(ip)) if h.addresses.iter().any(|a| a.ip == ip) => Subject::Address {
            host: h.host.clone(),
            ip,
        },
        (Some(h), _) => Subject::Host {
            name: h.host.clone(),
        },
        (None, _) => Subject::Domain {
            name: report.domain.clone(),
        },
    };
    let result = s.result.id();
    let Some(h) = host else {
        if s.host.is_some() || s.ip.is_some() {
            return Finding::new(Code::TlsRptUnknownMx, Severity::Notice, subject, format!("Senders report failures at {}, which the domain does not publish", s.place()))
                .explain(format!("{} ({result}) at {}; the MX records the probe read name no such host or address. Either it was removed since (the reports are about older days), or those senders use stale DNS.", s.who(), s.place()));
        }
        return not_seen(s, subject, "");
    };
    if let Some(ip) = s.ip
        && !h.addresses.iter().any(|a| a.ip == ip)
    {
        return Finding::new(Code::TlsRptUnknownMx, Severity::Notice, subject, format!("Senders report failures at {}, an address {} no longer has", s.place(), h.host))
            .explain(format!("{} ({result}) at {}; the probe found {} at other addresses. Those senders use an old address (stale DNS, or it changed since the days reported).", s.who(), s.place(), h.host));
    }
    // The addresses the report is about: the one named, or every address of the host.
    let addresses: Vec<&AddressReport> = h
        .addresses
        .iter()
        .filter(|a| s.ip.is_none_or(|ip| a.ip == ip))
        .collect();
    if *s.result == ResultType::StarttlsNotSupported
        && !addresses.is_empty()
        && addresses.iter().all(|a| starttls_works(a))
    {
        return Finding::new(Code::TlsRptStrippingOnPath, Severity::Error, subject, format!("STARTTLS is stripped between some senders and {}", s.place()))
            .explain(format!("{} (starttls-not-supported) at {}, but the probe sees STARTTLS offered and working there ({}). Something on those senders' path removes the STARTTLS offer — a middlebox or an attacker — so their mail travels in cleartext, or is deferred where DANE or MTA-STS forbids that.", s.who(), s.place(), report.judged_at))
            .fix(format!("Ask the reporting organisations' postmasters about the path from the sending addresses named, and check firewalls and SMTP inspection (\"ESMTP inspection\", \"fixup smtp\") in front of your servers. {}", protect(report)));
    }
    let codes = counterparts(s.result);
    let probe = report
        .findings
        .iter()
        .find(|f| codes.contains(&f.code) && about(f, Some(&h.host)) && f.severity != Severity::Ok);
    match probe {
        Some(p) => {
            let mut f = Finding::new(
                Code::TlsRptFailureConfirmed,
                p.severity,
                subject,
                format!(
                    "Senders' {result} failures at {} are what the probe finds too",
                    s.place()
                ),
            )
            .explain(format!(
                "{} ({result}) at {}; the probe finds the same cause: {} ({}).",
                s.who(),
                s.place(),
                p.title,
                p.code
            ));
            f.fix = p.fix.clone();
            f
        }
        None => not_seen(s, subject, &format!(" at {}", h.host)),
    }
}

/// What makes senders refuse cleartext instead of falling back, given what is published.
fn protect(report: &Report) -> &'static str {
    use crate::report::Protection;
    match report.downgrade_protection {
        Protection::None | Protection::Unknown => {
            "Publish DANE TLSA records or an enforced MTA-STS policy, so that senders refuse to deliver without TLS instead of falling back to cleartext."
        }
        Protection::Dane => {
            "DANE senders already refuse cleartext; an enforced MTA-STS policy makes the others (Gmail among them) refuse it too."
        }
        Protection::MtaSts => {
            "MTA-STS senders that cached the policy already refuse cleartext; DANE TLSA records protect DANE senders from the first message on."
        }
        Protection::Both => {
            "DANE and MTA-STS are in place: the reporting senders apply neither here (no DANE support, or a first contact before the policy was cached)."
        }
    }
}

fn not_seen(s: &Seen<'_>, subject: Subject, at: &str) -> Finding {
    let result = s.result.id();
    Finding::new(Code::TlsRptFailureNotSeen, Severity::Notice, subject, format!("Senders report {result} failures{at} that the probe does not see now"))
        .explain(format!("{} ({result}) at {}. The probe finds nothing that would cause it: it was fixed since those days, or it depends on the sender's path or resolver.", s.who(), s.place()))
}

/// Stale MTA-STS policies at senders, and senders that found no policy while one is
/// published.
fn policy_findings(
    reports: &[AggregateReport],
    evidence: &Evidence,
    report: &Report,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let domain = evidence.domain.as_str();
    let published: Option<Vec<String>> = report
        .mta_sts
        .as_ref()
        .filter(|s| s.policy.is_some())
        .and(evidence.mta_sts.policy.as_ref())
        .and_then(|p| p.body.as_ref())
        .map(|b| lines(String::from_utf8_lossy(b.as_ref()).lines()));
    let sts_mode = report.mta_sts.as_ref().and_then(|s| s.mode);
    let mut stale: Vec<&str> = Vec::new();
    let mut stale_lines: Vec<String> = Vec::new();
    let mut not_found: Vec<&str> = Vec::new();
    let mut not_found_sessions = 0u64;
    for r in reports {
        for p in r
            .policies
            .iter()
            .filter(|p| p.policy_domain.is_empty() || p.policy_domain == domain)
        {
            match &p.policy_type {
                PolicyType::Sts => {
                    if let Some(now) = &published {
                        let theirs = lines(p.policy_string.iter().map(String::as_str));
                        if !theirs.is_empty() && &theirs != now {
                            if !stale.contains(&r.organization.as_str()) {
                                stale.push(&r.organization);
                            }
                            stale_lines = theirs;
                        }
                    }
                }
                // Only against MTA-STS: every sender can fetch it, while a sender that does not
                // validate DANE (Gmail) rightly reports no-policy-found for a DANE-only domain.
                PolicyType::NoPolicyFound
                    if matches!(sts_mode, Some(Mode::Enforce | Mode::Testing)) =>
                {
                    if !not_found.contains(&r.organization.as_str()) {
                        not_found.push(&r.organization);
                    }
                    not_found_sessions += p.successful + p.failed;
                }
                _ => {}
            }
        }
    }
    if !stale.is_empty() {
        out.push(Finding::new(Code::TlsRptStalePolicy, Severity::Notice, domain_subject(evidence), format!("{} still apply an older MTA-STS policy", stale.join(", ")))
            .explain(format!("Their reports carry the policy \"{}\", not the one you serve now. Senders keep a policy until its max_age runs out, and fetch a new one only when the id in the _mta-sts TXT record changes.", stale_lines.join("; ")))
            .fix("Whenever the policy file changes, change the id in the _mta-sts TXT record too, so that senders fetch it again."));
    }
    if !not_found.is_empty() {
        out.push(Finding::new(Code::TlsRptPolicyNotFound, Severity::Warning, domain_subject(evidence), format!("{} found no policy while the domain publishes an MTA-STS policy", not_found.join(", ")))
            .explain(format!("Their reports say no-policy-found for {not_found_sessions} sessions: those senders delivered without applying your MTA-STS policy — a first contact before the policy was cached, a TXT lookup or policy fetch that failed for them, or a policy published only since.")));
    }
    out
}

/// Policy lines compared as senders parse them: trimmed, empty lines left out.
fn lines<'a>(it: impl Iterator<Item = &'a str>) -> Vec<String> {
    it.map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}
