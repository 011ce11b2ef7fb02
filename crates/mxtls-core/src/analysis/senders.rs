//! What happens to a message sent to the domain, by kind of sending MTA — and whether an
//! attacker on the path who strips STARTTLS would succeed. The question a domain owner
//! really asks; derived from the per-address verdicts, the DANE status of each host and the
//! MTA-STS policy, following how each kind of sender behaves.

use std::net::IpAddr;

use crate::names::DnsName;
use crate::report::{
    Attack, DaneStatus, Delivery, MtaStsReport, MxReport, Protection, Sender, SenderOutcome,
    Verdict,
};

/// What one address does for one sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Try {
    Delivers(Delivery),
    /// The sender gives up on this address and tries the next (deferring if none is left).
    Fails,
    /// The probe could not test the address (no connection, no working SMTP): from one
    /// vantage point, not the domain's verdict. The sender moves on; if nothing else
    /// delivers, what it meets is not known.
    Untested,
    Unknown,
}

/// The whole matrix, given what the MX lookup meant: a null MX bounces; no usable answer
/// defers — except that an answer which fails validation stops only the senders that
/// validate (DANE's); what the others meet was not probed.
pub(super) fn matrix(
    hosts: &[MxReport],
    sts: Option<&MtaStsReport>,
    mx: &super::MxState,
) -> Vec<SenderOutcome> {
    Sender::ALL
        .iter()
        .map(|&sender| {
            let (delivery, via, failing_at, stripped) = if mx.null {
                (Delivery::Bounced, None, Vec::new(), Delivery::Bounced)
            } else if mx.bogus && sender != Sender::Dane {
                (Delivery::Unknown, None, Vec::new(), Delivery::Unknown)
            } else if mx.failed || hosts.is_empty() {
                (Delivery::Deferred, None, Vec::new(), Delivery::Deferred)
            } else {
                let (d, via, failing) = deliver(sender, hosts, sts, false);
                (d, via, failing, deliver(sender, hosts, sts, true).0)
            };
            let attack = attack(delivery, stripped);
            SenderOutcome {
                sender,
                delivery,
                via,
                stripping_succeeds: attack == Attack::Works,
                attack,
                failing_at,
            }
        })
        .collect()
}

/// What stripping STARTTLS changes, from what happens without and with the attack.
fn attack(now: Delivery, stripped: Delivery) -> Attack {
    match (now, stripped) {
        (Delivery::Unknown, _) | (_, Delivery::Unknown) => Attack::NotKnown,
        (Delivery::Bounced, _) => Attack::None,
        (_, Delivery::Cleartext) => Attack::Works,
        (Delivery::Deferred, _) => Attack::None,
        _ => Attack::Blocked,
    }
}

/// Which protection stops downgrades, for the report's top line: the kinds of sender whose
/// mail goes over TLS now and whom stripping cannot turn to cleartext — read from the rows,
/// so that the line and the table cannot disagree.
pub fn protection(rows: &[SenderOutcome]) -> Protection {
    let holds = |s: Sender| {
        rows.iter().any(|r| {
            r.sender == s
                && r.attack == Attack::Blocked
                && matches!(r.delivery, Delivery::Authenticated | Delivery::Encrypted)
        })
    };
    match (holds(Sender::Dane), holds(Sender::MtaSts)) {
        (true, true) => Protection::Both,
        (true, false) => Protection::Dane,
        (false, true) => Protection::MtaSts,
        (false, false) => Protection::None,
    }
}

/// Senders try MX hosts by preference and each host's addresses in turn; the message goes
/// to the first that accepts it. Within a host, the weakest delivering address counts
/// (the sender does not choose which one it reaches). `stripped`: an attacker removes
/// STARTTLS from every session that speaks SMTP.
/// Where a message goes: the delivery, the host, and the addresses of that host where this
/// sender fails and moves on (the report shows them: the worst address, not the best).
fn deliver(
    sender: Sender,
    hosts: &[MxReport],
    sts: Option<&MtaStsReport>,
    stripped: bool,
) -> (Delivery, Option<DnsName>, Vec<IpAddr>) {
    let (mut unknown, mut untested) = (false, false);
    for host in hosts {
        let tries: Vec<(IpAddr, Try)> = host
            .addresses
            .iter()
            .map(|a| {
                let speaks_smtp = matches!(
                    a.tls,
                    Verdict::Verified
                        | Verdict::Trusted
                        | Verdict::Untrusted
                        | Verdict::NoStarttls
                        | Verdict::TlsFailed
                );
                let v = if stripped && speaks_smtp {
                    Verdict::NoStarttls
                } else {
                    a.tls
                };
                (a.ip, attempt(sender, host, a, v, sts))
            })
            .collect();
        untested |= tries.iter().any(|(_, t)| *t == Try::Untested);
        if tries.iter().any(|(_, t)| *t == Try::Unknown) {
            unknown = true;
            continue;
        }
        if let Some(worst) = tries
            .iter()
            .filter_map(|(_, t)| match t {
                Try::Delivers(d) => Some(*d),
                _ => None,
            })
            .min()
        {
            let failing = tries
                .iter()
                .filter(|(_, t)| *t == Try::Fails)
                .map(|(ip, _)| *ip)
                .collect();
            return (worst, Some(host.host.clone()), failing);
        }
    }
    if unknown || untested {
        (Delivery::Unknown, None, Vec::new())
    } else {
        (Delivery::Deferred, None, Vec::new())
    }
}

fn attempt(
    sender: Sender,
    host: &MxReport,
    address: &crate::report::AddressReport,
    v: Verdict,
    sts: Option<&MtaStsReport>,
) -> Try {
    use Delivery::*;
    let opportunistic = |v: Verdict| match v {
        Verdict::Verified | Verdict::Trusted | Verdict::Untrusted => Try::Delivers(Encrypted),
        // After a failed handshake, opportunistic senders retry in cleartext.
        Verdict::NoStarttls | Verdict::TlsFailed => Try::Delivers(Cleartext),
        Verdict::Unreachable | Verdict::Broken => Try::Untested,
        Verdict::Inconclusive | Verdict::Refused | Verdict::OptedOut => Try::Unknown,
    };
    // An enforcing sender never delivers to a host its policy does not list, whatever the
    // host's server does (RFC 8461 §4.1): that is known without testing it.
    if sender == Sender::MtaSts
        && let Some(sts) = sts.filter(|s| s.enforced())
        && !sts.host(&host.host).is_some_and(|h| h.covered)
    {
        return Try::Fails;
    }
    match v {
        Verdict::Inconclusive | Verdict::Refused | Verdict::OptedOut => return Try::Unknown,
        Verdict::Unreachable | Verdict::Broken => return Try::Untested,
        _ => {}
    }
    match sender {
        Sender::Opportunistic => opportunistic(v),
        Sender::DefersOnTlsFailure => match v {
            Verdict::TlsFailed => Try::Fails,
            v => opportunistic(v),
        },
        Sender::Dane => match host.dane {
            DaneStatus::Applies => match v {
                Verdict::Verified => Try::Delivers(Authenticated),
                _ => Try::Fails,
            },
            // A secure but unusable TLSA RRset still obliges TLS (RFC 7672 §2.2).
            DaneStatus::Unusable => match v {
                Verdict::Verified | Verdict::Trusted | Verdict::Untrusted => {
                    Try::Delivers(Encrypted)
                }
                _ => Try::Fails,
            },
            DaneStatus::Failed => Try::Fails,
            // The probe's resolver strips DNSSEC: whether DANE applies cannot be known here.
            DaneStatus::Unknown => Try::Unknown,
            DaneStatus::NotPublished | DaneStatus::NotApplicable => opportunistic(v),
        },
        Sender::MtaSts => match sts {
            Some(sts) if sts.enforced() => {
                let Some(h) = sts.host(&host.host) else {
                    return Try::Fails;
                };
                if !h.covered {
                    return Try::Fails;
                }
                // `v` may be the stripped verdict: the address must still show TLS.
                let tls_ok = matches!(v, Verdict::Verified | Verdict::Trusted | Verdict::Untrusted);
                if tls_ok && crate::mta_sts::address_meets_policy(address, &host.host) {
                    Try::Delivers(Authenticated)
                } else {
                    Try::Fails
                }
            }
            _ => opportunistic(v),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::AddressReport;
    use crate::report::{FetchState, Mode, StsHost, StsTxt};

    fn host(name: &str, dane: DaneStatus, verdicts: &[Verdict]) -> MxReport {
        MxReport {
            host: DnsName::parse(name).unwrap(),
            preference: Some(10),
            tlsa_base: None,
            dane,
            lookups: Vec::new(),
            tlsa: Vec::new(),
            addresses: verdicts
                .iter()
                .enumerate()
                .map(|(i, v)| AddressReport {
                    ip: format!("192.0.2.{}", i + 1).parse().unwrap(),
                    tls: *v,
                    chains: Vec::new(),
                    starttls_offered: Some(*v != Verdict::NoStarttls),
                    posture: None,
                })
                .collect(),
        }
    }

    /// An MX answer that was fine (or a null MX).
    fn mx(null: bool) -> crate::analysis::MxState {
        crate::analysis::MxState {
            dnssec: crate::evidence::DnssecState::Secure,
            failed: false,
            bogus: false,
            null,
        }
    }

    fn row(rows: &[SenderOutcome], s: Sender) -> &SenderOutcome {
        rows.iter().find(|r| r.sender == s).unwrap()
    }

    #[test]
    fn dane_protects_dane_senders_only() {
        let hosts = [host(
            "mx.example",
            DaneStatus::Applies,
            &[Verdict::Verified],
        )];
        let m = matrix(&hosts, None, &mx(false));
        assert_eq!(row(&m, Sender::Dane).delivery, Delivery::Authenticated);
        assert!(!row(&m, Sender::Dane).stripping_succeeds);
        assert_eq!(row(&m, Sender::Opportunistic).delivery, Delivery::Encrypted);
        assert!(row(&m, Sender::Opportunistic).stripping_succeeds);
        assert!(row(&m, Sender::MtaSts).stripping_succeeds);
        assert_eq!(protection(&m), Protection::Dane);
    }

    #[test]
    fn a_dane_failure_defers_for_dane_senders_and_falls_to_the_next_host() {
        let broken = host("mx1.example", DaneStatus::Applies, &[Verdict::Untrusted]);
        let m = matrix(std::slice::from_ref(&broken), None, &mx(false));
        assert_eq!(row(&m, Sender::Dane).delivery, Delivery::Deferred);
        let backup = host(
            "mx2.example",
            DaneStatus::NotApplicable,
            &[Verdict::NoStarttls],
        );
        let m = matrix(&[broken, backup], None, &mx(false));
        let dane = row(&m, Sender::Dane);
        assert_eq!(dane.delivery, Delivery::Cleartext);
        assert_eq!(dane.via.as_ref().map(DnsName::as_str), Some("mx2.example"));
        assert!(dane.stripping_succeeds);
    }

    #[test]
    fn tls_failure_separates_fallback_senders_from_deferring_ones() {
        let hosts = [host(
            "mx.example",
            DaneStatus::NotApplicable,
            &[Verdict::TlsFailed],
        )];
        let m = matrix(&hosts, None, &mx(false));
        assert_eq!(row(&m, Sender::Opportunistic).delivery, Delivery::Cleartext);
        assert_eq!(
            row(&m, Sender::DefersOnTlsFailure).delivery,
            Delivery::Deferred
        );
    }

    #[test]
    fn an_enforced_policy_stops_stripping_for_mta_sts_senders() {
        let hosts = [host(
            "mx.example",
            DaneStatus::NotApplicable,
            &[Verdict::Trusted],
        )];
        let sts = |mode, covered| MtaStsReport {
            txt: StsTxt::Valid { id: "1".into() },
            policy_url: String::new(),
            fetch: FetchState::Fetched,
            policy: None,
            policy_error: None,
            mode: Some(mode),
            hosts: vec![StsHost {
                host: DnsName::parse("mx.example").unwrap(),
                covered,
                pkix_valid: Some(true),
            }],
        };
        // No chains recorded in this synthetic report: PKIX cannot be shown, so enforce defers.
        let enforce = sts(Mode::Enforce, true);
        let m = matrix(&hosts, Some(&enforce), &mx(false));
        assert!(!row(&m, Sender::MtaSts).stripping_succeeds);
        // Deferred, not delivered: the policy blocks the attack but protects no mail.
        assert_eq!(row(&m, Sender::MtaSts).delivery, Delivery::Deferred);
        assert_eq!(row(&m, Sender::MtaSts).attack, Attack::None);
        assert_eq!(protection(&m), Protection::None);
        let uncovered = sts(Mode::Enforce, false);
        let m = matrix(&hosts, Some(&uncovered), &mx(false));
        assert_eq!(row(&m, Sender::MtaSts).delivery, Delivery::Deferred);
        let testing = sts(Mode::Testing, true);
        let m = matrix(&hosts, Some(&testing), &mx(false));
        assert_eq!(row(&m, Sender::MtaSts).delivery, Delivery::Encrypted);
        assert!(row(&m, Sender::MtaSts).stripping_succeeds);
        assert_eq!(protection(&m), Protection::None);
    }

    #[test]
    fn a_resolver_without_dnssec_leaves_dane_senders_unknown() {
        let hosts = [host("mx.example", DaneStatus::Unknown, &[Verdict::Trusted])];
        let m = matrix(&hosts, None, &mx(false));
        assert_eq!(row(&m, Sender::Dane).delivery, Delivery::Unknown);
        assert_eq!(row(&m, Sender::Opportunistic).delivery, Delivery::Encrypted);
    }

    #[test]
    fn null_mx_bounces_and_unknown_stays_unknown() {
        let m = matrix(&[], None, &mx(true));
        assert!(
            m.iter()
                .all(|r| r.delivery == Delivery::Bounced && !r.stripping_succeeds)
        );
        let hosts = [host(
            "mx.example",
            DaneStatus::NotApplicable,
            &[Verdict::Inconclusive],
        )];
        let m = matrix(&hosts, None, &mx(false));
        assert!(m.iter().all(|r| r.delivery == Delivery::Unknown));
    }
}
