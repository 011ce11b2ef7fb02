//! Why an answer fails DNSSEC validation, from what the probe recorded: the RRSIGs in the
//! answer's wire message and the DNSKEY and DS RRsets of the zone that signed it. The
//! validator only says "bogus"; a domain owner needs to know whether a signature ran out,
//! the parent's DS names a key the zone no longer has, or the data was changed after
//! signing — each has a different fix.
//!
//! RRSIG, DNSKEY and DS data are read from their wire form here (RFC 4034 §2, §3, §5), so the
//! analysis needs no DNSSEC crypto (the browser build stays small); the validation itself is
//! the probe's, in hickory.

pub mod hygiene;

use sha2::{Digest, Sha256, Sha384};

use crate::evidence::{DnsAnswer, Record, UnixTime};
use crate::names::{DnsName, RecordType};

/// An RRSIG record's fields (RFC 4034 §3.1), the signature itself left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rrsig {
    pub type_covered: RecordType,
    pub algorithm: u8,
    pub expiration: UnixTime,
    pub inception: UnixTime,
    pub key_tag: u16,
    pub signer: DnsName,
}

/// A DNSKEY record (RFC 4034 §2.1) with its key tag (Appendix B).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dnskey {
    pub flags: u16,
    pub algorithm: u8,
    pub key_tag: u16,
    /// The whole RDATA, for DS digests.
    pub rdata: Vec<u8>,
}

impl Dnskey {
    /// A key-signing key (the SEP flag): the one a DS at the parent names.
    pub fn is_ksk(&self) -> bool {
        self.flags & 0x0001 != 0
    }
}

/// A DS record (RFC 4034 §5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ds {
    pub key_tag: u16,
    pub algorithm: u8,
    pub digest_type: u8,
    pub digest: Vec<u8>,
}

/// A 32-bit DNSSEC time read in serial-number arithmetic (RFC 4034 §3.1.5): the instant
/// nearest to `near` that these low 32 bits name.
fn serial_time(t: u32, near: UnixTime) -> UnixTime {
    let base = near.0 - (near.0.rem_euclid(1 << 32));
    [base - (1 << 32), base, base + (1 << 32)]
        .into_iter()
        .map(|b| b + i64::from(t))
        .min_by_key(|c| (c - near.0).abs())
        .map(UnixTime)
        .unwrap_or(UnixTime(i64::from(t)))
}

/// A domain name in uncompressed wire form at the start of `data`; returns it and the rest.
fn wire_name(data: &[u8]) -> Option<(DnsName, &[u8])> {
    let mut labels = Vec::new();
    let mut rest = data;
    loop {
        let (&len, tail) = rest.split_first()?;
        if len == 0 {
            rest = tail;
            break;
        }
        if len & 0xc0 != 0 || tail.len() < usize::from(len) || labels.len() > 127 {
            return None;
        }
        let (label, tail) = tail.split_at(usize::from(len));
        labels.push(String::from_utf8_lossy(label).into_owned());
        rest = tail;
    }
    let name = if labels.is_empty() {
        DnsName::parse(".").ok()?
    } else {
        DnsName::parse(&labels.join(".")).ok()?
    };
    Some((name, rest))
}

/// Reads an RRSIG's RDATA, its times interpreted near `near`.
pub fn rrsig(rdata: &[u8], near: UnixTime) -> Option<Rrsig> {
    if rdata.len() < 18 {
        return None;
    }
    let u32_at =
        |i: usize| u32::from_be_bytes([rdata[i], rdata[i + 1], rdata[i + 2], rdata[i + 3]]);
    let (signer, _) = wire_name(&rdata[18..])?;
    Some(Rrsig {
        type_covered: RecordType(u16::from_be_bytes([rdata[0], rdata[1]]).into()),
        algorithm: rdata[2],
        expiration: serial_time(u32_at(8), near),
        inception: serial_time(u32_at(12), near),
        key_tag: u16::from_be_bytes([rdata[16], rdata[17]]),
        signer,
    })
}

/// Reads a DNSKEY's RDATA.
pub fn dnskey(rdata: &[u8]) -> Option<Dnskey> {
    if rdata.len() < 4 {
        return None;
    }
    Some(Dnskey {
        flags: u16::from_be_bytes([rdata[0], rdata[1]]),
        algorithm: rdata[3],
        key_tag: key_tag(rdata),
        rdata: rdata.to_vec(),
    })
}

/// The key tag of a DNSKEY RDATA (RFC 4034 Appendix B).
pub fn key_tag(rdata: &[u8]) -> u16 {
    let mut acc: u32 = 0;
    for (i, b) in rdata.iter().enumerate() {
        acc += if i % 2 == 0 {
            u32::from(*b) << 8
        } else {
            u32::from(*b)
        };
    }
    acc += (acc >> 16) & 0xffff;
    (acc & 0xffff) as u16
}

/// Reads a DS's RDATA.
pub fn ds(rdata: &[u8]) -> Option<Ds> {
    if rdata.len() < 5 {
        return None;
    }
    Some(Ds {
        key_tag: u16::from_be_bytes([rdata[0], rdata[1]]),
        algorithm: rdata[2],
        digest_type: rdata[3],
        digest: rdata[4..].to_vec(),
    })
}

/// The canonical wire form of a name (lower case, uncompressed).
fn canonical_wire(name: &DnsName) -> Vec<u8> {
    let mut out = Vec::new();
    for label in name.labels() {
        out.push(label.len() as u8);
        out.extend(label.to_ascii_lowercase().as_bytes());
    }
    out.push(0);
    out
}

/// The DS digest of `key` owned by `zone` (RFC 4034 §5.1.4): SHA-256 (type 2) or SHA-384
/// (type 4); `None` for a digest type this code does not compute (SHA-1).
pub fn ds_digest(zone: &DnsName, key: &Dnskey, digest_type: u8) -> Option<Vec<u8>> {
    let mut data = canonical_wire(zone);
    data.extend(&key.rdata);
    match digest_type {
        2 => Some(Sha256::digest(&data).to_vec()),
        4 => Some(Sha384::digest(&data).to_vec()),
        _ => None,
    }
}

/// Whether `ds` names `key` of `zone`. A digest type this code cannot compute counts as a
/// match when the key tag and algorithm agree (it cannot be told apart).
pub fn ds_matches(ds: &Ds, zone: &DnsName, key: &Dnskey) -> bool {
    ds.key_tag == key.key_tag
        && ds.algorithm == key.algorithm
        && ds_digest(zone, key, ds.digest_type).is_none_or(|d| d == ds.digest)
}

/// The DS record to publish at the parent for a key of `zone`, in zone-file syntax.
pub fn ds_record(zone: &DnsName, key: &Dnskey) -> String {
    let digest = ds_digest(zone, key, 2).unwrap_or_default();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{zone}. IN DS {} {} 2 {hex}", key.key_tag, key.algorithm)
}

/// A name at `pos` of a wire message, compression pointers followed (a bounded number of
/// times); returns it and the position after it.
fn message_name(msg: &[u8], mut pos: usize) -> Option<(DnsName, usize)> {
    let mut labels: Vec<String> = Vec::new();
    let mut after = None;
    for _ in 0..64 {
        let len = *msg.get(pos)?;
        match len {
            0 => {
                let name = if labels.is_empty() {
                    DnsName::parse(".").ok()?
                } else {
                    DnsName::parse(&labels.join(".")).ok()?
                };
                return Some((name, after.unwrap_or(pos + 1)));
            }
            l if l & 0xc0 == 0xc0 => {
                let target = usize::from(u16::from_be_bytes([l & 0x3f, *msg.get(pos + 1)?]));
                after.get_or_insert(pos + 2);
                pos = target;
            }
            l if l & 0xc0 == 0 => {
                let label = msg.get(pos + 1..pos + 1 + usize::from(l))?;
                labels.push(String::from_utf8_lossy(label).into_owned());
                pos += 1 + usize::from(l);
            }
            _ => return None,
        }
    }
    None
}

/// Every record of a wire message's answer and authority sections, RDATA as received — names
/// inside it may be compression pointers into the message, so only RDATA without them is
/// read from here (RRSIG: its signer name is never compressed, RFC 4034 §3.1.7). A small
/// reader of its own (RFC 1035 §4.1): the browser build need not carry a whole DNS message
/// parser for it.
pub fn message_records(wire: &[u8]) -> Vec<Record> {
    let count = |at: usize| -> usize {
        wire.get(at..at + 2)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
            .unwrap_or(0)
    };
    if wire.len() < 12 {
        return Vec::new();
    }
    let (questions, records) = (count(4), count(6) + count(8));
    let mut pos = 12;
    for _ in 0..questions {
        let Some((_, next)) = message_name(wire, pos) else {
            return Vec::new();
        };
        pos = next + 4;
    }
    let mut out = Vec::new();
    for _ in 0..records.min(1000) {
        let Some((name, next)) = message_name(wire, pos) else {
            break;
        };
        let Some(fixed) = wire.get(next..next + 10) else {
            break;
        };
        let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
        let ttl = u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]);
        let len = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
        let Some(rdata) = wire.get(next + 10..next + 10 + len) else {
            break;
        };
        out.push(Record {
            name,
            rtype: RecordType(rtype.into()),
            ttl,
            rdata: crate::evidence::Bytes(rdata.to_vec()),
        });
        pos = next + 10 + len;
    }
    out
}

/// The RRSIGs of an answer's message that cover its final RRset (or, for a denial, the
/// records that prove it).
pub fn signatures(answer: &DnsAnswer, near: UnixTime) -> Vec<Rrsig> {
    let Some(wire) = &answer.wire else {
        return Vec::new();
    };
    let owner = crate::dns::final_name(answer);
    message_records(wire.as_ref())
        .iter()
        .filter(|r| r.rtype == RecordType::RRSIG)
        .filter_map(|r| rrsig(r.rdata.as_ref(), near).map(|s| (r, s)))
        .filter(|(r, s)| {
            if answer.records.is_empty() {
                true
            } else {
                &r.name == owner && s.type_covered == answer.qtype
            }
        })
        .map(|(_, s)| s)
        .collect()
}

/// Why an answer fails validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The parent's DS names no key the zone publishes: nothing in the zone can validate.
    DsMismatch {
        zone: DnsName,
        ds_tags: Vec<u16>,
        key_tags: Vec<u16>,
        /// The DS records that would match the zone's key-signing keys.
        fix: Vec<String>,
    },
    /// Every signature over the data has expired.
    Expired { signer: DnsName, at: UnixTime },
    /// The signatures are not valid yet (the signer's clock runs ahead).
    NotYetValid { signer: DnsName, from: UnixTime },
    /// Signed by a key the zone does not publish.
    UnknownKey { signer: DnsName, key_tag: u16 },
    /// No signature over data of a signed zone.
    NoSignature,
    /// A signature in its validity period, by a published key, that does not verify: the
    /// data (or the signature) was changed after signing.
    BadSignature { signer: DnsName, key_tag: u16 },
    /// The records at hand do not show why.
    Unknown,
}

/// The DNSKEY and DS answers of `zone` among `chain`.
fn zone_keys<'a>(
    chain: &'a [DnsAnswer],
    zone: &DnsName,
) -> (Option<&'a DnsAnswer>, Option<&'a DnsAnswer>) {
    let find = |t: RecordType| chain.iter().find(|a| &a.qname == zone && a.qtype == t);
    (find(RecordType::DNSKEY), find(RecordType::DS))
}

/// Why `answer` fails validation at time `at`, given the DNSKEY and DS answers the probe
/// fetched (`chain`).
pub fn diagnose(answer: &DnsAnswer, chain: &[DnsAnswer], at: UnixTime) -> Failure {
    let sigs = signatures(answer, at);
    let zone = sigs.first().map(|s| s.signer.clone());
    if let Some(zone) = &zone {
        let (keys, dss) = zone_keys(chain, zone);
        let keys: Vec<Dnskey> = keys
            .map(|a| {
                a.records
                    .iter()
                    .filter_map(|r| dnskey(r.rdata.as_ref()))
                    .collect()
            })
            .unwrap_or_default();
        let dss: Vec<Ds> = dss
            .map(|a| {
                a.records
                    .iter()
                    .filter_map(|r| ds(r.rdata.as_ref()))
                    .collect()
            })
            .unwrap_or_default();
        if !keys.is_empty()
            && !dss.is_empty()
            && !dss
                .iter()
                .any(|d| keys.iter().any(|k| ds_matches(d, zone, k)))
        {
            return Failure::DsMismatch {
                zone: zone.clone(),
                ds_tags: dss.iter().map(|d| d.key_tag).collect(),
                key_tags: keys.iter().map(|k| k.key_tag).collect(),
                fix: keys
                    .iter()
                    .filter(|k| k.is_ksk())
                    .map(|k| ds_record(zone, k))
                    .collect(),
            };
        }
        if sigs.iter().all(|s| s.expiration < at) {
            let latest = sigs.iter().max_by_key(|s| s.expiration);
            return Failure::Expired {
                signer: zone.clone(),
                at: latest.map(|s| s.expiration).unwrap_or(at),
            };
        }
        if sigs.iter().all(|s| s.inception > at) {
            return Failure::NotYetValid {
                signer: zone.clone(),
                from: sigs.iter().map(|s| s.inception).min().unwrap_or(at),
            };
        }
        let valid: Vec<&Rrsig> = sigs
            .iter()
            .filter(|s| s.inception <= at && at <= s.expiration)
            .collect();
        if !keys.is_empty()
            && let Some(s) = valid
                .iter()
                .find(|s| !keys.iter().any(|k| k.key_tag == s.key_tag))
            && valid.len() == 1
        {
            return Failure::UnknownKey {
                signer: s.signer.clone(),
                key_tag: s.key_tag,
            };
        }
        if let Some(s) = valid.first() {
            return Failure::BadSignature {
                signer: s.signer.clone(),
                key_tag: s.key_tag,
            };
        }
        return Failure::Unknown;
    }
    if answer.wire.is_some() && !answer.records.is_empty() {
        return Failure::NoSignature;
    }
    Failure::Unknown
}

/// The zones whose keys explain why these answers fail: the signers of their RRSIGs.
pub fn signer_zones<'a>(
    answers: impl IntoIterator<Item = &'a DnsAnswer>,
    at: UnixTime,
) -> Vec<DnsName> {
    let mut zones: Vec<DnsName> = Vec::new();
    for a in answers {
        for s in signatures(a, at) {
            if !zones.contains(&s.signer) {
                zones.push(s.signer);
            }
        }
    }
    zones
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4034 Appendix B's example DNSKEY (example.com, key tag 60485).
    fn example_key() -> Vec<u8> {
        use base64::Engine;
        let key = base64::engine::general_purpose::STANDARD
            .decode(
                "AQOeiiR0GOMYkDshWoSKz9XzfwJr1AYtsmx3TGkJaNXVbfi/2pHm822aJ5iI9BMzNXxeYCmZDRD99WYwYqUSdjMmmAphXdvxegXd/M5+X7OrzKBaMbCVdFLUUh6DhweJBjEVv5f2wwjM9XzcnOf+EPbtG9DMBmADjFDc2w/rljwvFw==",
            )
            .unwrap();
        let mut rdata = vec![0x01, 0x00, 3, 5]; // flags 256, protocol 3, algorithm 5
        rdata.extend(key);
        rdata
    }

    #[test]
    fn key_tags_follow_rfc_4034_appendix_b() {
        assert_eq!(key_tag(&example_key()), 60485);
    }

    #[test]
    fn serial_times_are_read_near_the_judgement() {
        let near = UnixTime(1_795_824_000); // 2026-11-28
        assert_eq!(serial_time(1_795_000_000, near), UnixTime(1_795_000_000));
        // After 2106 the 32 bits wrap; read near such a time, a small value is the future.
        let late = UnixTime((1 << 32) + 100);
        assert_eq!(serial_time(200, late), UnixTime((1 << 32) + 200));
    }

    #[test]
    fn hostile_rdata_is_none_not_a_panic() {
        assert_eq!(rrsig(&[0; 17], UnixTime(0)), None);
        assert_eq!(rrsig(&[0; 18], UnixTime(0)), None, "no signer name");
        let mut looping = vec![0; 18];
        looping.extend([0xc0, 0x00]); // a compression pointer is not allowed here
        assert_eq!(rrsig(&looping, UnixTime(0)), None);
        assert_eq!(dnskey(&[1, 2]), None);
        assert_eq!(ds(&[1, 2, 3, 4]), None);
        assert!(message_records(b"not a dns message").is_empty());
        // A pointer loop ends, it does not spin.
        let mut looped = vec![0u8; 12];
        looped[5] = 1; // one question
        looped.extend([0xc0, 12]);
        assert!(message_records(&looped).is_empty());
    }

    /// The reader agrees with hickory's on a real message (a compressed answer and its RRSIG).
    #[test]
    fn the_message_reader_agrees_with_hickory() {
        use hickory_proto::op::{Message, MessageType, OpCode, Query};
        use hickory_proto::rr::rdata::MX;
        use hickory_proto::rr::{Name, RData, Record as HRecord};
        use hickory_proto::serialize::binary::BinEncodable;
        let owner = Name::from_ascii("example.org.").unwrap();
        let mut m = Message::new(7, MessageType::Response, OpCode::Query);
        m.add_query(Query::query(
            owner.clone(),
            hickory_proto::rr::RecordType::MX,
        ));
        m.add_answer(HRecord::from_rdata(
            owner.clone(),
            300,
            RData::MX(MX::new(10, Name::from_ascii("mx.example.org.").unwrap())),
        ));
        let wire = m.to_bytes().unwrap();
        let records = message_records(&wire);
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].name.as_str(), "example.org");
        assert_eq!(records[0].rtype, RecordType::MX);
        assert_eq!(records[0].ttl, 300);
        // The RDATA as sent: the preference, then the exchange (here compressed).
        assert_eq!(&records[0].rdata.0[..2], &[0, 10]);
    }

    #[test]
    fn a_ds_matches_its_key_and_no_other() {
        let zone = DnsName::parse("example.com").unwrap();
        let key = dnskey(&example_key()).unwrap();
        let digest = ds_digest(&zone, &key, 2).unwrap();
        let good = Ds {
            key_tag: key.key_tag,
            algorithm: key.algorithm,
            digest_type: 2,
            digest: digest.clone(),
        };
        assert!(ds_matches(&good, &zone, &key));
        let other_zone = DnsName::parse("example.org").unwrap();
        assert!(!ds_matches(&good, &other_zone, &key));
        let mut wrong = good.clone();
        wrong.digest[0] ^= 1;
        assert!(!ds_matches(&wrong, &zone, &key));
    }
}
