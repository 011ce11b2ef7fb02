//! TLS-RPT aggregate reports (RFC 8460 §4): what sending organisations tell a domain every
//! day about their TLS sessions with it. Read leniently, as the big senders write them
//! (`mx-host` as a string or a list, counts as strings, unknown result types and fields): a
//! field that cannot be read is skipped and said so in [`AggregateReport::skipped`]; only a
//! report without its organisation, dates or policies is refused.

use std::io::Read;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::evidence::UnixTime;

/// The most a report may inflate to: a day of reports from the largest senders is kilobytes;
/// a gzip bomb must not grow memory without bound.
pub const MAX_REPORT_BYTES: u64 = 16 * 1024 * 1024;

/// The policy a sender applied (RFC 8460 §4.3 `policy-type`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyType {
    Sts,
    Tlsa,
    NoPolicyFound,
    Other(String),
}

impl PolicyType {
    fn parse(text: &str) -> PolicyType {
        match text {
            "sts" => PolicyType::Sts,
            "tlsa" => PolicyType::Tlsa,
            "no-policy-found" => PolicyType::NoPolicyFound,
            other => PolicyType::Other(other.to_owned()),
        }
    }

    /// The report's own word: `sts`, `tlsa`, `no-policy-found`.
    pub fn id(&self) -> &str {
        match self {
            PolicyType::Sts => "sts",
            PolicyType::Tlsa => "tlsa",
            PolicyType::NoPolicyFound => "no-policy-found",
            PolicyType::Other(s) => s,
        }
    }
}

/// Why sessions failed (RFC 8460 §4.3 `result-type`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResultType {
    StarttlsNotSupported,
    CertificateHostMismatch,
    CertificateExpired,
    CertificateNotTrusted,
    ValidationFailure,
    TlsaInvalid,
    DnssecInvalid,
    DaneRequired,
    StsPolicyFetchError,
    StsPolicyInvalid,
    StsWebpkiInvalid,
    Other(String),
}

impl ResultType {
    fn parse(text: &str) -> ResultType {
        use ResultType::*;
        match text {
            "starttls-not-supported" => StarttlsNotSupported,
            "certificate-host-mismatch" => CertificateHostMismatch,
            "certificate-expired" => CertificateExpired,
            "certificate-not-trusted" => CertificateNotTrusted,
            "validation-failure" => ValidationFailure,
            "tlsa-invalid" => TlsaInvalid,
            "dnssec-invalid" => DnssecInvalid,
            "dane-required" => DaneRequired,
            "sts-policy-fetch-error" => StsPolicyFetchError,
            "sts-policy-invalid" => StsPolicyInvalid,
            "sts-webpki-invalid" => StsWebpkiInvalid,
            other => Other(other.to_owned()),
        }
    }

    /// The report's own word, e.g. `starttls-not-supported`.
    pub fn id(&self) -> &str {
        use ResultType::*;
        match self {
            StarttlsNotSupported => "starttls-not-supported",
            CertificateHostMismatch => "certificate-host-mismatch",
            CertificateExpired => "certificate-expired",
            CertificateNotTrusted => "certificate-not-trusted",
            ValidationFailure => "validation-failure",
            TlsaInvalid => "tlsa-invalid",
            DnssecInvalid => "dnssec-invalid",
            DaneRequired => "dane-required",
            StsPolicyFetchError => "sts-policy-fetch-error",
            StsPolicyInvalid => "sts-policy-invalid",
            StsWebpkiInvalid => "sts-webpki-invalid",
            Other(s) => s,
        }
    }
}

/// One `failure-details` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureDetail {
    pub result_type: ResultType,
    pub sending_mta_ip: Option<IpAddr>,
    /// Lower case, no trailing dot.
    pub receiving_mx_hostname: Option<String>,
    pub receiving_mx_helo: Option<String>,
    pub receiving_ip: Option<IpAddr>,
    pub failed_session_count: u64,
    pub failure_reason_code: Option<String>,
    pub additional_information: Option<String>,
}

/// One `policies` entry: the policy applied and what happened under it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyReport {
    pub policy_type: PolicyType,
    /// The policy as the sender had it (MTA-STS lines or TLSA records).
    pub policy_string: Vec<String>,
    pub policy_domain: String,
    pub mx_host: Vec<String>,
    pub successful: u64,
    pub failed: u64,
    pub failures: Vec<FailureDetail>,
}

/// One aggregate report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AggregateReport {
    pub organization: String,
    pub start: UnixTime,
    pub end: UnixTime,
    pub contact: Option<String>,
    pub report_id: String,
    pub policies: Vec<PolicyReport>,
    /// What could not be read and was left out, in words.
    pub skipped: Vec<String>,
}

/// Reads one report file: JSON, or gzip-compressed JSON (as mailed, `.json.gz`; recognised
/// by its magic bytes, several gzip members allowed).
pub fn parse_bytes(data: &[u8]) -> Result<AggregateReport, String> {
    if data.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(data)
            .take(MAX_REPORT_BYTES + 1)
            .read_to_end(&mut out)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::UnexpectedEof => format!("{TRUNCATED} (detail: gzip: {e})"),
                _ => format!("the gzip data does not inflate: {e}"),
            })?;
        if out.len() as u64 > MAX_REPORT_BYTES {
            return Err(format!(
                "the report inflates to more than {} MB",
                MAX_REPORT_BYTES / 1024 / 1024
            ));
        }
        return parse_json(&String::from_utf8_lossy(&out));
    }
    parse_json(&String::from_utf8_lossy(data))
}

/// Reads one report from its JSON text.
pub fn parse_json(text: &str) -> Result<AggregateReport, String> {
    let v: Value =
        serde_json::from_str(text.trim_start_matches('\u{feff}')).map_err(|e| unreadable(&e))?;
    let Value::Object(top) = &v else {
        return Err("the report is not a JSON object".into());
    };
    let mut skipped = Vec::new();
    let organization =
        text_field(&v, "organization-name").ok_or("the report has no organization-name")?;
    let range = top
        .get("date-range")
        .ok_or("the report has no date-range")?;
    let start = text_field(range, "start-datetime")
        .and_then(|t| rfc3339(&t))
        .ok_or("the report's date-range has no valid start-datetime")?;
    let end = text_field(range, "end-datetime")
        .and_then(|t| rfc3339(&t))
        .ok_or("the report's date-range has no valid end-datetime")?;
    let report_id = text_field(&v, "report-id").unwrap_or_else(|| {
        skipped.push("no report-id".to_owned());
        String::new()
    });
    let policies = match top.get("policies") {
        Some(Value::Array(list)) => list
            .iter()
            .enumerate()
            .filter_map(|(i, p)| match policy(p, &mut skipped) {
                Ok(p) => Some(p),
                Err(e) => {
                    skipped.push(format!("policy {}: {e}", i + 1));
                    None
                }
            })
            .collect::<Vec<_>>(),
        _ => return Err("the report has no policies list".into()),
    };
    if policies.is_empty() {
        return Err(format!(
            "no policy of the report can be read ({})",
            skipped.join("; ")
        ));
    }
    Ok(AggregateReport {
        organization,
        start,
        end,
        contact: text_field(&v, "contact-info"),
        report_id,
        policies,
        skipped,
    })
}

/// A file that ends before its report does, in words.
const TRUNCATED: &str =
    "the file ends early: it is cut off (truncated) — give the whole file, as it was mailed";

/// Why a text is not JSON, for people first: a file cut off in transit or by a mail
/// client is the usual cause, and says what to do; the parser's words follow as detail.
fn unreadable(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let lead = match e.classify() {
        Category::Eof => TRUNCATED,
        Category::Syntax => "this is not JSON, which TLS-RPT reports are written in",
        Category::Io | Category::Data => "the report cannot be read as JSON",
    };
    format!("{lead} (detail: {e})")
}

fn text_field(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// A count: a number, or a number in a string (some senders write them so).
fn count(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A string or a list of strings.
fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

fn host(text: Option<String>) -> Option<String> {
    text.map(|h| h.trim_end_matches('.').to_ascii_lowercase())
}

fn policy(p: &Value, skipped: &mut Vec<String>) -> Result<PolicyReport, String> {
    let inner = p.get("policy").ok_or("no policy object")?;
    let policy_type = text_field(inner, "policy-type")
        .map(|t| PolicyType::parse(&t))
        .ok_or("no policy-type")?;
    let summary = p.get("summary").ok_or("no summary")?;
    let successful = count(summary.get("total-successful-session-count")).unwrap_or_else(|| {
        skipped.push("a policy without total-successful-session-count (read as 0)".into());
        0
    });
    let failed = count(summary.get("total-failure-session-count")).unwrap_or_else(|| {
        skipped.push("a policy without total-failure-session-count (read as 0)".into());
        0
    });
    let mut failures = Vec::new();
    if let Some(Value::Array(list)) = p.get("failure-details") {
        for (i, f) in list.iter().enumerate() {
            let Some(result) = text_field(f, "result-type") else {
                skipped.push(format!("failure detail {} without result-type", i + 1));
                continue;
            };
            let ip = |key: &str| text_field(f, key).and_then(|t| t.parse::<IpAddr>().ok());
            failures.push(FailureDetail {
                result_type: ResultType::parse(&result),
                sending_mta_ip: ip("sending-mta-ip"),
                receiving_mx_hostname: host(text_field(f, "receiving-mx-hostname")),
                receiving_mx_helo: text_field(f, "receiving-mx-helo"),
                receiving_ip: ip("receiving-ip"),
                failed_session_count: count(f.get("failed-session-count")).unwrap_or(0),
                failure_reason_code: text_field(f, "failure-reason-code"),
                additional_information: text_field(f, "additional-information"),
            });
        }
    }
    Ok(PolicyReport {
        policy_type,
        policy_string: strings(inner.get("policy-string")),
        policy_domain: host(text_field(inner, "policy-domain")).unwrap_or_default(),
        mx_host: strings(inner.get("mx-host"))
            .into_iter()
            .map(|h| h.trim_end_matches('.').to_ascii_lowercase())
            .collect(),
        successful,
        failed,
        failures,
    })
}

/// `2016-04-01T00:00:00Z` or with an offset (`+02:00`), fractions ignored → Unix time.
pub fn rfc3339(text: &str) -> Option<UnixTime> {
    let b = text.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> { text.get(r)?.parse().ok() };
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let mut rest = &text[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        rest = frac.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    let offset = match rest {
        "Z" | "z" | "" => 0,
        o if o.len() == 6 && (o.starts_with('+') || o.starts_with('-')) => {
            let sign = if o.starts_with('-') { -1 } else { 1 };
            let (oh, om): (i64, i64) = (o.get(1..3)?.parse().ok()?, o.get(4..6)?.parse().ok()?);
            sign * (oh * 3600 + om * 60)
        }
        _ => return None,
    };
    // Days from civil (Howard Hinnant).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(UnixTime(days * 86_400 + h * 3600 + mi * 60 + s - offset))
}

/// Sessions of one sending organisation on one day under one policy, and per receiving MX
/// host and address the failures by result type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SummaryRow {
    pub organization: String,
    /// The UTC day the report's range starts (`YYYY-MM-DD`).
    pub day: String,
    pub policy_type: PolicyType,
    pub successful: u64,
    pub failed: u64,
    /// `(receiving MX host, receiving IP, result type, sessions)`.
    pub failures: Vec<(Option<String>, Option<IpAddr>, ResultType, u64)>,
}

/// The reports as they concern `domain` alone: policies about another policy domain are
/// taken out (a policy that names none stays), and a report left with no policy is dropped.
/// What the reader counts and charts for a domain is read from this, so that reports it
/// says it leaves out are not counted after all.
pub fn about(reports: &[AggregateReport], domain: &str) -> Vec<AggregateReport> {
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    reports
        .iter()
        .filter_map(|r| {
            let policies: Vec<PolicyReport> = r
                .policies
                .iter()
                .filter(|p| p.policy_domain.is_empty() || p.policy_domain == domain)
                .cloned()
                .collect();
            (!policies.is_empty()).then(|| AggregateReport {
                policies,
                ..r.clone()
            })
        })
        .collect()
}

/// Per organisation, day and policy type, summed over the reports (a sender may send several).
pub fn summarise(reports: &[AggregateReport]) -> Vec<SummaryRow> {
    let mut rows: Vec<SummaryRow> = Vec::new();
    for r in reports {
        let day = r.start.to_string().chars().take(10).collect::<String>();
        for p in &r.policies {
            let at = match rows.iter().position(|row| {
                row.organization == r.organization
                    && row.day == day
                    && row.policy_type == p.policy_type
            }) {
                Some(i) => i,
                None => {
                    rows.push(SummaryRow {
                        organization: r.organization.clone(),
                        day: day.clone(),
                        policy_type: p.policy_type.clone(),
                        successful: 0,
                        failed: 0,
                        failures: Vec::new(),
                    });
                    rows.len() - 1
                }
            };
            let row = &mut rows[at];
            row.successful = row.successful.saturating_add(p.successful);
            row.failed = row.failed.saturating_add(p.failed);
            for f in &p.failures {
                let key = (
                    f.receiving_mx_hostname.clone(),
                    f.receiving_ip,
                    f.result_type.clone(),
                );
                match row
                    .failures
                    .iter_mut()
                    .find(|(h, ip, t, _)| (h.clone(), *ip, t.clone()) == key)
                {
                    Some(e) => e.3 = e.3.saturating_add(f.failed_session_count),
                    None => row
                        .failures
                        .push((key.0, key.1, key.2, f.failed_session_count)),
                }
            }
        }
    }
    rows.sort_by(|a, b| {
        (&a.day, &a.organization, &a.policy_type).cmp(&(&b.day, &b.organization, &b.policy_type))
    });
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8460 Appendix B, as printed.
    pub const RFC_EXAMPLE: &str = r#"{
      "organization-name": "Company-X",
      "date-range": {
        "start-datetime": "2016-04-01T00:00:00Z",
        "end-datetime": "2016-04-01T23:59:59Z"
      },
      "contact-info": "sts-reporting@company-x.example",
      "report-id": "5065427c-23d3-47ca-b6e0-946ea0e8c4be",
      "policies": [{
        "policy": {
          "policy-type": "sts",
          "policy-string": ["version: STSv1","mode: testing",
                "mx: *.mail.company-y.example","max_age: 86400"],
          "policy-domain": "company-y.example",
          "mx-host": "*.mail.company-y.example"
        },
        "summary": {
          "total-successful-session-count": 5326,
          "total-failure-session-count": 303
        },
        "failure-details": [{
          "result-type": "certificate-expired",
          "sending-mta-ip": "2001:db8:abcd:0012::1",
          "receiving-mx-hostname": "mx1.mail.company-y.example",
          "failed-session-count": 100
        }, {
          "result-type": "starttls-not-supported",
          "sending-mta-ip": "2001:db8:abcd:0013::1",
          "receiving-mx-hostname": "mx2.mail.company-y.example",
          "receiving-ip": "203.0.113.56",
          "failed-session-count": 200,
          "additional-information": "https://reports.company-x.example/report_info?id=5065427c-23d3#StarttlsNotSupported"
        }, {
          "result-type": "validation-failure",
          "sending-mta-ip": "198.51.100.62",
          "receiving-ip": "203.0.113.58",
          "receiving-mx-hostname": "mx-backup.mail.company-y.example",
          "failed-session-count": 3,
          "failure-reason-code": "X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED"
        }]
      }]
    }"#;

    #[test]
    fn the_rfc_example_reads_whole() {
        let r = parse_json(RFC_EXAMPLE).expect("reads");
        assert_eq!(r.organization, "Company-X");
        assert_eq!(r.start, UnixTime(1_459_468_800));
        assert_eq!(r.end, UnixTime(1_459_555_199));
        assert!(r.skipped.is_empty(), "{:?}", r.skipped);
        let p = &r.policies[0];
        assert_eq!(p.policy_type, PolicyType::Sts);
        assert_eq!(p.mx_host, ["*.mail.company-y.example"]);
        assert_eq!((p.successful, p.failed), (5326, 303));
        assert_eq!(p.failures.len(), 3);
        assert_eq!(p.failures[1].result_type, ResultType::StarttlsNotSupported);
        assert_eq!(
            p.failures[1].receiving_ip,
            Some("203.0.113.56".parse().unwrap())
        );
        assert_eq!(p.failures[0].receiving_ip, None);
        let rows = summarise(&[r.clone(), r]);
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].successful, rows[0].failed), (10652, 606));
        assert_eq!(rows[0].day, "2016-04-01");
        assert_eq!(rows[0].failures.len(), 3);
        assert_eq!(rows[0].failures[1].3, 400);
    }

    #[test]
    fn gzip_reads_and_bombs_are_refused() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(RFC_EXAMPLE.as_bytes()).unwrap();
        let bytes = gz.finish().unwrap();
        assert_eq!(parse_bytes(&bytes).unwrap().organization, "Company-X");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&vec![b' '; (MAX_REPORT_BYTES + 10) as usize])
            .unwrap();
        let bomb = gz.finish().unwrap();
        assert!(parse_bytes(&bomb).unwrap_err().contains("more than"));
        assert!(
            parse_bytes(&bytes[..bytes.len() / 2]).is_err(),
            "truncated gzip"
        );
    }

    #[test]
    fn deviations_are_read_where_they_can_be_and_said() {
        // Counts as strings, mx-host as a list, an unknown result type, a detail with no
        // result type, a policy with no summary.
        let text = r#"{"organization-name":"Mail Co","date-range":{"start-datetime":"2026-11-30T00:00:00+01:00","end-datetime":"2026-11-30T23:59:59.999Z"},
          "report-id":"x","policies":[
            {"policy":{"policy-type":"tlsa","policy-string":["3 1 1 AB"],"policy-domain":"Example.ORG.","mx-host":["MX.example.org."]},
             "summary":{"total-successful-session-count":"12","total-failure-session-count":2},
             "failure-details":[{"result-type":"novel-failure","failed-session-count":1},{"failed-session-count":1}]},
            {"policy":{"policy-type":"sts"}}]}"#;
        let r = parse_json(text).expect("reads what it can");
        assert_eq!(
            r.start,
            UnixTime(1_795_993_200),
            "date -d 2026-11-30T00:00:00+01:00 +%s"
        );
        assert_eq!(r.policies.len(), 1);
        let p = &r.policies[0];
        assert_eq!(p.policy_domain, "example.org");
        assert_eq!(p.mx_host, ["mx.example.org"]);
        assert_eq!(p.successful, 12);
        assert_eq!(
            p.failures[0].result_type,
            ResultType::Other("novel-failure".into())
        );
        assert_eq!(r.skipped.len(), 2, "{:?}", r.skipped);
        for bad in [
            "",
            "[]",
            r#"{"organization-name":"x"}"#,
            r#"{"organization-name":"x","date-range":{"start-datetime":"yesterday","end-datetime":"2026-11-30T00:00:00Z"},"policies":[]}"#,
            r#"{"organization-name":"x","date-range":{"start-datetime":"2026-11-30T00:00:00Z","end-datetime":"2026-11-30T00:00:00Z"},"policies":[{}]}"#,
        ] {
            assert!(parse_json(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_cut_off_file_is_said_so_in_words_with_the_detail_after() {
        let whole = RFC_EXAMPLE.as_bytes();
        let cut = &whole[..180];
        let e = parse_bytes(cut).expect_err("a truncated report");
        assert!(
            e.starts_with("the file ends early: it is cut off (truncated) — give the whole file"),
            "{e}"
        );
        assert!(e.ends_with("at line 7 column 10)"), "{e}");
        assert!(e.contains("(detail: EOF while parsing a string"), "{e}");
        // Compressed and cut off: the same words.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut gz, whole).unwrap();
        let gz = gz.finish().unwrap();
        let e = parse_bytes(&gz[..gz.len() / 2]).expect_err("a truncated gzip file");
        assert!(
            e.starts_with("the file ends early: it is cut off (truncated)"),
            "{e}"
        );
        // Text that is not JSON at all is not called cut off.
        let e = parse_bytes(b"<html>not a report</html>").expect_err("not JSON");
        assert!(e.starts_with("this is not JSON"), "{e}");
        assert!(!e.contains("truncated"), "{e}");
    }
}
