//! Every MX host × address × presented key at a glance: STARTTLS, the TLS version, DANE,
//! PKIX and MTA-STS, each a word and a mood — the grid a domain owner scans before the
//! details, where two addresses of one host that differ stand out.

use std::net::IpAddr;

use super::{Mood, Words, words};
use crate::names::DnsName;
use crate::report::{
    AddressReport, ChainReport, DaneStatus, Mode, MtaStsReport, MxReport, Report, Verdict,
};

/// One row: an address, and one of the chains it presented (one row per key type).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GridRow {
    pub host: DnsName,
    pub ip: IpAddr,
    /// The key type of this row's chain (`RSA`, `ECDSA`); `None` when no chain was seen.
    pub key: Option<&'static str>,
    pub starttls: Words,
    pub tls: Words,
    /// The address's TLS posture in a few words, where posture sessions were run.
    pub posture: Option<Words>,
    pub dane: Words,
    pub pkix: Words,
    pub mta_sts: Words,
}

/// The grid of a report, host by host in MX order, address by address.
pub fn grid(report: &Report) -> Vec<GridRow> {
    let mut rows = Vec::new();
    for mx in &report.mx {
        for a in &mx.addresses {
            if a.chains.is_empty() {
                rows.push(row(report, mx, a, None));
            }
            for c in &a.chains {
                rows.push(row(report, mx, a, Some(c)));
            }
        }
    }
    rows
}

fn not_seen() -> Words {
    words("—", Mood::Unknown)
}

fn row(report: &Report, mx: &MxReport, a: &AddressReport, c: Option<&ChainReport>) -> GridRow {
    let starttls = match a.tls {
        Verdict::Verified | Verdict::Trusted | Verdict::Untrusted => words("yes", Mood::Good),
        Verdict::NoStarttls => words("no", Mood::Bad),
        Verdict::TlsFailed => words("fails", Mood::Bad),
        other => super::verdict(other),
    };
    let tls = match c.and_then(|c| c.tls_version.clone().zip(c.tls_version_code)) {
        Some((name, code)) if code.is_deprecated() => words(name, Mood::Bad),
        Some((name, _)) => words(name, Mood::Good),
        None => not_seen(),
    };
    let dane = match (mx.dane, c) {
        (DaneStatus::Applies, Some(c)) => match &c.dane {
            Some(d) if d.authenticated() => words("verified", Mood::Good),
            _ => words("no match", Mood::Bad),
        },
        (DaneStatus::Applies, None) => words("published", Mood::Unknown),
        (DaneStatus::Unusable, _) => words("unusable", Mood::Warn),
        (DaneStatus::Failed, _) => words("lookup fails", Mood::Bad),
        (DaneStatus::Unknown, _) => words("unknown", Mood::Unknown),
        (DaneStatus::NotPublished | DaneStatus::NotApplicable, _) => words("not used", Mood::Info),
    };
    let pkix = match c {
        None => not_seen(),
        Some(c) => match (&c.pkix, c.name_matches) {
            (Ok(()), true) => words("valid", Mood::Good),
            (Ok(()), false) => words("wrong name", Mood::Warn),
            (Err(crate::report::PathError::Expired), _) => words("expired", Mood::Warn),
            (Err(_), _) => words("not public", Mood::Warn),
        },
    };
    let mta_sts = sts_cell(report.mta_sts.as_ref(), mx, a);
    GridRow {
        host: mx.host.clone(),
        ip: a.ip,
        key: c.map(|c| c.key.name()),
        starttls,
        tls,
        posture: super::posture_glance(report, a),
        dane,
        pkix,
        mta_sts,
    }
}

fn sts_cell(sts: Option<&MtaStsReport>, mx: &MxReport, a: &AddressReport) -> Words {
    let Some(sts) = sts else {
        return not_seen();
    };
    let (Some(mode), Some(h)) = (sts.mode, sts.host(&mx.host)) else {
        return words("no policy", Mood::Info);
    };
    if mode == Mode::None {
        return words("withdrawn", Mood::Info);
    }
    let strict = if mode == Mode::Enforce {
        Mood::Bad
    } else {
        Mood::Warn
    };
    if !h.covered {
        return words("not listed", strict);
    }
    if matches!(
        a.tls,
        Verdict::Unreachable
            | Verdict::Broken
            | Verdict::Inconclusive
            | Verdict::Refused
            | Verdict::OptedOut
    ) {
        return not_seen();
    }
    if crate::mta_sts::address_meets_policy(a, &mx.host) {
        words("meets policy", Mood::Good)
    } else {
        words("fails policy", strict)
    }
}
