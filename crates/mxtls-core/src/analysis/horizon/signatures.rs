//! The signatures senders depend on: `rrsig-expiring` per signing zone, and
//! `lookahead-incomplete` where the chain of trust could not be read to look.

use crate::dns;
use crate::dnssec;
use crate::evidence::{DnsAnswer, DnsOutcome, Evidence, UnixTime};
use crate::findings::{Code, Finding, Severity, Subject};
use crate::names::{DnsName, RecordType};
use crate::report::{Horizon, in_days};

/// Every RRset senders depend on, with what it is for.
fn depended_on(ev: &Evidence) -> Vec<(String, &DnsAnswer)> {
    let mut out = vec![(format!("MX of {}", ev.domain), &ev.mx)];
    for h in &ev.hosts {
        for a in h.a.iter().chain(h.aaaa.iter()).chain(h.tlsa.iter()) {
            out.push((format!("{} of {}", a.qtype, a.qname), a));
        }
    }
    if ev.mta_sts.policy.is_some()
        && let Some(txt) = &ev.mta_sts.txt
    {
        out.push((format!("TXT of {}", txt.qname), txt));
    }
    for a in &ev.dnssec_chain {
        out.push((format!("{} of {}", a.qtype, a.qname), a));
    }
    out
}

/// `rrsig-expiring`, one per signing zone: the RRsets whose every signature runs out within
/// the horizon, and the earliest date.
pub(super) fn rrsigs(ev: &Evidence, now: UnixTime, horizon: Horizon) -> Vec<Finding> {
    // Per signing zone: the earliest end, what runs out, and whether everyone depends on it.
    let mut zones: Vec<(DnsName, UnixTime, Vec<String>, bool)> = Vec::new();
    for (what, answer) in depended_on(ev) {
        if !dns::overall_dnssec(answer).is_secure() {
            continue;
        }
        // Any one valid signature keeps an RRset alive: the latest one counts.
        let Some(best) = dnssec::signatures(answer, now)
            .into_iter()
            .filter(|s| s.inception <= now)
            .max_by_key(|s| s.expiration)
        else {
            continue;
        };
        if !horizon.rrsig_expiring(best.inception, best.expiration, now) {
            continue;
        }
        let everyone = answer.qtype != RecordType::TLSA && answer.qtype != RecordType::TXT;
        let at = match zones.iter().position(|z| z.0 == best.signer) {
            Some(i) => i,
            None => {
                zones.push((best.signer.clone(), best.expiration, Vec::new(), false));
                zones.len() - 1
            }
        };
        let entry = &mut zones[at];
        entry.1 = entry.1.min(best.expiration);
        entry.3 |= everyone;
        if !entry.2.contains(&what) {
            entry.2.push(what);
        }
    }
    zones
        .into_iter()
        .map(|(zone, at, what, everyone)| {
            let hurt = if everyone {
                "Then every validating resolver (Gmail's, Microsoft 365's and most large providers') answers SERVFAIL, and senders behind them queue mail until the zone is signed again."
            } else {
                "Then DANE senders cannot read these records and queue mail; MTA-STS senders lose the policy."
            };
            Finding::new(
                Code::RrsigExpiring,
                Severity::Warning,
                Subject::Domain { name: zone.clone() },
                format!(
                    "The DNSSEC signatures of {zone} expire on {at}, {}",
                    in_days(now, at)
                ),
            )
            .explain(format!(
                "The latest signatures over {} all run out then. {hurt} Signers re-sign long before expiry: this close to the end, re-signing has stopped.",
                what.join(", ")
            ))
            .fix(format!(
                "Re-sign {zone} now and find out why re-signing stopped (the signer's job or service, its keys, transfers to the secondaries); a DS signed by the parent is the parent's to re-sign."
            ))
        })
        .collect()
}

/// `lookahead-incomplete`, one per zone whose DNSKEY or DS lookup for the chain of trust got
/// no answer (a timeout, a network or resolver error): the signatures over those RRsets were
/// not seen, so their expiry cannot be foreseen, and the report says so rather than staying
/// silent about a gap.
pub(super) fn unread_chain(ev: &Evidence) -> Vec<Finding> {
    let mut zones: Vec<(DnsName, Vec<String>)> = Vec::new();
    for a in &ev.dnssec_chain {
        let why = match &a.outcome {
            DnsOutcome::Timeout => "no answer in time".to_owned(),
            DnsOutcome::Error { message } => message.clone(),
            _ => continue,
        };
        let what = format!("the {} ({why})", a.qtype);
        match zones.iter_mut().find(|z| z.0 == a.qname) {
            Some(z) => z.1.push(what),
            None => zones.push((a.qname.clone(), vec![what])),
        }
    }
    zones
        .into_iter()
        .map(|(zone, what)| {
            Finding::new(
                Code::LookaheadIncomplete,
                Severity::Notice,
                Subject::Domain { name: zone.clone() },
                format!(
                    "The look-ahead could not read {} of {zone}",
                    what.join(" and ")
                ),
            )
            .explain(format!(
                "The probe asks for the DNSKEY and DS records of every zone on the chain of trust to see when their signatures run out. For {zone} no answer came, so an expiry of those signatures would not be reported; nothing is known to be wrong with them."
            ))
            .fix("Check again; if it persists, make sure the resolver the check uses answers DNSKEY and DS queries (with DNSSEC records) for this zone.")
        })
        .collect()
}
