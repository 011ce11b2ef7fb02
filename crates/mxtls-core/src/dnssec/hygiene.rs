//! DNSSEC hygiene along the path: the algorithms each zone is signed with, the digests of the
//! DS records that delegate to it, and the NSEC3 parameters of its denials. Each can be valid
//! to one validator and not to another: a zone signed with RSASHA1 validates on Debian and is
//! insecure on Red Hat Enterprise Linux 9, whose crypto policy refuses SHA-1 — and DANE then
//! silently stops protecting mail from every sender there. These rules read only what the
//! probe recorded (`Evidence::dnssec_chain` and the answers' wire), never a clock.

use super::{Dnskey, Ds, dnskey, ds, message_records};
use crate::evidence::{DnsAnswer, DnsOutcome};
use crate::names::{DnsName, RecordType};

/// How validators in the field treat a DNSSEC signing algorithm (RFC 8624, RFC 9905).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Standing {
    /// Validated everywhere.
    Current,
    /// RSASHA1 (5) and RSASHA1-NSEC3-SHA1 (7): deprecated for signing; refused by
    /// validators whose system crypto policy forbids SHA-1 signatures (RHEL 9 and its
    /// derivatives), which then treat the zone as insecure.
    Sha1,
    /// RSAMD5 (1), DSA (3), DSA-NSEC3-SHA1 (6), ECC-GOST (12): validated nowhere that
    /// matters; every validator treats the zone as unsigned.
    Broken,
}

/// The standing of DNSSEC algorithm `algorithm`. Unknown numbers count as current: a
/// validator that does not know one treats the zone as insecure, but no widely deployed
/// algorithm is among them.
pub fn standing(algorithm: u8) -> Standing {
    match algorithm {
        5 | 7 => Standing::Sha1,
        1 | 3 | 6 | 12 => Standing::Broken,
        _ => Standing::Current,
    }
}

/// The mnemonic of a DNSSEC algorithm (IANA registry), or its number.
pub fn algorithm_name(algorithm: u8) -> String {
    match algorithm {
        1 => "RSAMD5".into(),
        3 => "DSA".into(),
        5 => "RSASHA1".into(),
        6 => "DSA-NSEC3-SHA1".into(),
        7 => "RSASHA1-NSEC3-SHA1".into(),
        8 => "RSASHA256".into(),
        10 => "RSASHA512".into(),
        12 => "ECC-GOST".into(),
        13 => "ECDSAP256SHA256".into(),
        14 => "ECDSAP384SHA384".into(),
        15 => "ED25519".into(),
        16 => "ED448".into(),
        n => format!("algorithm {n}"),
    }
}

/// The name of a DS digest type (IANA registry), or its number.
pub fn digest_name(digest_type: u8) -> String {
    match digest_type {
        1 => "SHA-1".into(),
        2 => "SHA-256".into(),
        3 => "GOST R 34.11-94".into(),
        4 => "SHA-384".into(),
        n => format!("digest type {n}"),
    }
}

/// How one zone on the path is signed and delegated, as the chain shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneSigning {
    pub zone: DnsName,
    /// The algorithms validators may use: those of the parent's DS records, or, for the
    /// root (no DS), of its keys.
    pub algorithms: Vec<u8>,
    /// The digest types of the parent's DS records (empty for the root).
    pub digests: Vec<u8>,
    pub ds: Vec<Ds>,
    pub keys: Vec<Dnskey>,
}

/// The signed zones of `chain` (the DNSKEY and DS answers of `Evidence::dnssec_chain`), in
/// the chain's order. A zone without keys in the chain, or whose parent proves it has no
/// DS (an insecure delegation), is left out: it is not signed for validators.
pub fn zones(chain: &[DnsAnswer]) -> Vec<ZoneSigning> {
    let mut out: Vec<ZoneSigning> = Vec::new();
    for key_answer in chain.iter().filter(|a| a.qtype == RecordType::DNSKEY) {
        let zone = &key_answer.qname;
        if out.iter().any(|z| &z.zone == zone) {
            continue;
        }
        let keys: Vec<Dnskey> = key_answer
            .records
            .iter()
            .filter(|r| r.rtype == RecordType::DNSKEY)
            .filter_map(|r| dnskey(&r.rdata.0))
            .collect();
        if keys.is_empty() {
            continue;
        }
        let ds: Vec<Ds> = chain
            .iter()
            .filter(|a| a.qtype == RecordType::DS && &a.qname == zone)
            .flat_map(|a| a.records.iter())
            .filter(|r| r.rtype == RecordType::DS)
            .filter_map(|r| ds(&r.rdata.0))
            .collect();
        let mut algorithms: Vec<u8> = if zone.is_root() {
            keys.iter().map(|k| k.algorithm).collect()
        } else if ds.is_empty() {
            continue;
        } else {
            ds.iter().map(|d| d.algorithm).collect()
        };
        algorithms.sort_unstable();
        algorithms.dedup();
        let mut digests: Vec<u8> = ds.iter().map(|d| d.digest_type).collect();
        digests.sort_unstable();
        digests.dedup();
        out.push(ZoneSigning {
            zone: zone.clone(),
            digests,
            algorithms,
            ds,
            keys,
        });
    }
    out
}

impl ZoneSigning {
    /// The worst standing a validator may meet here: a zone is only as usable as the best
    /// algorithm its DS set offers (RFC 6840 §5.11: a validator uses any it supports).
    pub fn standing(&self) -> Standing {
        self.algorithms
            .iter()
            .map(|a| standing(*a))
            .min()
            .unwrap_or(Standing::Current)
    }

    /// Whether every DS record uses SHA-1: validators that refuse SHA-1 cannot follow the
    /// delegation, and the zone is insecure to them.
    pub fn sha1_digests_only(&self) -> bool {
        !self.digests.is_empty() && self.digests.iter().all(|d| *d == 1)
    }

    /// The keys the DS records name, for the SHA-256 DS records to publish beside them.
    pub fn delegated_keys(&self) -> Vec<&Dnskey> {
        let mut keys: Vec<&Dnskey> = self
            .keys
            .iter()
            .filter(|k| {
                self.ds
                    .iter()
                    .any(|d| d.key_tag == k.key_tag && d.algorithm == k.algorithm)
            })
            .collect();
        keys.dedup_by_key(|k| k.key_tag);
        keys
    }
}

/// The NSEC3 parameters of one zone's denials (RFC 5155 §3.2), as its answers showed them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nsec3Denials {
    pub zone: DnsName,
    /// The most iterations seen.
    pub iterations: u16,
    pub salted: bool,
    /// The answers (name and type) whose denial rests on an opt-out span.
    pub opt_out: Vec<(DnsName, RecordType)>,
}

/// One NSEC3 RDATA's hash algorithm, flags, iterations and salt length.
fn nsec3(rdata: &[u8]) -> Option<(u8, u8, u16, u8)> {
    let [alg, flags, hi, lo, salt_len, ..] = *rdata else {
        return None;
    };
    Some((alg, flags, u16::from_be_bytes([hi, lo]), salt_len))
}

/// The NSEC3 parameters of every zone whose denials appear in `answers` (the wire of each
/// NODATA and NXDOMAIN answer carries its proof), in the order first seen.
pub fn nsec3_denials<'a>(answers: impl IntoIterator<Item = &'a DnsAnswer>) -> Vec<Nsec3Denials> {
    let mut out: Vec<Nsec3Denials> = Vec::new();
    for answer in answers {
        if !matches!(answer.outcome, DnsOutcome::NoData | DnsOutcome::NxDomain) {
            continue;
        }
        let Some(wire) = &answer.wire else { continue };
        for record in message_records(&wire.0)
            .into_iter()
            .filter(|r| r.rtype == RecordType::NSEC3)
        {
            let (Some((_, flags, iterations, salt_len)), Some(zone)) =
                (nsec3(&record.rdata.0), record.name.parent())
            else {
                continue;
            };
            let at = match out.iter().position(|d| d.zone == zone) {
                Some(i) => i,
                None => {
                    out.push(Nsec3Denials {
                        zone,
                        iterations: 0,
                        salted: false,
                        opt_out: Vec::new(),
                    });
                    out.len() - 1
                }
            };
            let d = &mut out[at];
            d.iterations = d.iterations.max(iterations);
            d.salted |= salt_len > 0;
            let asked = (answer.qname.clone(), answer.qtype);
            if flags & 1 != 0 && !d.opt_out.contains(&asked) {
                d.opt_out.push(asked);
            }
        }
    }
    out
}

/// Iterations above which BIND, Unbound and Knot Resolver treat NSEC3 denials as insecure
/// (RFC 9276 §3.2 leaves the limit to them; 150 is what they ship).
pub const VALIDATOR_ITERATION_LIMIT: u16 = 150;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::{Bytes, DnssecState, Record};

    fn answer(qname: &str, qtype: RecordType, records: Vec<(RecordType, Vec<u8>)>) -> DnsAnswer {
        let name = DnsName::parse(qname).expect("a name");
        DnsAnswer {
            qname: name.clone(),
            qtype,
            outcome: DnsOutcome::Data,
            rcode: Some(0),
            records: records
                .into_iter()
                .map(|(rtype, rdata)| Record {
                    name: name.clone(),
                    rtype,
                    ttl: 300,
                    rdata: Bytes(rdata),
                })
                .collect(),
            cname_chain: Vec::new(),
            dnssec: DnssecState::Secure,
            validation_failed: false,
            wire: None,
            elapsed_ms: None,
        }
    }

    fn key(algorithm: u8, flags: u16) -> Vec<u8> {
        let mut rdata = flags.to_be_bytes().to_vec();
        rdata.extend([3, algorithm, 1, 2, 3, 4, 5, 6, 7, 8]);
        rdata
    }

    fn ds_for(key_rdata: &[u8], digest_type: u8) -> Vec<u8> {
        let k = dnskey(key_rdata).expect("a key");
        let mut rdata = k.key_tag.to_be_bytes().to_vec();
        rdata.extend([k.algorithm, digest_type]);
        rdata.extend([0xab; 20]);
        rdata
    }

    #[test]
    fn a_zone_is_as_usable_as_the_best_algorithm_its_ds_set_offers() {
        let sha1 = key(7, 257);
        let modern = key(13, 257);
        let chain = vec![
            answer(
                "old.example",
                RecordType::DNSKEY,
                vec![(RecordType::DNSKEY, sha1.clone())],
            ),
            answer(
                "old.example",
                RecordType::DS,
                vec![(RecordType::DS, ds_for(&sha1, 1))],
            ),
            answer(
                "rolling.example",
                RecordType::DNSKEY,
                vec![
                    (RecordType::DNSKEY, sha1.clone()),
                    (RecordType::DNSKEY, modern.clone()),
                ],
            ),
            answer(
                "rolling.example",
                RecordType::DS,
                vec![
                    (RecordType::DS, ds_for(&sha1, 2)),
                    (RecordType::DS, ds_for(&modern, 2)),
                ],
            ),
            answer(
                "unsigned.example",
                RecordType::DNSKEY,
                vec![(RecordType::DNSKEY, modern.clone())],
            ),
            answer(
                ".",
                RecordType::DNSKEY,
                vec![(RecordType::DNSKEY, key(8, 257))],
            ),
        ];
        let zones = zones(&chain);
        let names: Vec<&str> = zones.iter().map(|z| z.zone.as_str()).collect();
        assert_eq!(names, ["old.example", "rolling.example", "."]);
        assert_eq!(zones[0].standing(), Standing::Sha1);
        assert!(zones[0].sha1_digests_only());
        assert_eq!(zones[0].delegated_keys().len(), 1);
        assert_eq!(zones[1].standing(), Standing::Current, "mid-rollover");
        assert!(!zones[1].sha1_digests_only());
        assert_eq!(zones[2].standing(), Standing::Current);
        assert!(!zones[2].sha1_digests_only(), "the root has no DS");
        assert_eq!(standing(1), Standing::Broken);
        assert_eq!(standing(12), Standing::Broken);
        assert_eq!(algorithm_name(7), "RSASHA1-NSEC3-SHA1");
    }

    #[test]
    fn nsec3_parameters_are_read_from_the_denials_wire() {
        // A response with one NSEC3 in the authority section: SHA-1, opt-out, 200
        // iterations, a two-byte salt.
        let mut wire = vec![0, 1, 0x84, 0, 0, 0, 0, 0, 0, 1, 0, 0];
        for label in ["0p9mhaveqvm6t7vbl5lop2u3t2rp3tom", "example", "org"] {
            wire.push(label.len() as u8);
            wire.extend(label.as_bytes());
        }
        wire.push(0);
        let rdata: Vec<u8> = [&[1, 1, 0, 200, 2, 0xaa, 0xbb, 20][..], &[0; 20]].concat();
        wire.extend([0, 50, 0, 1, 0, 0, 1, 44]);
        wire.extend((rdata.len() as u16).to_be_bytes());
        wire.extend(rdata);
        let mut a = answer("_25._tcp.mx.example.org", RecordType::TLSA, Vec::new());
        a.outcome = DnsOutcome::NoData;
        a.wire = Some(Bytes(wire));
        let mut data = a.clone();
        data.outcome = DnsOutcome::Data;
        let denials = nsec3_denials([&a, &data]);
        assert_eq!(denials.len(), 1, "{denials:?}");
        assert_eq!(denials[0].zone.as_str(), "example.org");
        assert_eq!(denials[0].iterations, 200);
        assert!(denials[0].salted);
        assert_eq!(
            denials[0].opt_out,
            [(a.qname.clone(), RecordType::TLSA)],
            "the opt-out span, once"
        );
        assert_eq!(nsec3(&[1, 0, 0]), None, "short RDATA is none, not a panic");
    }
}
