//! Before a test starts: is every test domain published as its case needs? A test zone that
//! is itself broken (an expired signature, a TLSA record left from an old key, a missing
//! policy) must not blame the sender — the page shows these problems instead of verdicts
//! that would rest on them. The server looks the records up; this judges them.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::Case;
use crate::evidence::{DnsAnswer, DnssecState, PolicyFetch};
use crate::names::DnsName;

/// What the server looked up for one test domain, through its validating resolver.
#[derive(Debug, Clone)]
pub struct Lookups {
    pub case: Case,
    /// `MX` of the test domain.
    pub mx: DnsAnswer,
    /// `A` and `AAAA` of its MX host.
    pub addresses: Vec<DnsAnswer>,
    /// `TLSA` at `_PORT._tcp.<MX host>`.
    pub tlsa: DnsAnswer,
    /// `TXT` at `_mta-sts.<domain>` and the policy fetched, for the MTA-STS cases.
    pub sts: Option<(DnsAnswer, PolicyFetch)>,
}

/// What the receivers are: the address each case's host must have, and their key.
#[derive(Debug, Clone)]
pub struct Expected {
    pub zone: DnsName,
    pub receivers: Vec<(Case, IpAddr)>,
    pub spki_sha256: [u8; 32],
}

/// One thing wrong with a published test domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    pub case: Case,
    /// The record, as `TYPE name` (`TLSA _25._tcp.mx-dane-valid.example`).
    pub record: String,
    pub problem: String,
}

/// Every problem with what `lookups` found for its case.
pub fn check(expected: &Expected, lookups: &Lookups) -> Vec<Problem> {
    let case = lookups.case;
    let mut problems = Vec::new();
    let mut say = |answer: &DnsAnswer, problem: String| {
        problems.push(Problem {
            case,
            record: format!("{} {}", answer.qtype, answer.qname),
            problem,
        })
    };
    let host = case.mx_host(&expected.zone);
    // The whole zone is signed: DANE needs it, and a bogus answer would fail any sender.
    let insecure = |a: &DnsAnswer| match crate::dns::overall_dnssec(a) {
        DnssecState::Secure => None,
        DnssecState::Insecure => Some("is not signed: the test zone must be".to_owned()),
        DnssecState::Bogus { reason } => Some(format!("fails DNSSEC validation: {reason}")),
        DnssecState::Indeterminate { reason } => Some(format!("could not be validated: {reason}")),
    };
    let mx: Vec<DnsName> = crate::dns::mx_targets(&lookups.mx)
        .into_iter()
        .flatten()
        .map(|t| t.exchange)
        .collect();
    if mx != [host.clone()] {
        let found = if mx.is_empty() {
            "none".to_owned()
        } else {
            names(&mx)
        };
        say(
            &lookups.mx,
            format!("must be exactly {host} (found {found})"),
        );
    }
    if let Some(why) = insecure(&lookups.mx) {
        say(&lookups.mx, why);
    }
    let want = expected
        .receivers
        .iter()
        .find(|(c, _)| *c == case)
        .map(|(_, ip)| *ip);
    let found: Vec<IpAddr> = lookups
        .addresses
        .iter()
        .flat_map(crate::dns::addresses)
        .collect();
    if let (Some(want), Some(first)) = (want, lookups.addresses.first())
        && !found.contains(&want)
    {
        say(
            first,
            format!("{host} must have the receiver's address {want} (found {found:?})"),
        );
    }
    // DANE applies only where the MX host's addresses are secure too (RFC 7672 §2.2.2).
    if case.tlsa()
        && let Some(a) = lookups
            .addresses
            .iter()
            .find(|a| !crate::dns::addresses(a).is_empty())
        && let Some(why) = insecure(a)
    {
        say(a, why);
    }
    let tlsa = &lookups.tlsa;
    let records: Vec<_> = crate::dns::tlsa_records(tlsa)
        .into_iter()
        .flatten()
        .collect();
    let ours = |r: &hickory_proto::rr::rdata::TLSA| {
        r.cert_data == expected.spki_sha256
            && u8::from(r.selector) == 1
            && u8::from(r.matching) == 1
    };
    match case {
        Case::DaneValid | Case::StarttlsBroken | Case::StarttlsStripped => {
            if !records
                .iter()
                .any(|r| u8::from(r.cert_usage) == 3 && ours(r))
            {
                say(
                    tlsa,
                    "must hold 3 1 1 with the receivers' key (`mxtls sender-test zone` writes it)"
                        .into(),
                );
            }
            if let Some(why) = insecure(tlsa) {
                say(tlsa, why);
            }
        }
        Case::DaneMismatch => {
            if records.is_empty() {
                say(tlsa, "must hold a record that matches no key".into());
            } else if records.iter().any(ours) {
                say(
                    tlsa,
                    "matches the receivers' key: it must match nothing".into(),
                );
            }
            if let Some(why) = insecure(tlsa) {
                say(tlsa, why);
            }
        }
        _ if !records.is_empty() => say(tlsa, "must not exist for this test domain".into()),
        _ => {}
    }
    if case.sts_enforce() {
        match &lookups.sts {
            None => say(&lookups.mx, "the MTA-STS policy was not looked up".into()),
            Some((txt, fetch)) => {
                let strings = crate::dns::txt_strings(txt);
                if !matches!(
                    crate::mta_sts::parse_txt(&strings),
                    crate::report::StsTxt::Valid { .. }
                ) {
                    say(txt, "must be a valid v=STSv1 record with an id".into());
                }
                let policy = fetch
                    .body
                    .as_ref()
                    .filter(|_| fetch.status == Some(200))
                    .ok_or_else(|| format!("{} could not be fetched", fetch.url))
                    .and_then(|b| crate::mta_sts::parse_policy(&b.0));
                let problem = match policy {
                    Err(e) => Some(e),
                    Ok(p) if p.mode != crate::report::Mode::Enforce => {
                        Some(format!("{}: the mode must be enforce", fetch.url))
                    }
                    Ok(p) if !p.mx.iter().any(|m| crate::mta_sts::mx_matches(m, &host)) => {
                        Some(format!("{}: the policy must name {host}", fetch.url))
                    }
                    Ok(_) => None,
                };
                if let Some(problem) = problem {
                    problems.push(Problem {
                        case,
                        record: format!("policy {}", fetch.url),
                        problem,
                    });
                }
            }
        }
    }
    problems
}

/// What MTA-STS senders need of the receivers' certificate, which only `sts-enforce` uses for
/// its name: a chain to a public root (`roots`, or `extra` ones a test world adds) at `now`,
/// valid for `mx-sts-enforce.ZONE`. Without it every MTA-STS sender would refuse the
/// control, and the wrong-name case would say nothing.
pub fn certificate(
    zone: &DnsName,
    chain: &[crate::evidence::Bytes],
    roots: &crate::pkix::RootSet,
    extra: &[crate::evidence::Bytes],
    now: crate::evidence::UnixTime,
) -> Vec<Problem> {
    let host = Case::StsEnforce.mx_host(zone);
    let problem = |p: String| Problem {
        case: Case::StsEnforce,
        record: format!("the receivers' certificate for {host}"),
        problem: p,
    };
    let anchors = crate::pkix::pkix_anchors(roots, extra);
    if let Err(e) = crate::pkix::verify_chain(chain, &anchors, now) {
        return vec![problem(format!(
            "does not chain to a public root ({e:?}): MTA-STS senders need one"
        ))];
    }
    match chain.first().map(|c| crate::cert::ParsedCert::parse(&c.0)) {
        Some(Ok(leaf)) if leaf.matches_name(&host) => Vec::new(),
        Some(Ok(_)) => vec![problem(format!(
            "is not valid for {host} (use one for *.{zone})"
        ))],
        _ => vec![problem("does not parse".into())],
    }
}

fn names(list: &[DnsName]) -> String {
    list.iter()
        .map(DnsName::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::{DnsOutcome, Record};
    use crate::names::RecordType;
    use hickory_proto::rr::rdata::{A, MX, TLSA};
    use hickory_proto::rr::{Name, RData};

    const KEY: [u8; 32] = [9; 32];

    fn answer(qname: &str, qtype: RecordType, rdata: Vec<RData>, dnssec: DnssecState) -> DnsAnswer {
        let name = DnsName::parse(qname).expect("a name");
        DnsAnswer {
            qname: name.clone(),
            qtype,
            outcome: if rdata.is_empty() {
                DnsOutcome::NoData
            } else {
                DnsOutcome::Data
            },
            rcode: Some(0),
            records: rdata
                .iter()
                .map(|r| crate::dns::encode(&name, 300, r))
                .collect::<Vec<Record>>(),
            cname_chain: Vec::new(),
            dnssec,
            validation_failed: false,
            wire: None,
            elapsed_ms: None,
        }
    }

    fn tlsa(data: [u8; 32]) -> RData {
        RData::TLSA(TLSA::new(3.into(), 1.into(), 1.into(), data.to_vec()))
    }

    fn published(case: Case, tlsa_rdata: Vec<RData>, dnssec: DnssecState) -> Vec<Problem> {
        let zone = DnsName::parse("st.example").expect("zone");
        let host = case.mx_host(&zone);
        let mx = RData::MX(MX::new(
            10,
            Name::from_ascii(format!("{host}.")).expect("name"),
        ));
        let expected = Expected {
            zone: zone.clone(),
            receivers: vec![(case, IpAddr::from([192, 0, 2, 1]))],
            spki_sha256: KEY,
        };
        let lookups = Lookups {
            case,
            mx: answer(
                case.domain(&zone).as_str(),
                RecordType::MX,
                vec![mx],
                DnssecState::Secure,
            ),
            addresses: vec![answer(
                host.as_str(),
                RecordType::A,
                vec![RData::A(A::new(192, 0, 2, 1))],
                DnssecState::Secure,
            )],
            tlsa: answer(
                host.tlsa_owner(25).as_str(),
                RecordType::TLSA,
                tlsa_rdata,
                dnssec,
            ),
            sts: None,
        };
        check(&expected, &lookups)
    }

    #[test]
    fn a_correct_domain_has_no_problem_and_each_fault_is_named() {
        assert_eq!(
            published(Case::DaneValid, vec![tlsa(KEY)], DnssecState::Secure),
            vec![]
        );
        let mismatch = super::super::zone::tlsa_data(Case::DaneMismatch, &KEY).expect("data");
        assert_eq!(
            published(
                Case::DaneMismatch,
                vec![tlsa(mismatch)],
                DnssecState::Secure
            ),
            vec![]
        );
        assert_eq!(
            published(Case::NoStarttls, vec![], DnssecState::Secure),
            vec![]
        );
        // A TLSA record left from another key: the control would blame a DANE sender.
        let stale = published(Case::DaneValid, vec![tlsa([1; 32])], DnssecState::Secure);
        assert_eq!(stale.len(), 1, "{stale:?}");
        assert!(stale[0].problem.contains("receivers' key"), "{stale:?}");
        // Our own key on the mismatch domain: it would not test anything.
        let ours = published(Case::DaneMismatch, vec![tlsa(KEY)], DnssecState::Secure);
        assert!(ours[0].problem.contains("must match nothing"), "{ours:?}");
        // An unsigned TLSA answer: DANE senders ignore it.
        let unsigned = published(
            Case::StarttlsStripped,
            vec![tlsa(KEY)],
            DnssecState::Insecure,
        );
        assert_eq!(unsigned.len(), 1, "{unsigned:?}");
        assert!(unsigned[0].problem.contains("not signed"), "{unsigned:?}");
        assert!(
            unsigned[0]
                .record
                .starts_with("TLSA _25._tcp.mx-starttls-stripped.")
        );
        // TLSA where there must be none.
        let extra = published(Case::SignedNoTlsa, vec![tlsa(KEY)], DnssecState::Secure);
        assert!(extra[0].problem.contains("must not exist"), "{extra:?}");
        // The MTA-STS domains need their policy.
        let sts = published(Case::StsEnforce, vec![], DnssecState::Secure);
        assert!(sts[0].problem.contains("MTA-STS policy"), "{sts:?}");
    }

    /// The certificate MTA-STS senders need: from a root they trust, for the control's name.
    #[cfg(not(target_arch = "wasm32"))]
    #[test]
    fn the_receivers_certificate_must_serve_mta_sts() {
        use crate::evidence::{Bytes, UnixTime};
        use mxtls_world::pki::{KeyAlg, Pki};
        let zone = DnsName::parse("st.example").expect("zone");
        let pki = Pki::new().expect("pki");
        let chain = |names: &[&str]| -> Vec<Bytes> {
            let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
            pki.leaf(&names, KeyAlg::Ecdsa, false, true)
                .expect("leaf")
                .chain
                .into_iter()
                .map(Bytes)
                .collect()
        };
        let roots = crate::pkix::RootSet {
            source: "none".into(),
            anchors: Vec::new(),
        };
        let ours = [Bytes(pki.root_der.clone())];
        let now = UnixTime(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0),
        );
        let wildcard = chain(&["*.st.example"]);
        assert_eq!(certificate(&zone, &wildcard, &roots, &ours, now), vec![]);
        let untrusted = certificate(&zone, &wildcard, &roots, &[], now);
        assert!(
            untrusted[0].problem.contains("public root"),
            "{untrusted:?}"
        );
        let elsewhere = certificate(&zone, &chain(&["mx.other.example"]), &roots, &ours, now);
        assert!(
            elsewhere[0]
                .problem
                .contains("not valid for mx-sts-enforce.st.example"),
            "{elsewhere:?}"
        );
    }
}
