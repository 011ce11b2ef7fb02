//! The MTA-STS judgement (RFC 8461): the TXT record, the policy fetch as senders would use
//! it, and every MX host under the policy.

use super::mta_sts_policy::{fetch_problem, mx_pkix_valid};
use crate::mta_sts::{mx_matches, parse_policy, parse_txt};
use crate::names::{policy_host, policy_url};
use crate::report::{FetchState, Mode, MtaStsReport, StsHost, StsTxt};

/// Judges the MTA-STS evidence against the MX hosts as the analysis saw them.
pub fn judge(
    ev: &crate::Evidence,
    hosts: &[crate::report::MxReport],
    anchors: &[rustls_pki_types::TrustAnchor<'_>],
    now: crate::UnixTime,
    dane_everywhere: bool,
) -> (MtaStsReport, Vec<crate::Finding>) {
    use crate::evidence::DnsOutcome;
    use crate::findings::{Code, Finding, Severity, Subject};

    let domain = Subject::Domain {
        name: ev.domain.clone(),
    };
    let mut findings = Vec::new();
    let txt = match &ev.mta_sts.txt {
        None => StsTxt::Missing,
        Some(a) if a.got_no_answer() => StsTxt::LookupFailed {
            reason: format!("the TXT lookup of {} fails ({})", a.qname, a.outcome.id()),
        },
        Some(a) => match a.outcome {
            DnsOutcome::Data | DnsOutcome::NoData | DnsOutcome::NxDomain => {
                parse_txt(&crate::dns::txt_strings(a))
            }
            _ => StsTxt::Invalid {
                reason: format!("the TXT lookup of {} failed ({})", a.qname, a.outcome.id()),
            },
        },
    };
    let mut report = MtaStsReport {
        txt: txt.clone(),
        policy_url: policy_url(&ev.domain),
        fetch: FetchState::NotFetched,
        policy: None,
        policy_error: None,
        mode: None,
        hosts: Vec::new(),
    };
    let txt_fix = vec![txt_record(ev, &txt)];
    let mx_names: Vec<String> = hosts.iter().map(|h| h.host.to_string()).collect();
    let failing_pkix: Vec<String> = hosts
        .iter()
        .filter(|h| mx_pkix_valid(h) == Some(false))
        .map(|h| h.host.to_string())
        .collect();
    let tls_rpt_set_up = ev.tls_rpt.as_ref().is_some_and(|a| {
        matches!(
            crate::tls_rpt::parse_txt(&crate::dns::txt_strings(a)),
            crate::tls_rpt::TlsRpt::Valid { .. }
        )
    });
    match &txt {
        StsTxt::Missing => {
            let severity = if dane_everywhere { Severity::Notice } else { Severity::Warning };
            let why = if dane_everywhere {
                "DANE already protects every MX host from downgrades; MTA-STS would add protection for senders that do not validate DNSSEC (Gmail among them)."
            } else {
                "Without MTA-STS (or DANE), a sender cannot tell a real server without STARTTLS from an attacker who removed it, so an attacker on the path can read mail in transit."
            };
            let mut explanation = why.to_owned();
            if !failing_pkix.is_empty() {
                explanation.push_str(&format!(
                    " Before you switch to enforce: senders that enforce a policy would defer mail to {}, which {} not meet it (STARTTLS, TLS 1.2 or later, and a publicly trusted certificate for the host's name).",
                    failing_pkix.join(", "),
                    if failing_pkix.len() == 1 { "does" } else { "do" }
                ));
            }
            let reports = if tls_rpt_set_up {
                "switch to enforce once the TLS reports are clean"
            } else {
                "publish a TLS-RPT record too (see its finding) so that senders tell you what fails, and switch to enforce once their reports are clean"
            };
            findings.push(
                Finding::new(Code::MtaStsMissing, severity, domain.clone(), "No MTA-STS policy")
                    .explain(explanation)
                    .fix_with_file(
                        format!(
                            "Serve this file at {} over HTTPS with a certificate valid for {} from a public CA, then publish the TXT record. Start in testing mode; {reports}.",
                            report.policy_url,
                            policy_host(&ev.domain)
                        ),
                        txt_fix.clone(),
                        policy_file(ev, Mode::Testing, &mx_names, 604_800),
                    ),
            );
        }
        StsTxt::Invalid { reason } => findings.push(
            Finding::new(
                Code::MtaStsTxtInvalid,
                Severity::Warning,
                domain.clone(),
                "The MTA-STS TXT record is invalid, so senders ignore the policy",
            )
            .explain(format!("{reason}. RFC 8461 says senders then act as if there were no policy."))
            .fix_with_records("Publish exactly one record like this one (change the id whenever the policy changes):", txt_fix.clone()),
        ),
        StsTxt::LookupFailed { reason } => findings.push(
            Finding::new(
                Code::DnsLookupFailed,
                Severity::Warning,
                domain.clone(),
                "The MTA-STS TXT lookup fails",
            )
            .explain(format!("{reason}. Senders that cached your policy keep applying it until it expires; the others cannot discover it, so it does not protect their mail.")),
        ),
        StsTxt::Valid { .. } => {}
    }

    // The policy file.
    if let Some(fetch) = &ev.mta_sts.policy {
        let host = Some(policy_host(&ev.domain));
        match fetch_problem(fetch, host.as_ref(), anchors, now) {
            Some(why) => {
                report.fetch = FetchState::Failed { why: why.clone() };
                if txt != StsTxt::Missing {
                    findings.push(
                        Finding::new(
                            Code::MtaStsPolicyFetchFailed,
                            Severity::Warning,
                            domain.clone(),
                            "The MTA-STS policy cannot be fetched",
                        )
                        .explain(format!(
                            "{why}. Senders that have no cached copy of the policy deliver as if there were none; those with a cached copy keep applying it until it expires."
                        ))
                        .fix(format!(
                            "Serve the policy at {} with status 200, Content-Type text/plain, no redirect, at most 64 KB, over HTTPS with a certificate valid for {} from a public CA.",
                            report.policy_url,
                            policy_host(&ev.domain)
                        )),
                    );
                }
            }
            None => {
                report.fetch = FetchState::Fetched;
                let body = fetch
                    .body
                    .as_ref()
                    .map(|b| b.0.as_slice())
                    .unwrap_or_default();
                match parse_policy(body) {
                    Ok(policy) => report.policy = Some(policy),
                    Err(e) => {
                        report.policy_error = Some(e.clone());
                        findings.push(
                            Finding::new(
                                Code::MtaStsPolicyInvalid,
                                Severity::Warning,
                                domain.clone(),
                                "The MTA-STS policy file is invalid",
                            )
                            .explain(format!("{e}. Senders ignore an invalid policy."))
                            .fix_with_file(
                                format!(
                                    "Serve a valid policy like this one at {}, and change the id of the TXT record:",
                                    report.policy_url
                                ),
                                txt_fix.clone(),
                                policy_file(ev, Mode::Testing, &mx_names, 604_800),
                            ),
                        );
                    }
                }
            }
        }
    }

    if let (StsTxt::Valid { .. }, Some(policy)) = (&txt, &report.policy) {
        report.mode = Some(policy.mode);
        let (code, severity, title, why) = match policy.mode {
            Mode::Enforce => (
                Code::MtaStsEnforce,
                Severity::Ok,
                "MTA-STS is enforced",
                "Senders that support MTA-STS deliver only over TLS with a valid certificate to the MX hosts the policy names, so an attacker cannot strip STARTTLS for them (after their first contact, once the policy is cached).",
            ),
            Mode::Testing => (
                Code::MtaStsTesting,
                Severity::Notice,
                "MTA-STS is in testing mode: no protection yet",
                "Senders still deliver without TLS or with a bad certificate; those that support TLS-RPT report the failures to the address of a TLS-RPT record.",
            ),
            Mode::None => (
                Code::MtaStsNone,
                Severity::Notice,
                "The MTA-STS policy is withdrawn (mode: none)",
                "Senders drop any cached policy: MTA-STS protects nothing.",
            ),
        };
        let mut finding = Finding::new(code, severity, domain.clone(), title)
            .explain(format!("{why} Policy max_age: {} s.", policy.max_age));
        if policy.mode == Mode::Testing && failing_pkix.is_empty() {
            let when = if tls_rpt_set_up {
                "Once the TLS reports are clean"
            } else {
                "Every MX host meets the policy now (publish a TLS-RPT record to hear from senders what still fails)"
            };
            finding = finding.fix_with_file(
                format!(
                    "{when}, switch to enforce: serve this file at {} and publish the TXT record with its new id.",
                    report.policy_url
                ),
                txt_fix.clone(),
                policy_file(ev, Mode::Enforce, &policy.mx, policy.max_age),
            );
        }
        findings.push(finding);
        if policy.mode == Mode::Testing && !failing_pkix.is_empty() {
            findings.push(
                Finding::new(
                    Code::MtaStsEnforceUnsafe,
                    Severity::Warning,
                    domain.clone(),
                    "Switching MTA-STS to enforce now would make senders defer mail",
                )
                .explain(format!(
                    "{} {} not meet the policy (STARTTLS, TLS 1.2 or later, and a publicly trusted certificate for the host's name): under enforce, MTA-STS senders refuse to deliver there. In testing mode they only report it.",
                    failing_pkix.join(", "),
                    if failing_pkix.len() == 1 { "does" } else { "do" }
                ))
                .fix("First install certificates from a public CA that name each MX host (with their intermediates), then switch to enforce."),
            );
        }
        for mx in hosts {
            let covered = policy.mx.iter().any(|p| mx_matches(p, &mx.host));
            let pkix_valid = mx_pkix_valid(mx);
            report.hosts.push(StsHost {
                host: mx.host.clone(),
                covered,
                pkix_valid,
            });
            if policy.mode == Mode::None {
                continue;
            }
            let enforce = policy.mode == Mode::Enforce;
            let subject = Subject::Host {
                name: mx.host.clone(),
            };
            if !covered {
                findings.push(
                    Finding::new(
                        Code::MtaStsMxNotCovered,
                        if enforce { Severity::Error } else { Severity::Warning },
                        subject,
                        "The MTA-STS policy does not list this MX host",
                    )
                    .explain(if enforce {
                        "Senders that enforce the policy refuse to deliver to this host; if no listed host accepts the mail, it is deferred and finally bounced."
                    } else {
                        "Under enforce, senders would refuse to deliver to this host."
                    })
                    .fix_with_file(
                        format!(
                            "Add the host to the policy: serve this file at {} and publish the TXT record with its new id.",
                            report.policy_url
                        ),
                        txt_fix.clone(),
                        policy_file(
                            ev,
                            policy.mode,
                            &policy
                                .mx
                                .iter()
                                .cloned()
                                .chain([mx.host.to_string()])
                                .collect::<Vec<_>>(),
                            policy.max_age,
                        ),
                    ),
                );
            } else if pkix_valid == Some(false) {
                findings.push(
                    Finding::new(
                        Code::MtaStsMxCertInvalid,
                        if enforce { Severity::Error } else { Severity::Warning },
                        subject,
                        "This MX host fails MTA-STS: no PKIX-valid certificate for its name",
                    )
                    .explain(if enforce {
                        "MTA-STS senders require STARTTLS, TLS 1.2 or later and a certificate from a public CA that names the MX host. They will not deliver to this host."
                    } else {
                        "Under enforce, senders would not deliver to this host: it needs STARTTLS, TLS 1.2+ and a certificate from a public CA naming the host."
                    })
                    .fix(format!(
                        "Install a certificate for {} from a public CA (with its intermediates) on every address.",
                        mx.host
                    )),
                );
            }
        }
    }

    (report, findings)
}

/// The `_mta-sts` TXT record to publish, with a new id: the probe's time, `YYYYMMDDhhmmss`
/// (RFC 8461 §3.1: the id must change whenever the policy does).
fn txt_record(ev: &crate::Evidence, current: &StsTxt) -> String {
    let stamp: String = ev
        .probe
        .finished_at
        .to_string()
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let id = match current {
        StsTxt::Valid { id } if *id == stamp => format!("{stamp}a"),
        _ => stamp,
    };
    format!("_mta-sts.{}. IN TXT \"v=STSv1; id={id}\"", ev.domain)
}

/// A whole policy file (RFC 8461 §3.2, lines ending CRLF), to serve at the policy URL.
fn policy_file(
    ev: &crate::Evidence,
    mode: Mode,
    mx: &[String],
    max_age: u64,
) -> crate::findings::FixFile {
    let mut content = format!("version: STSv1\r\nmode: {}\r\n", mode.id());
    let mut seen: Vec<&String> = Vec::new();
    for m in mx {
        if !seen.contains(&m) {
            content.push_str(&format!("mx: {m}\r\n"));
            seen.push(m);
        }
    }
    content.push_str(&format!("max_age: {max_age}\r\n"));
    crate::findings::FixFile {
        name: "mta-sts.txt".into(),
        url: policy_url(&ev.domain),
        content,
    }
}
