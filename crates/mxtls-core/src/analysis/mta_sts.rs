//! The MTA-STS judgement (RFC 8461): the TXT record, the policy fetch as senders would use
//! it, and every MX host under the policy.

use crate::mta_sts::{mx_matches, parse_policy, parse_txt};
use crate::names::{DnsName, policy_host, policy_url};
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
    let example = example_records(ev, hosts);
    match &txt {
        StsTxt::Missing => {
            let severity = if dane_everywhere { Severity::Notice } else { Severity::Warning };
            let why = if dane_everywhere {
                "DANE already protects every MX host from downgrades; MTA-STS would add protection for senders that do not validate DNSSEC (Gmail among them)."
            } else {
                "Without MTA-STS (or DANE), a sender cannot tell a real server without STARTTLS from an attacker who removed it, so an attacker on the path can read mail in transit."
            };
            findings.push(
                Finding::new(Code::MtaStsMissing, severity, domain.clone(), "No MTA-STS policy")
                    .explain(why)
                    .fix_with_records(
                        format!(
                            "Serve the policy below at {} over HTTPS with a certificate valid for {}, then publish the TXT record (start with mode: testing, and switch to enforce once TLS reports are clean).",
                            report.policy_url,
                            policy_host(&ev.domain)
                        ),
                        example.clone(),
                    ),
            );
        }
        StsTxt::Invalid { reason } => findings.push(
            Finding::new(
                Code::MtaStsTxtInvalid,
                Severity::Error,
                domain.clone(),
                "The MTA-STS TXT record is invalid, so senders ignore the policy",
            )
            .explain(format!("{reason}. RFC 8461 says senders then act as if there were no policy."))
            .fix_with_records("Publish exactly one record like this one (change the id whenever the policy changes):", example[..1].to_vec()),
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
                            Severity::Error,
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
                                Severity::Error,
                                domain.clone(),
                                "The MTA-STS policy file is invalid",
                            )
                            .explain(format!("{e}. Senders ignore an invalid policy."))
                            .fix_with_records(
                                format!("Serve a policy like this one at {}:", report.policy_url),
                                example[1..].to_vec(),
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
                "Senders report failures (to the TLS-RPT address) but still deliver without TLS or with a bad certificate. Switch to enforce once the reports are clean.",
            ),
            Mode::None => (
                Code::MtaStsNone,
                Severity::Notice,
                "The MTA-STS policy is withdrawn (mode: none)",
                "Senders drop any cached policy: MTA-STS protects nothing.",
            ),
        };
        findings.push(
            Finding::new(code, severity, domain.clone(), title)
                .explain(format!("{why} Policy max_age: {} s.", policy.max_age)),
        );
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
                    .fix_with_records(
                        "Add the host to the policy (and change the id in the TXT record):",
                        vec![format!("mx: {}", mx.host)],
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

/// Why senders could not use the fetched policy (RFC 8461 §3.3), or `None` when they can.
fn fetch_problem(
    fetch: &crate::evidence::PolicyFetch,
    host: Option<&DnsName>,
    anchors: &[rustls_pki_types::TrustAnchor<'_>],
    now: crate::UnixTime,
) -> Option<String> {
    use crate::evidence::FetchFailure as F;
    if let Some(failure) = &fetch.failure {
        return Some(match failure {
            F::NoAddress => format!(
                "{} has no address",
                host.map(DnsName::as_str).unwrap_or("the policy host")
            ),
            F::Refused { reason } => {
                format!("the policy host's address was not contacted: {reason}")
            }
            F::Connect { message } => format!("no HTTPS connection to the policy host: {message}"),
            F::Tls { message } => {
                format!("the TLS handshake with the policy host failed: {message}")
            }
            F::Timeout => "the policy host did not answer in time".to_owned(),
            F::Http { message } => format!("the policy host's answer is not valid HTTP: {message}"),
            F::TooLarge { limit } => format!("the policy is larger than {} KB", limit / 1024),
        });
    }
    // The certificate first: a policy from an unauthenticated host is worthless.
    if let Some(tls) = &fetch.tls {
        if let Err(e) = crate::pkix::verify_chain(&tls.chain, anchors, now) {
            return Some(format!("the policy host's certificate is not valid: {e}"));
        }
        let names = tls
            .chain
            .first()
            .and_then(|der| crate::cert::ParsedCert::parse(der.as_ref()).ok())
            .map(|c| c.dns_names())
            .unwrap_or_default();
        if let Some(host) = host
            && !names.iter().any(|n| crate::cert::name_matches(n, host))
        {
            return Some(format!(
                "the policy host's certificate is for {} and not for {host}",
                if names.is_empty() {
                    "no DNS name".to_owned()
                } else {
                    names.join(", ")
                }
            ));
        }
    }
    match fetch.status {
        Some(200) => {}
        Some(code @ 300..=399) => {
            return Some(format!(
                "the policy URL redirects ({code}{}); senders must not follow redirects",
                fetch
                    .location
                    .as_ref()
                    .map(|l| format!(" to {l}"))
                    .unwrap_or_default()
            ));
        }
        Some(code) => return Some(format!("the policy URL answers HTTP {code}, not 200")),
        None => return Some(fetch.error.clone().unwrap_or_else(|| "no answer".into())),
    }
    let media = fetch
        .content_type
        .as_deref()
        .and_then(|c| c.split(';').next())
        .map(|c| c.trim().to_ascii_lowercase());
    if media.as_deref() != Some("text/plain") {
        return Some(format!(
            "the policy is served as {}, not text/plain",
            fetch.content_type.as_deref().unwrap_or("(no Content-Type)")
        ));
    }
    None
}

/// Whether an address meets MTA-STS's TLS requirements for MX host `host` (RFC 8461
/// §4.2): STARTTLS, TLS 1.2 or later, and every chain PKIX-valid with a DNS name of `host`.
pub fn address_meets_policy(address: &crate::report::AddressReport, host: &DnsName) -> bool {
    use crate::report::Verdict;
    matches!(
        address.tls,
        Verdict::Verified | Verdict::Trusted | Verdict::Untrusted
    ) && !address.chains.is_empty()
        && address.chains.iter().all(|c| {
            c.pkix.is_ok()
                && !c.deprecated_tls()
                && c.certs.first().is_some_and(|ee| {
                    ee.dns_names
                        .iter()
                        .any(|n| crate::cert::name_matches(n, host))
                })
        })
}

/// Every judged address of the host meets the policy's TLS requirements; `None` when no
/// address could be judged.
fn mx_pkix_valid(mx: &crate::report::MxReport) -> Option<bool> {
    use crate::report::Verdict;
    let judged: Vec<_> = mx
        .addresses
        .iter()
        .filter(|a| {
            !matches!(
                a.tls,
                Verdict::Unreachable | Verdict::Inconclusive | Verdict::Refused
            )
        })
        .collect();
    (!judged.is_empty()).then(|| judged.iter().all(|a| address_meets_policy(a, &mx.host)))
}

/// The records a domain would publish: the TXT record, then the policy's lines.
fn example_records(ev: &crate::Evidence, hosts: &[crate::report::MxReport]) -> Vec<String> {
    let mut out = vec![format!(
        "_mta-sts.{}. IN TXT \"v=STSv1; id={}\"",
        ev.domain,
        ev.probe
            .finished_at
            .to_string()
            .get(..10)
            .unwrap_or("1")
            .replace('-', "")
    )];
    out.push("version: STSv1".into());
    out.push("mode: testing".into());
    for h in hosts {
        out.push(format!("mx: {}", h.host));
    }
    out.push("max_age: 604800".into());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mta_sts::MAX_POLICY_BYTES;

    fn fetch(
        status: Option<u16>,
        failure: Option<crate::evidence::FetchFailure>,
    ) -> crate::evidence::PolicyFetch {
        crate::evidence::PolicyFetch {
            url: "https://mta-sts.example/.well-known/mta-sts.txt".into(),
            address: None,
            status,
            content_type: Some("text/plain; charset=utf-8".into()),
            location: Some("https://elsewhere.example/".into()),
            body: None,
            tls: None,
            error: None,
            elapsed_ms: None,
            failure,
            lookups: Vec::new(),
        }
    }

    #[test]
    fn fetch_failures_say_why() {
        use crate::evidence::FetchFailure as F;
        let host = DnsName::parse("mta-sts.example").unwrap();
        let why = |f: crate::evidence::PolicyFetch| {
            fetch_problem(&f, Some(&host), &[], crate::UnixTime(0)).unwrap_or_default()
        };
        assert!(why(fetch(None, Some(F::NoAddress))).contains("mta-sts.example has no address"));
        assert!(why(fetch(None, Some(F::Timeout))).contains("did not answer in time"));
        assert!(
            why(fetch(
                None,
                Some(F::TooLarge {
                    limit: MAX_POLICY_BYTES
                })
            ))
            .contains("64 KB")
        );
        assert!(
            why(fetch(Some(302), None)).contains("redirects (302 to https://elsewhere.example/)")
        );
        assert!(why(fetch(Some(500), None)).contains("HTTP 500"));
        let mut html = fetch(Some(200), None);
        html.content_type = Some("text/html".into());
        assert!(why(html).contains("not text/plain"));
        assert_eq!(
            fetch_problem(
                &fetch(Some(200), None),
                Some(&host),
                &[],
                crate::UnixTime(0)
            ),
            None
        );
    }
}
