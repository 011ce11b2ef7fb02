//! Decoding of the DNS records the analysis reads, and the DNSSEC state of an answer.
//!
//! Record data is kept in wire form in the evidence and decoded here with hickory-proto, so the
//! core never parses presentation strings.

use std::net::IpAddr;

use hickory_proto::rr::RData;
use hickory_proto::rr::rdata::{MX, TLSA, TXT};
use hickory_proto::serialize::binary::{BinDecoder, BinEncodable, Restrict};

use crate::evidence::{Bytes, DnsAnswer, DnssecState, Record};
use crate::names::{DnsName, RecordType};

/// Decodes one record's RDATA with hickory-proto.
pub fn decode(record: &Record) -> Result<RData, String> {
    let data = record.rdata.as_ref();
    let len =
        u16::try_from(data.len()).map_err(|_| "record data longer than 65535 bytes".to_owned())?;
    let mut decoder = BinDecoder::new(data);
    let rdata = RData::read(&mut decoder, record.rtype.0, Restrict::new(len))
        .map_err(|e| format!("malformed {} record data: {e}", record.rtype))?;
    if decoder.index() != data.len() {
        return Err(format!(
            "malformed {} record data: trailing bytes",
            record.rtype
        ));
    }
    Ok(rdata)
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
