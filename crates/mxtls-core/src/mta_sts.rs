//! MTA-STS (RFC 8461): the `_mta-sts` TXT record, the policy file, and which MX hosts a
//! policy covers: parsing, and the judgement `analysis` calls (`judge`).

use serde::{Deserialize, Serialize};

use crate::names::{DnsName, policy_host, policy_url};

/// The longest `max_age` allowed (RFC 8461 §3.2: 31557600 s, one year).
pub const MAX_AGE_LIMIT: u64 = 31_557_600;
/// The size limit senders apply to a policy body (RFC 8461 §3.3 suggests 64 KB).
pub const MAX_POLICY_BYTES: usize = 64 * 1024;

/// What the `_mta-sts.<domain>` TXT RRset says (RFC 8461 §3.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum StsTxt {
    /// No record starting with `v=STSv1`: the domain has no MTA-STS.
    Missing,
    /// Exactly one well-formed record.
    Valid { id: String },
    /// Senders must assume no policy.
    Invalid { reason: String },
    /// The lookup got no answer (timeout, SERVFAIL): senders keep a policy they have cached,
    /// and those without one see none.
    LookupFailed { reason: String },
}

/// Reads the TXT strings of `_mta-sts.<domain>`: records not starting with `v=STSv1` are
/// ignored; more than one that does, or a malformed one, means no policy.
pub fn parse_txt(records: &[Vec<u8>]) -> StsTxt {
    match crate::dns::tagged_txt(records, "v=STSv1") {
        Ok(None) => StsTxt::Missing,
        Ok(Some(text)) => parse_one_txt(&text),
        Err(reason) => StsTxt::Invalid { reason },
    }
}

fn parse_one_txt(text: &str) -> StsTxt {
    let invalid = |reason: String| StsTxt::Invalid { reason };
    let mut id = None;
    for (i, field) in text.split(';').map(str::trim).enumerate() {
        if field.is_empty() {
            continue; // a trailing ';' is allowed
        }
        let Some((key, value)) = field.split_once('=') else {
            return invalid(format!("\"{field}\" is not a key=value field"));
        };
        let (key, value) = (key.trim(), value.trim());
        match (i, key) {
            (0, "v") if value == "STSv1" => {}
            (0, _) => return invalid("the record must begin with v=STSv1".into()),
            (_, "id") => {
                if id.is_some() {
                    return invalid("the record has two id fields".into());
                }
                if value.is_empty()
                    || value.len() > 32
                    || !value.bytes().all(|b| b.is_ascii_alphanumeric())
                {
                    return invalid(format!("id \"{value}\" must be 1 to 32 letters and digits"));
                }
                id = Some(value.to_owned());
            }
            // Extension fields are allowed (sts-ext-name = sts-ext-value).
            (_, k)
                if !k.is_empty()
                    && k.bytes().all(|b| {
                        b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.'
                    }) => {}
            (_, k) => return invalid(format!("\"{k}\" is not a valid field name")),
        }
    }
    match id {
        Some(id) => StsTxt::Valid { id },
        None => invalid("the record has no id field".into()),
    }
}

/// The policy's mode (RFC 8461 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Senders must not deliver to an MX host that fails the policy.
    Enforce,
    /// Senders deliver anyway and report failures (TLS-RPT).
    Testing,
    /// The domain withdraws its policy.
    None,
}

impl Mode {
    pub fn label(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Testing => "testing",
            Mode::None => "none",
        }
    }
}

/// A parsed policy file (RFC 8461 §3.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    pub mode: Mode,
    pub max_age: u64,
    /// MX patterns: host names, or `*.` followed by a domain.
    pub mx: Vec<String>,
}

/// Parses a policy body. Lines end in LF or CRLF; unknown keys are extensions and ignored.
pub fn parse_policy(body: &[u8]) -> Result<Policy, String> {
    let text = std::str::from_utf8(body).map_err(|_| "the policy is not UTF-8 text".to_owned())?;
    let (mut version, mut mode, mut max_age) = (None, None, None);
    let mut mx = Vec::new();
    for (n, line) in text.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            return Err(format!(
                "line {}: \"{line}\" is not a key: value line",
                n + 1
            ));
        };
        let (key, value) = (key.trim(), value.trim());
        match key {
            "version" if version.is_some() => {
                return Err("the policy has two version lines".into());
            }
            "version" => version = Some(value),
            "mode" => {
                let m = match value {
                    "enforce" => Mode::Enforce,
                    "testing" => Mode::Testing,
                    "none" => Mode::None,
                    other => {
                        return Err(format!("mode \"{other}\" is not enforce, testing or none"));
                    }
                };
                if mode.replace(m).is_some() {
                    return Err("the policy has two mode lines".into());
                }
            }
            "max_age" => {
                if value.is_empty()
                    || value.len() > 10
                    || !value.bytes().all(|b| b.is_ascii_digit())
                {
                    return Err(format!("max_age \"{value}\" is not a number of seconds"));
                }
                let age: u64 = value
                    .parse()
                    .map_err(|_| format!("max_age \"{value}\" is not a number"))?;
                if age > MAX_AGE_LIMIT {
                    return Err(format!(
                        "max_age {age} is above the limit of {MAX_AGE_LIMIT} seconds (one year)"
                    ));
                }
                if max_age.replace(age).is_some() {
                    return Err("the policy has two max_age lines".into());
                }
            }
            "mx" => {
                check_pattern(value)?;
                mx.push(value.to_ascii_lowercase());
            }
            _ => {}
        }
    }
    match version {
        Some("STSv1") => {}
        Some(v) => return Err(format!("version \"{v}\" is not STSv1")),
        None => return Err("the policy has no version line (version: STSv1)".into()),
    }
    let mode = mode.ok_or("the policy has no mode line")?;
    let max_age = max_age.ok_or("the policy has no max_age line")?;
    if mx.is_empty() && mode != Mode::None {
        return Err("the policy names no mx patterns".into());
    }
    Ok(Policy { mode, max_age, mx })
}

fn check_pattern(pattern: &str) -> Result<(), String> {
    let name = pattern.strip_prefix("*.").unwrap_or(pattern);
    if name.contains('*') {
        return Err(format!(
            "mx pattern \"{pattern}\": a wildcard may only be the whole leftmost label"
        ));
    }
    DnsName::parse(name)
        .map(|_| ())
        .map_err(|e| format!("mx pattern \"{pattern}\" is not a host name: {e}"))
}

/// Whether `pattern` covers MX host `host` (RFC 8461 §4.1): exact, case-insensitive, or
/// `*.` standing for exactly one leftmost label.
pub fn mx_matches(pattern: &str, host: &DnsName) -> bool {
    let host = host.as_str().trim_end_matches('.').to_ascii_lowercase();
    let pattern = pattern.trim_end_matches('.').to_ascii_lowercase();
    match pattern.strip_prefix("*.") {
        Some(suffix) => host
            .split_once('.')
            .is_some_and(|(first, rest)| !first.is_empty() && rest == suffix),
        None => host == pattern,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txt(records: &[&str]) -> StsTxt {
        parse_txt(
            &records
                .iter()
                .map(|r| r.as_bytes().to_vec())
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn txt_records_follow_rfc_8461_3_1() {
        assert_eq!(txt(&[]), StsTxt::Missing);
        assert_eq!(txt(&["v=spf1 -all"]), StsTxt::Missing);
        assert_eq!(
            txt(&["v=STSv1; id=20260101T000000;"]),
            StsTxt::Valid {
                id: "20260101T000000".into()
            }
        );
        assert_eq!(
            txt(&["v=STSv1;id=abc", "v=spf1 -all"]),
            StsTxt::Valid { id: "abc".into() }
        );
        assert_eq!(
            txt(&["v=STSv1; id=abc; ext_1=x"]),
            StsTxt::Valid { id: "abc".into() }
        );
        for bad in [
            vec!["v=STSv1; id=a", "v=STSv1; id=b"],
            vec!["v=STSv1;"],
            vec!["v=STSv1; id=has-dash"],
            vec!["v=STSv1; id=123456789012345678901234567890123"],
            vec!["v=STSv1; id=a; id=b"],
            vec!["v=STSv1; junk"],
        ] {
            assert!(matches!(txt(&bad), StsTxt::Invalid { .. }), "{bad:?}");
        }
    }

    #[test]
    fn policies_parse_with_lf_or_crlf() {
        let lf = b"version: STSv1\nmode: enforce\nmx: mail.example.com\nmx: *.backup.example.net\nmax_age: 604800\n";
        let crlf = b"version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.backup.example.net\r\nmax_age: 604800\r\n";
        let p = parse_policy(lf).unwrap();
        assert_eq!(p, parse_policy(crlf).unwrap());
        assert_eq!(p.mode, Mode::Enforce);
        assert_eq!(p.max_age, 604_800);
        assert_eq!(p.mx, vec!["mail.example.com", "*.backup.example.net"]);
        let none = parse_policy(b"version: STSv1\nmode: none\nmax_age: 86400").unwrap();
        assert_eq!(none.mode, Mode::None);
    }

    #[test]
    fn bad_policies_are_refused_with_a_reason() {
        for (body, why) in [
            (
                &b"mode: enforce\nmx: a.example\nmax_age: 1"[..],
                "no version",
            ),
            (
                b"version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 1",
                "STSv1",
            ),
            (
                b"version: STSv1\nmode: strict\nmx: a.example\nmax_age: 1",
                "enforce, testing or none",
            ),
            (
                b"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 31557601",
                "limit",
            ),
            (
                b"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: -1",
                "number",
            ),
            (b"version: STSv1\nmode: enforce\nmax_age: 86400", "no mx"),
            (
                b"version: STSv1\nmode: enforce\nmx: mail.*.example\nmax_age: 86400",
                "wildcard",
            ),
            (
                b"version: STSv1\nmode: enforce\nmx: a.example\n",
                "no max_age",
            ),
            (b"<html>not found</html>", "key: value"),
        ] {
            let err = parse_policy(body).unwrap_err();
            assert!(err.contains(why), "{err} should say {why}");
        }
    }

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

    #[test]
    fn wildcards_cover_exactly_one_label() {
        let host = |h: &str| DnsName::parse(h).unwrap();
        assert!(mx_matches("mail.example.com", &host("MAIL.example.com")));
        assert!(mx_matches("*.example.com", &host("mx1.example.com")));
        assert!(!mx_matches("*.example.com", &host("example.com")));
        assert!(!mx_matches("*.example.com", &host("a.b.example.com")));
        assert!(!mx_matches("mail.example.com", &host("mail.example.org")));
    }
}

/// How the policy fetch went, in the words of the finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum FetchState {
    /// Not fetched: there is no `v=STSv1` TXT record.
    NotFetched,
    /// Senders could not use the policy; `why` says what failed.
    Failed {
        why: String,
    },
    Fetched,
}

/// What MTA-STS means for one MX host under the policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StsHost {
    pub host: DnsName,
    /// A policy `mx` pattern covers the host.
    pub covered: bool,
    /// Every judged address offered STARTTLS (TLS 1.2+) with a certificate that is
    /// PKIX-valid for the host name; `None` when no address could be judged.
    pub pkix_valid: Option<bool>,
}

/// The MTA-STS part of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MtaStsReport {
    pub txt: StsTxt,
    pub policy_url: String,
    pub fetch: FetchState,
    /// The policy, when it was fetched and parsed.
    pub policy: Option<Policy>,
    /// Why a fetched policy is invalid.
    pub policy_error: Option<String>,
    /// The mode senders apply: only with a valid TXT record and a valid policy.
    pub mode: Option<Mode>,
    pub hosts: Vec<StsHost>,
}

impl StsTxt {
    /// One line for a report.
    pub fn describe(&self) -> String {
        match self {
            StsTxt::Missing => "no _mta-sts TXT record".to_owned(),
            StsTxt::Valid { id } => format!("TXT record valid (id {id})"),
            StsTxt::Invalid { reason } => format!("TXT record invalid: {reason}"),
            StsTxt::LookupFailed { reason } => format!("TXT lookup failed: {reason}"),
        }
    }
}

impl MtaStsReport {
    /// The policy in one line: fetched or why not, and what it says.
    pub fn describe_policy(&self) -> String {
        match (&self.fetch, &self.policy, &self.policy_error) {
            (FetchState::NotFetched, _, _) => "policy not fetched".to_owned(),
            (FetchState::Failed { why }, _, _) => format!("policy fetch failed: {why}"),
            (FetchState::Fetched, Some(p), _) => format!(
                "mode {}, max_age {} s, mx {}",
                p.mode.label(),
                p.max_age,
                p.mx.join(" ")
            ),
            (FetchState::Fetched, None, e) => {
                format!("policy invalid: {}", e.as_deref().unwrap_or("?"))
            }
        }
    }

    /// Senders that honour MTA-STS refuse to be downgraded.
    pub fn enforced(&self) -> bool {
        self.mode == Some(Mode::Enforce)
    }

    pub fn host(&self, name: &DnsName) -> Option<&StsHost> {
        self.hosts.iter().find(|h| &h.host == name)
    }
}

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
            reason: format!(
                "the TXT lookup of {} fails ({})",
                a.qname,
                a.outcome.label()
            ),
        },
        Some(a) => match a.outcome {
            DnsOutcome::Data | DnsOutcome::NoData | DnsOutcome::NxDomain => {
                parse_txt(&crate::dns::txt_strings(a))
            }
            _ => StsTxt::Invalid {
                reason: format!(
                    "the TXT lookup of {} failed ({})",
                    a.qname,
                    a.outcome.label()
                ),
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
