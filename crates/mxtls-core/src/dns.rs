//! Decoding of the DNS records the analysis reads, and the DNSSEC state of an answer.
//!
//! Record data is kept in wire form in the evidence and decoded here with hickory-proto, so the
//! core never parses presentation strings.

use std::net::IpAddr;

use hickory_proto::rr::rdata::{CNAME, MX, NS, TLSA, TXT};
use hickory_proto::rr::{Name, RData};
use hickory_proto::serialize::binary::{BinDecoder, BinEncodable};

use crate::evidence::{Bytes, DnsAnswer, DnssecState, Record};
use crate::names::{DnsName, RecordType};

/// Decodes one record's RDATA into hickory-proto's types, for the record types the analysis
/// reads (A, AAAA, MX, CNAME, TXT, TLSA; RFC 1035 §3.3, RFC 6698 §2.1). The fields are read
/// here rather than by hickory's `RData::read`, which carries a decoder for every record type
/// into the browser build (9 KB of its first load); names inside the data are hickory's.
pub fn decode(record: &Record) -> Result<RData, String> {
    use hickory_proto::rr::RecordType as T;
    use hickory_proto::rr::rdata::{A, AAAA};
    use hickory_proto::serialize::binary::BinDecodable;
    let data = record.rdata.as_ref();
    let bad = |why: &str| format!("malformed {} record data: {why}", record.rtype);
    let name = |bytes: &[u8]| -> Result<Name, String> {
        let mut decoder = BinDecoder::new(bytes);
        // Not hickory's error text: formatting it carries its Unicode name printer into the
        // browser build.
        let name = Name::read(&mut decoder).map_err(|_| bad("not a valid name"))?;
        if decoder.index() != bytes.len() {
            return Err(bad("trailing bytes"));
        }
        Ok(name)
    };
    match record.rtype.0 {
        T::A => <[u8; 4]>::try_from(data)
            .map(|b| RData::A(A(b.into())))
            .map_err(|_| bad("an address is 4 bytes")),
        T::AAAA => <[u8; 16]>::try_from(data)
            .map(|b| RData::AAAA(AAAA(b.into())))
            .map_err(|_| bad("an address is 16 bytes")),
        T::MX => {
            let (pref, exchange) = data.split_at_checked(2).ok_or_else(|| bad("cut short"))?;
            Ok(RData::MX(MX::new(
                u16::from_be_bytes([pref[0], pref[1]]),
                name(exchange)?,
            )))
        }
        T::CNAME => Ok(RData::CNAME(CNAME(name(data)?))),
        T::NS => Ok(RData::NS(NS(name(data)?))),
        T::TLSA => match data {
            [usage, selector, matching, association @ ..] => Ok(RData::TLSA(TLSA::new(
                (*usage).into(),
                (*selector).into(),
                (*matching).into(),
                association.to_vec(),
            ))),
            _ => Err(bad("cut short")),
        },
        T::TXT => {
            let mut strings = Vec::new();
            let mut rest = data;
            while let Some((&len, tail)) = rest.split_first() {
                let (s, tail) = tail
                    .split_at_checked(usize::from(len))
                    .ok_or_else(|| bad("a string is cut short"))?;
                strings.push(s);
                rest = tail;
            }
            Ok(RData::TXT(TXT::from_bytes(strings)))
        }
        other => Err(format!("{other} records are not read by the analysis")),
    }
}

/// Encodes RDATA to wire form (the inverse of [`decode`]); used to build evidence in tests
/// and by the probe.
pub fn encode(name: &DnsName, ttl: u32, rdata: &RData) -> Record {
    let bytes = rdata.to_bytes().unwrap_or_default();
    Record {
        name: name.clone(),
        rtype: RecordType(rdata.record_type()),
        ttl,
        rdata: Bytes(bytes),
    }
}

/// A decoded MX record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MxTarget {
    pub preference: u16,
    /// The exchange; `.` for a null MX.
    pub exchange: DnsName,
}

/// The MX records of an answer; records that fail to decode are returned as errors.
pub fn mx_targets(answer: &DnsAnswer) -> Vec<Result<MxTarget, String>> {
    typed(answer, |rdata| match rdata {
        RData::MX(MX {
            preference,
            exchange,
            ..
        }) => Some(MxTarget {
            preference,
            exchange: DnsName::from_hickory(&exchange),
        }),
        _ => None,
    })
}

/// The server names of an NS answer.
pub fn ns_names(answer: &DnsAnswer) -> Vec<DnsName> {
    typed(answer, |rdata| match rdata {
        RData::NS(NS(name)) => Some(DnsName::from_hickory(&name)),
        _ => None,
    })
    .into_iter()
    .flatten()
    .collect()
}

/// The addresses of an A or AAAA answer.
pub fn addresses(answer: &DnsAnswer) -> Vec<IpAddr> {
    typed(answer, |rdata| match rdata {
        RData::A(a) => Some(IpAddr::V4(a.0)),
        RData::AAAA(a) => Some(IpAddr::V6(a.0)),
        _ => None,
    })
    .into_iter()
    .flatten()
    .collect()
}

/// The TLSA records of an answer, decoded by hickory-proto.
pub fn tlsa_records(answer: &DnsAnswer) -> Vec<Result<TLSA, String>> {
    typed(answer, |rdata| match rdata {
        RData::TLSA(t) => Some(t),
        _ => None,
    })
}

/// The TXT records of an answer, each as its character-strings joined (RFC 7208 §3.3 style).
pub fn txt_strings(answer: &DnsAnswer) -> Vec<Vec<u8>> {
    typed(answer, |rdata| match rdata {
        RData::TXT(TXT { txt_data, .. }) => {
            Some(txt_data.iter().flat_map(|s| s.iter().copied()).collect())
        }
        _ => None,
    })
    .into_iter()
    .flatten()
    .collect()
}

/// The one TXT record that starts with `tag` (e.g. `v=STSv1`), as RFC 8461 and RFC 8460
/// select them: others are ignored; `Ok(None)` when none does, `Err(reason)` when several do.
pub fn tagged_txt(records: &[Vec<u8>], tag: &str) -> Result<Option<String>, String> {
    let tagged: Vec<&Vec<u8>> = records
        .iter()
        .filter(|r| r.starts_with(tag.as_bytes()))
        .collect();
    match tagged.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(String::from_utf8_lossy(one).into_owned())),
        many => Err(format!(
            "{} TXT records start with {tag}; there must be exactly one",
            many.len()
        )),
    }
}

fn typed<T>(answer: &DnsAnswer, pick: impl Fn(RData) -> Option<T>) -> Vec<Result<T, String>> {
    answer
        .records
        .iter()
        .filter(|r| r.rtype == answer.qtype)
        .filter_map(|r| match decode(r) {
            Ok(rdata) => pick(rdata).map(Ok),
            Err(e) => Some(Err(e)),
        })
        .collect()
}

/// The DNSSEC state of an answer taken as a whole: the weakest of its CNAME links and its
/// final RRset or denial.
pub fn overall_dnssec(answer: &DnsAnswer) -> DnssecState {
    answer
        .cname_chain
        .iter()
        .map(|l| &l.dnssec)
        .fold(&answer.dnssec, |acc, s| acc.weakest(s))
        .clone()
}

/// The name at the end of the answer's CNAME chain.
pub fn final_name(answer: &DnsAnswer) -> &DnsName {
    answer
        .cname_chain
        .last()
        .map(|l| &l.to)
        .unwrap_or(&answer.qname)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the analysis decodes is what hickory encoded (the probe records hickory's
    /// encoding), for every type it reads.
    #[test]
    fn decoding_inverts_hickorys_encoding() {
        use hickory_proto::rr::rdata::{A, AAAA};
        let owner = DnsName::parse("example.org").unwrap();
        let host = Name::from_ascii("mx.example.org.").unwrap();
        for rdata in [
            RData::A(A("192.0.2.1".parse().unwrap())),
            RData::AAAA(AAAA("2001:db8::1".parse().unwrap())),
            RData::MX(MX::new(10, host.clone())),
            RData::CNAME(CNAME(host)),
            RData::TXT(TXT::new(vec!["v=STSv1; id=1".into(), "more".into()])),
            RData::TLSA(TLSA::new(3.into(), 1.into(), 1.into(), vec![0xab; 32])),
        ] {
            let record = encode(&owner, 60, &rdata);
            assert_eq!(decode(&record), Ok(rdata.clone()), "{rdata:?}");
        }
    }

    #[test]
    fn truncated_tlsa_rdata_is_an_error_not_a_panic() {
        let rec = Record {
            name: DnsName::parse("_25._tcp.mx.example").unwrap(),
            rtype: RecordType::TLSA,
            ttl: 60,
            rdata: Bytes(vec![3, 1]),
        };
        assert!(decode(&rec).is_err());
    }
}
