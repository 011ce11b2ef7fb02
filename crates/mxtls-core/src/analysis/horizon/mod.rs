//! What stops working before the horizon, and for whom: DNSSEC signatures senders depend
//! on (`rrsig-expiring`), certificates they check (`cert-expiring`), and TLSA records the
//! next ordinary renewal will no longer match (`tlsa-rollover-risk`).
//!
//! Judged on the finished host reports, so each rule knows which records authenticated
//! which chain and which senders rely on which certificate.

mod signatures;

use crate::cert::ParsedCert;
use crate::evidence::{Evidence, UnixTime};
use crate::findings::{Code, Finding, Severity, Subject};
use crate::names::DnsName;
use crate::report::{
    CertFacts, ChainReport, DaneStatus, FetchState, Horizon, Mode, MtaStsReport, MxReport, Verdict,
    in_days, renewal_date,
};

/// CAs that issue from several intermediates at random and replace them every few years: a
/// `2 x x` record for one of them breaks when a renewal comes from another. Matched on the
/// intermediate's subject organisation.
const ROTATING_CAS: &[&str] = &["O=Let's Encrypt", "O=Google Trust Services"];

/// The horizon findings, and the hosts whose `tlsa-no-rollover` notice the sharper
/// `tlsa-rollover-risk` replaces.
pub(super) fn judge(
    ev: &Evidence,
    now: UnixTime,
    horizon: Horizon,
    hosts: &[MxReport],
    sts: Option<&MtaStsReport>,
) -> (Vec<Finding>, Vec<DnsName>) {
    if !horizon.looks_ahead() {
        return (Vec::new(), Vec::new());
    }
    let mut findings = signatures::rrsigs(ev, now, horizon);
    findings.extend(signatures::unread_chain(ev));
    findings.extend(certificates(ev, now, horizon, hosts, sts));
    let mut risky = Vec::new();
    for h in hosts {
        if let Some(f) = rollover(h, now, horizon) {
            risky.push(h.host.clone());
            findings.push(f);
        }
    }
    (findings, risky)
}

/// Who checks a certificate of a chain, and how much its expiry costs them.
struct Reliance {
    who: &'static str,
    severity: Severity,
    /// Said after the date in the title, where the expiry harms no one.
    aside: &'static str,
}

/// `cert-expiring` for every certificate a sender checks, once per host and certificate;
/// a notice for a leaf only DANE-EE relies on (RFC 7672 §3.1.1: its dates do not matter).
fn certificates(
    ev: &Evidence,
    now: UnixTime,
    horizon: Horizon,
    hosts: &[MxReport],
    sts: Option<&MtaStsReport>,
) -> Vec<Finding> {
    let expiring =
        |c: &CertFacts| !c.self_issued && horizon.cert_expiring(c.not_before, c.not_after, now);
    let sts_mode = sts.and_then(|s| s.mode);
    let mut out = Vec::new();
    for h in hosts {
        let sts_host = sts_mode.is_some_and(|m| m != Mode::None)
            && sts.and_then(|s| s.host(&h.host)).is_some_and(|s| s.covered);
        let mut seen: Vec<(String, UnixTime)> = Vec::new();
        for a in &h.addresses {
            for c in &a.chains {
                for (depth, cert) in c.certs.iter().enumerate() {
                    if !expiring(cert) || seen.contains(&(cert.subject.clone(), cert.not_after)) {
                        continue;
                    }
                    let Some(r) = reliance(h, c, depth, sts_host.then_some(sts_mode).flatten())
                    else {
                        continue;
                    };
                    seen.push((cert.subject.clone(), cert.not_after));
                    out.push(cert_finding(
                        now,
                        &h.host,
                        cert,
                        depth,
                        r,
                        Subject::Host {
                            name: h.host.clone(),
                        },
                    ));
                }
            }
        }
    }
    // The policy host: senders that cannot fetch the policy keep a cached one until it ages
    // out, and new senders get none.
    if let (Some(report), Some(fetch)) = (sts, &ev.mta_sts.policy)
        && report.fetch == FetchState::Fetched
        && let Some(mode @ (Mode::Enforce | Mode::Testing)) = report.mode
        && let Some(tls) = &fetch.tls
    {
        let host = fetch
            .url
            .trim_start_matches("https://")
            .split('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        for (depth, der) in tls.chain.iter().enumerate() {
            let Ok(cert) = ParsedCert::parse(der.as_ref()) else {
                continue;
            };
            let facts = cert.facts();
            if !expiring(&facts) {
                continue;
            }
            let r = Reliance {
                who: "MTA-STS senders can no longer fetch the policy: those with it cached keep it until it ages out, new ones get none and deliver without it",
                severity: if mode == Mode::Enforce {
                    Severity::Warning
                } else {
                    Severity::Notice
                },
                aside: "",
            };
            let subject = Subject::Domain {
                name: ev.domain.clone(),
            };
            let label = DnsName::parse(&host).unwrap_or_else(|_| ev.domain.clone());
            out.push(cert_finding(now, &label, &facts, depth, r, subject));
        }
    }
    out
}

/// Who relies on the certificate at `depth` of chain `c` of host `h`, if anyone.
fn reliance(h: &MxReport, c: &ChainReport, depth: usize, sts: Option<Mode>) -> Option<Reliance> {
    let dane = c.dane.as_ref().and_then(|d| {
        let idx = d.authenticated_by?;
        let usage = usage(h, idx)?;
        let ta_depth = d
            .matches
            .iter()
            .find(|m| m.record == idx)
            .and_then(|m| m.cert);
        Some((usage, ta_depth))
    });
    match sts {
        Some(Mode::Enforce) if c.pkix.is_ok() => {
            return Some(Reliance {
                who: "MTA-STS senders (enforce) will refuse the server and queue mail",
                severity: Severity::Warning,
                aside: "",
            });
        }
        _ => {}
    }
    match dane {
        // DANE-TA checks the certificates below the anchor (RFC 7671 §5.2.2).
        Some((2, ta)) if ta.is_none_or(|t| depth < t) => Some(Reliance {
            who: "DANE senders will refuse the chain (DANE-TA checks dates below the trust anchor) and queue mail",
            severity: Severity::Warning,
            aside: "",
        }),
        Some((3, _)) if depth == 0 => Some(Reliance {
            who: "DANE-EE ignores validity dates (RFC 7672 §3.1.1), so DANE senders are not affected; senders that check PKIX would refuse it",
            severity: Severity::Notice,
            aside: ", which DANE-EE ignores",
        }),
        Some(_) => None,
        None if sts == Some(Mode::Testing) && c.pkix.is_ok() => Some(Reliance {
            who: "MTA-STS senders (testing) will report failures in their TLS-RPT reports; mail still flows",
            severity: Severity::Notice,
            aside: "",
        }),
        None if c.verdict == Verdict::Trusted && depth == 0 => Some(Reliance {
            who: "no sender requires it today (no DANE, no enforced MTA-STS), but an expired certificate voids MTA-STS and is a sign that renewal is failing",
            severity: Severity::Notice,
            aside: "",
        }),
        None => None,
    }
}

fn cert_finding(
    now: UnixTime,
    host: &DnsName,
    cert: &CertFacts,
    depth: usize,
    r: Reliance,
    subject: Subject,
) -> Finding {
    let role = if depth == 0 {
        format!("The certificate of {host}")
    } else {
        format!(
            "The intermediate CA certificate {} sent by {host}",
            cert.subject
        )
    };
    Finding::new(
        Code::CertExpiring,
        r.severity,
        subject,
        format!(
            "{role} expires on {}, {}{}",
            cert.not_after,
            in_days(now, cert.not_after),
            r.aside
        ),
    )
    .explain(format!("{} ({}): {}.", cert.subject, cert.issuer, r.who))
    .fix(if depth == 0 {
        "Renew the certificate now and reload the mail server; if an ACME client renews it (30 days ahead), find out why it has not. Keep the key, or update the TLSA records with it."
    } else {
        "Put the CA's current intermediate certificate in the server's chain file and reload it (ACME clients fetch it with each renewal)."
    })
}

/// The certificate usage of the host's TLSA record `idx`, read from its presentation.
fn usage(h: &MxReport, idx: usize) -> Option<u8> {
    h.tlsa
        .get(idx)?
        .record
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// `tlsa-rollover-risk`: no usable record would still match after an ordinary renewal (a
/// new leaf key, and from a rotating CA possibly another intermediate), and that renewal
/// falls within the horizon. A usable record that matches nothing presented counts as the
/// next key (or another intermediate) published ahead.
fn rollover(h: &MxReport, now: UnixTime, horizon: Horizon) -> Option<Finding> {
    if h.dane != DaneStatus::Applies {
        return None;
    }
    let cert_at = |ip, key, depth: usize| {
        h.addresses
            .iter()
            .filter(|a| a.ip == ip)
            .flat_map(|a| &a.chains)
            .find(|c| c.key == key)
            .and_then(|c| c.certs.get(depth))
    };
    let rotating = |c: &CertFacts| ROTATING_CAS.iter().any(|o| c.subject.contains(o));
    let usable: Vec<_> = h.tlsa.iter().filter(|t| t.usable).collect();
    let survives = |t: &&crate::report::TlsaReport| {
        t.matched.is_empty()
            || t.matched.iter().any(|m| match m.depth {
                None => true,
                Some(0) => false,
                Some(d) => !cert_at(m.ip, m.key, d).is_some_and(rotating),
            })
    };
    if usable.is_empty() || usable.iter().any(survives) {
        return None;
    }
    let rotating_ca = usable
        .iter()
        .flat_map(|t| &t.matched)
        .filter_map(|m| m.depth.filter(|d| *d > 0).map(|d| (m, d)))
        .find_map(|(m, d)| cert_at(m.ip, m.key, d).filter(|c| rotating(c)));
    let verified: Vec<&ChainReport> = h
        .addresses
        .iter()
        .flat_map(|a| &a.chains)
        .filter(|c| c.verdict == Verdict::Verified)
        .collect();
    // A leaf renewed on a schedule: issued by a CA and not already expired.
    let renewal = verified
        .iter()
        .filter_map(|c| c.certs.first())
        .filter(|c| !c.self_issued && now <= c.not_after)
        .map(|c| renewal_date(c.not_before, c.not_after))
        .min()?;
    let limit = UnixTime(now.0 + i64::from(horizon.cert_days()) * 86_400);
    if renewal >= limit {
        return None;
    }
    let when = if renewal <= now {
        "is due now".to_owned()
    } else {
        format!("is due on {renewal}, {}", in_days(now, renewal))
    };
    let keep: Vec<String> = {
        let mut v: Vec<String> = Vec::new();
        for c in &verified {
            if let Some(r) = &c.dane_ee_record
                && !v.contains(r)
            {
                v.push(r.clone());
            }
        }
        v
    };
    let (why, fix) = match rotating_ca {
        Some(ca) => (
            format!(
                "A 2 x x record pins the intermediate {} of a CA that issues from several intermediates and replaces them: the next certificate may come from another one, which no record matches.",
                ca.subject
            ),
            "Publish a 3 1 1 record for the server's key and reuse the key at renewal (certbot --reuse-key, or generate the next key now and publish its 3 1 1 record beside the current one); keep the 2 1 1 only beside it. The records for the current key:",
        ),
        None => (
            "Every usable record pins the current certificate or key, and none is published for the next one: a renewal with a new key (the default of most ACME clients) matches no record.".to_owned(),
            "Keep these records and either reuse the key at renewal (certbot --reuse-key) or generate the next key now and publish its 3 1 1 record beside them, at least two TTLs before the renewal:",
        ),
    };
    Some(
        Finding::new(
            Code::TlsaRolloverRisk,
            Severity::Warning,
            Subject::Host {
                name: h.host.clone(),
            },
            format!(
                "The next certificate renewal of {} {when} and will break DANE",
                h.host
            ),
        )
        .explain(format!(
            "{why} From the renewal until the TLSA records are updated, DANE senders (Postfix, Exim, Microsoft 365) queue mail to {} (RFC 7671 §8.1).",
            h.host
        ))
        .fix_with_records(fix, keep),
    )
}
