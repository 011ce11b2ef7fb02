//! `diff`: what changed from one report of a domain to the next. Findings are the same when
//! their code, severity and subject are; the servers' keys, their certificates' end dates,
//! the TLSA records and the MX hosts are compared per host.

use std::collections::BTreeSet;

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

/// The keys a host presents (as their `3 1 1` data), with the leaf end dates.
fn keys(h: &MxReport) -> BTreeSet<String> {
    h.addresses
        .iter()
        .flat_map(|a| &a.chains)
        .filter_map(|c| c.dane_ee_record.as_deref())
        .map(|r| r.rsplit(' ').next().unwrap_or(r).to_owned())
        .collect()
}

fn leaf_dates(h: &MxReport) -> BTreeSet<String> {
    h.addresses
        .iter()
        .flat_map(|a| &a.chains)
        .filter_map(|c| c.certs.first())
        .map(|c| c.not_after.to_string())
        .collect()
}

fn tlsa(h: &MxReport) -> BTreeSet<String> {
    h.tlsa.iter().map(|t| t.record.clone()).collect()
}

fn short(hex: &str) -> String {
    if hex.len() > 16 {
        format!("{}…", &hex[..16])
    } else {
        hex.to_owned()
    }
}

fn set_change(what: &str, old: &BTreeSet<String>, new: &BTreeSet<String>) -> Option<String> {
    if old == new {
        return None;
    }
    let plus: Vec<String> = new.difference(old).map(|s| format!("+ {s}")).collect();
    let minus: Vec<String> = old.difference(new).map(|s| format!("- {s}")).collect();
    Some(format!(
        "{what}: {}",
        minus.into_iter().chain(plus).collect::<Vec<_>>().join(", ")
    ))
}

fn changes(before: &Report, after: &Report) -> Vec<String> {
    let hosts =
        |r: &Report| -> BTreeSet<String> { r.mx.iter().map(|h| h.host.to_string()).collect() };
    let mut out: Vec<String> = set_change("MX hosts", &hosts(before), &hosts(after))
        .into_iter()
        .collect();
    for h in &after.mx {
        let Some(old) = before.mx.iter().find(|o| o.host == h.host) else {
            continue;
        };
        let short_set = |s: BTreeSet<String>| s.iter().map(|k| short(k)).collect::<BTreeSet<_>>();
        out.extend(set_change(
            &format!("Certificate key of {} (SHA-256 of the SPKI)", h.host),
            &short_set(keys(old)),
            &short_set(keys(h)),
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
