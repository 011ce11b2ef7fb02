//! The form a received report is stored in: what the judgement
//! (`mxtls_core::analysis::judge_reports`) and the history listing read, re-serialised
//! compactly, never the inflated JSON (a 440 KB gzip report inflates to megabytes).
//!
//! Kept: organisation, dates, per policy its type, domain, policy lines and session counts,
//! and its failure details reduced to what the judgement reads — result type, receiving host
//! and address, sending address — with the sessions of equal details summed (in order of
//! first appearance, so the judgement sees the same failures in the same order). Left out:
//! the contact, `mx-host`, and each detail's HELO name, reason code and free text, which
//! nothing on the server reads. Where a forged report still exceeds the limits below, what is
//! cut is said in the report's `skipped`.

use std::io::Write;
use std::net::IpAddr;

use mxtls_core::evidence::UnixTime;
use mxtls_core::tls_rpt::report::{
    AggregateReport, FailureDetail, PolicyReport, PolicyType, ResultType,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The largest stored row (its compact JSON): 1000 reports per domain then take at most
/// 64 MB. A real report — a few policies, tens of distinct failures — takes a few KB.
pub const MAX_STORED_REPORT: usize = 64 * 1024;

/// Failure entries kept per policy after equal ones are summed. Real reports have one per
/// (result, receiving host and address, sending address) in use — tens; beyond the cap the
/// sending addresses of the rest are left out (their sessions still count), because a
/// forged report could otherwise name millions of senders. The judgement lists at most three
/// senders per failure, and counts the others, so it is identical below the cap.
pub const MAX_FAILURES_PER_POLICY: usize = 100;

/// Policies kept per report (real reports have one per policy type and domain: 1–3).
pub const MAX_POLICIES: usize = 16;

/// Organisation names, domains, host names, policy lines, unknown result types.
const MAX_TEXT: usize = 255;
/// Policy lines kept (an MTA-STS policy has a handful).
const MAX_POLICY_LINES: usize = 32;
/// Notes of what was skipped kept.
const MAX_SKIPPED: usize = 8;

#[derive(Serialize, Deserialize)]
struct Stored {
    org: String,
    start: i64,
    end: i64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    id: String,
    pol: Vec<StoredPolicy>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    skip: Vec<String>,
}

/// `(result type, receiving MX host, receiving IP, sending IP, sessions)`.
type StoredFailure = (
    ResultType,
    Option<String>,
    Option<IpAddr>,
    Option<IpAddr>,
    u64,
);

#[derive(Serialize, Deserialize)]
struct StoredPolicy {
    t: PolicyType,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    d: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    s: Vec<String>,
    ok: u64,
    n: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    f: Vec<StoredFailure>,
}

/// `text` cut to [`MAX_TEXT`] bytes at a character boundary.
pub(crate) fn cut(text: &str) -> String {
    let mut end = text.len().min(MAX_TEXT);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

fn cut_type<T: Clone>(t: &T, other: impl Fn(&T) -> Option<&String>, make: fn(String) -> T) -> T {
    match other(t) {
        Some(s) if s.len() > MAX_TEXT => make(cut(s)),
        _ => t.clone(),
    }
}

fn policy_type(t: &PolicyType) -> PolicyType {
    cut_type(
        t,
        |t| match t {
            PolicyType::Other(s) => Some(s),
            _ => None,
        },
        PolicyType::Other,
    )
}

fn result_type(t: &ResultType) -> ResultType {
    cut_type(
        t,
        |t| match t {
            ResultType::Other(s) => Some(s),
            _ => None,
        },
        ResultType::Other,
    )
}

/// Sums equal entries, in order of first appearance.
fn merge(entries: impl Iterator<Item = StoredFailure>) -> Vec<StoredFailure> {
    let mut out: Vec<StoredFailure> = Vec::new();
    let mut at = std::collections::HashMap::new();
    for e in entries {
        let key = (e.0.clone(), e.1.clone(), e.2, e.3);
        match at.get(&key) {
            Some(&i) => {
                let kept: &mut StoredFailure = &mut out[i];
                kept.4 = kept.4.saturating_add(e.4);
            }
            None => {
                at.insert(key, out.len());
                out.push(e);
            }
        }
    }
    out
}

/// A policy's failures in at most `cap` entries: equal ones summed; past the cap, the
/// sending address left out; past it again, the rest dropped (and said).
fn failures(p: &PolicyReport, cap: usize, skipped: &mut Vec<String>) -> Vec<StoredFailure> {
    let all = merge(p.failures.iter().map(|f| {
        (
            result_type(&f.result_type),
            f.receiving_mx_hostname.as_deref().map(cut),
            f.receiving_ip,
            f.sending_mta_ip,
            f.failed_session_count,
        )
    }));
    if all.len() <= cap {
        return all;
    }
    let (kept, rest) = all.split_at(cap / 2);
    let mut out = kept.to_vec();
    out.extend(merge(
        rest.iter()
            .map(|(t, h, ip, _, n)| (t.clone(), h.clone(), *ip, None, *n)),
    ));
    if out.len() > cap {
        skipped.push(format!(
            "{} failure details beyond {cap} not stored",
            out.len() - cap
        ));
        out.truncate(cap);
    } else {
        skipped.push(format!(
            "the sending addresses of {} failure details beyond {} not stored",
            rest.len(),
            cap / 2
        ));
    }
    out
}

fn shape(r: &AggregateReport, id: &str, cap: usize, lines: bool) -> Stored {
    let mut skipped: Vec<String> = r.skipped.iter().take(MAX_SKIPPED).map(|s| cut(s)).collect();
    let mut pol = Vec::new();
    for p in r.policies.iter().take(MAX_POLICIES) {
        pol.push(StoredPolicy {
            t: policy_type(&p.policy_type),
            d: cut(&p.policy_domain),
            s: if lines {
                p.policy_string
                    .iter()
                    .take(MAX_POLICY_LINES)
                    .map(|l| cut(l))
                    .collect()
            } else {
                Vec::new()
            },
            ok: p.successful,
            n: p.failed,
            f: failures(p, cap, &mut skipped),
        });
    }
    if r.policies.len() > MAX_POLICIES {
        skipped.push(format!(
            "{} policies beyond {MAX_POLICIES} not stored",
            r.policies.len() - MAX_POLICIES
        ));
    }
    skipped.truncate(MAX_SKIPPED + MAX_POLICIES + 1);
    Stored {
        org: cut(&r.organization),
        start: r.start.0,
        end: r.end.0,
        id: cut(id),
        pol,
        skip: skipped,
    }
}

/// The stored form of `r` under its key `id`: at most [`MAX_STORED_REPORT`] bytes. When the
/// whole cannot fit, fewer failure entries per policy are kept, then no policy lines.
pub fn bounded(r: &AggregateReport, id: &str) -> Result<String, String> {
    let mut cap = MAX_FAILURES_PER_POLICY;
    let mut lines = true;
    loop {
        let text = serde_json::to_string(&shape(r, id, cap, lines))
            .map_err(|e| format!("the report does not serialise: {e}"))?;
        if text.len() <= MAX_STORED_REPORT {
            return Ok(text);
        }
        match (cap, lines) {
            (0, false) => return Err("the report does not fit the stored form".into()),
            (0, true) => lines = false,
            _ => cap /= 2,
        }
    }
}

/// A stored report read back: the bounded form, or the whole report as mxtls before the
/// bounded form stored it (such rows age out with the newest 1000 per domain).
pub fn read(text: &str) -> Option<AggregateReport> {
    let Ok(s) = serde_json::from_str::<Stored>(text) else {
        return serde_json::from_str(text).ok();
    };
    Some(AggregateReport {
        organization: s.org,
        start: UnixTime(s.start),
        end: UnixTime(s.end),
        contact: None,
        report_id: s.id,
        policies: s
            .pol
            .into_iter()
            .map(|p| PolicyReport {
                policy_type: p.t,
                policy_string: p.s,
                policy_domain: p.d,
                mx_host: Vec::new(),
                successful: p.ok,
                failed: p.n,
                failures: p
                    .f
                    .into_iter()
                    .map(|(result_type, host, ip, sender, n)| FailureDetail {
                        result_type,
                        sending_mta_ip: sender,
                        receiving_mx_hostname: host,
                        receiving_mx_helo: None,
                        receiving_ip: ip,
                        failed_session_count: n,
                        failure_reason_code: None,
                        additional_information: None,
                    })
                    .collect(),
            })
            .collect(),
        skipped: s.skip,
    })
}

/// `io::Write` into a SHA-256, so a large report is hashed without a second copy of it.
struct Hashing(Sha256);

impl Write for Hashing {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The key a report is stored under besides its organisation: its `report-id`, or — for a
/// report without one, or with one longer than [`MAX_TEXT`] — `sha256:` and the SHA-256 of
/// the parsed report's fields (organisation, dates, contact, every policy with every
/// failure detail, as serialised by serde in their declared order; the notes of what was
/// skipped, which follow from the content, included). Hashing the parsed report, not the
/// posted bytes, makes the same report the same key whether it came gzipped or not, and
/// whatever the sender's whitespace; two reports that differ in anything read differ.
pub fn key(r: &AggregateReport) -> String {
    if !r.report_id.is_empty() && r.report_id.len() <= MAX_TEXT {
        return r.report_id.clone();
    }
    let mut h = Hashing(Sha256::new());
    // Writing into a hash cannot fail; a report that does not serialise hashes what it did.
    let _ = serde_json::to_writer(&mut h, r);
    let digest = h.0.finalize();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detail(result: &str, host: &str, sender: &str, n: u64, info: &str) -> FailureDetail {
        FailureDetail {
            result_type: match result {
                "starttls-not-supported" => ResultType::StarttlsNotSupported,
                other => ResultType::Other(other.into()),
            },
            sending_mta_ip: sender.parse().ok(),
            receiving_mx_hostname: Some(host.into()),
            receiving_mx_helo: Some("helo".into()),
            receiving_ip: None,
            failed_session_count: n,
            failure_reason_code: Some("X".into()),
            additional_information: Some(info.into()),
        }
    }

    fn report(failures: Vec<FailureDetail>) -> AggregateReport {
        AggregateReport {
            organization: "Org".into(),
            start: UnixTime(0),
            end: UnixTime(86_399),
            contact: Some("c".into()),
            report_id: String::new(),
            policies: vec![PolicyReport {
                policy_type: PolicyType::Sts,
                policy_string: vec!["version: STSv1".into()],
                policy_domain: "example.org".into(),
                mx_host: vec!["mx.example.org".into()],
                successful: 5,
                failed: failures.iter().map(|f| f.failed_session_count).sum(),
                failures,
            }],
            skipped: Vec::new(),
        }
    }

    #[test]
    fn equal_failures_are_summed_in_order_and_free_text_left_out() {
        let r = report(vec![
            detail("starttls-not-supported", "mx", "192.0.2.1", 2, "a"),
            detail("x", "mx", "192.0.2.2", 1, "b"),
            detail("starttls-not-supported", "mx", "192.0.2.1", 3, "c"),
        ]);
        let back = read(&bounded(&r, "k").expect("fits")).expect("reads");
        let f = &back.policies[0].failures;
        assert_eq!(f.len(), 2);
        assert_eq!(
            (f[0].failed_session_count, f[1].failed_session_count),
            (5, 1)
        );
        assert_eq!(f[0].additional_information, None);
        assert_eq!(back.policies[0].policy_string, ["version: STSv1"]);
        assert_eq!((back.report_id.as_str(), back.policies[0].failed), ("k", 6));
    }

    #[test]
    fn many_senders_are_cut_to_the_cap_keeping_the_sessions() {
        let many: Vec<FailureDetail> = (0..5000u32)
            .map(|i| {
                let ip = std::net::Ipv4Addr::from(0x0a00_0000 + i).to_string();
                detail("starttls-not-supported", "mx", &ip, 1, "")
            })
            .collect();
        let text = bounded(&report(many), "k").expect("fits");
        assert!(text.len() <= MAX_STORED_REPORT);
        let back = read(&text).expect("reads");
        let f = &back.policies[0].failures;
        assert_eq!(f.len(), MAX_FAILURES_PER_POLICY / 2 + 1);
        assert_eq!(f.iter().map(|f| f.failed_session_count).sum::<u64>(), 5000);
        assert_eq!(f.last().map(|f| f.sending_mta_ip), Some(None));
        assert_eq!(back.skipped.len(), 1, "{:?}", back.skipped);
    }

    #[test]
    fn the_content_key_follows_the_content() {
        let a = report(vec![detail("x", "mx", "192.0.2.1", 1, "a")]);
        let b = report(vec![detail("x", "mx", "192.0.2.1", 2, "a")]);
        assert_eq!(key(&a), key(&a.clone()));
        assert_ne!(key(&a), key(&b));
        assert!(key(&a).starts_with("sha256:") && key(&a).len() == 71);
        let named = AggregateReport {
            report_id: "r1".into(),
            ..a
        };
        assert_eq!(key(&named), "r1");
    }
}
