//! `diff`: what changed from one report of a domain to the next. Findings are the same when
//! their code, severity and subject are; the servers' keys, their certificates' end dates,
//! the TLSA records and the MX hosts are compared per host.

use crate::findings::Finding;
use crate::report::{FindingChange, MxReport, Report, ReportDiff};

/// What changed from `before` (`None`: this is the first report) to `after`.
pub fn diff(before: Option<&Report>, after: &Report) -> ReportDiff {
    let key = |f: &Finding| (f.code, f.severity, f.subject.clone());
    let change = |f: &Finding| FindingChange {
        code: f.code,
        severity: f.severity,
        subject: f.subject.clone(),
        title: f.title.clone(),
    };
    let old: Vec<&Finding> = before
        .map(|b| b.findings.iter().collect())
        .unwrap_or_default();
    let added = after
        .findings
        .iter()
        .filter(|f| !old.iter().any(|o| key(o) == key(f)))
        .map(change)
        .collect();
    let removed = old
        .iter()
        .filter(|o| !after.findings.iter().any(|f| key(f) == key(o)))
        .map(|f| change(f))
        .collect();
    ReportDiff {
        status_before: before.map(|b| b.summary.status),
        status_after: after.summary.status,
        headline_before: before.map(|b| b.summary.headline.clone()),
        headline_after: after.summary.headline.clone(),
        added,
        removed,
        changes: before.map(|b| changes(b, after)).unwrap_or_default(),
    }
}

/// A set of strings, as a sorted vector without repeats (smaller in the browser build than
/// a tree set).
fn set(items: impl Iterator<Item = String>) -> Vec<String> {
    let mut v: Vec<String> = items.collect();
    v.sort();
    v.dedup();
    v
}

/// The keys a host presents (the first 16 hex digits of their `3 1 1` data).
fn keys(h: &MxReport) -> Vec<String> {
    set(h
        .addresses
        .iter()
        .flat_map(|a| &a.chains)
        .filter_map(|c| c.dane_ee_record.as_deref())
        .map(|r| short(r.rsplit(' ').next().unwrap_or(r))))
}

fn leaf_dates(h: &MxReport) -> Vec<String> {
    set(h
        .addresses
        .iter()
        .flat_map(|a| &a.chains)
        .filter_map(|c| c.certs.first())
        .map(|c| c.not_after.to_string()))
}

fn tlsa(h: &MxReport) -> Vec<String> {
    set(h.tlsa.iter().map(|t| t.record.clone()))
}

fn short(hex: &str) -> String {
    match hex.get(..16) {
        Some(head) if hex.len() > 16 => format!("{head}…"),
        _ => hex.to_owned(),
    }
}

fn set_change(what: &str, old: &[String], new: &[String]) -> Option<String> {
    if old == new {
        return None;
    }
    let plus = new
        .iter()
        .filter(|s| !old.contains(s))
        .map(|s| format!("+ {s}"));
    let minus = old
        .iter()
        .filter(|s| !new.contains(s))
        .map(|s| format!("- {s}"));
    Some(format!(
        "{what}: {}",
        minus.chain(plus).collect::<Vec<_>>().join(", ")
    ))
}

fn changes(before: &Report, after: &Report) -> Vec<String> {
    let hosts = |r: &Report| set(r.mx.iter().map(|h| h.host.to_string()));
    let mut out: Vec<String> = set_change("MX hosts", &hosts(before), &hosts(after))
        .into_iter()
        .collect();
    for h in &after.mx {
        let Some(old) = before.mx.iter().find(|o| o.host == h.host) else {
            continue;
        };
        out.extend(set_change(
            &format!("Certificate key of {} (SHA-256 of the SPKI)", h.host),
            &keys(old),
            &keys(h),
        ));
        out.extend(set_change(
            &format!("Certificate of {} valid until", h.host),
            &leaf_dates(old),
            &leaf_dates(h),
        ));
        out.extend(set_change(
            &format!("TLSA records of {}", h.host),
            &tlsa(old),
            &tlsa(h),
        ));
    }
    out
}
