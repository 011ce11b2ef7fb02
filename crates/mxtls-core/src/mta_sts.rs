//! MTA-STS (RFC 8461): the `_mta-sts` TXT record, the policy file, and which MX hosts a
//! policy covers: parsing, and the judgement `analysis` calls (`judge`).

use crate::names::DnsName;
use crate::report::{Mode, Policy, StsTxt};

/// The longest `max_age` allowed (RFC 8461 §3.2: 31557600 s, one year).
pub const MAX_AGE_LIMIT: u64 = 31_557_600;
/// The size limit senders apply to a policy body (RFC 8461 §3.3 suggests 64 KB).
pub const MAX_POLICY_BYTES: usize = 64 * 1024;

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
