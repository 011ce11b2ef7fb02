//! What MTA-STS senders require of a policy fetch and of an MX host (RFC 8461 §3.3, §4.2):
//! the checks the MTA-STS judgement and the sender matrix share.

use crate::names::DnsName;

/// Why senders could not use the fetched policy (RFC 8461 §3.3), or `None` when they can.
pub(super) fn fetch_problem(
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

/// Every judged address of the host meets the policy's TLS requirements; `None` when no
/// address could be judged.
pub(super) fn mx_pkix_valid(mx: &crate::report::MxReport) -> Option<bool> {
    use crate::report::Verdict;
    let judged: Vec<_> = mx
        .addresses
        .iter()
        .filter(|a| {
            !matches!(
                a.tls,
                Verdict::Unreachable | Verdict::Inconclusive | Verdict::Refused | Verdict::OptedOut
            )
        })
        .collect();
    (!judged.is_empty()).then(|| {
        judged
            .iter()
            .all(|a| crate::mta_sts::address_meets_policy(a, &mx.host))
    })
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
