//! DNS wire concepts: names, record types, and decoding of the records the analysis reads.
//!
//! Record data is kept in wire form in the evidence and decoded here with hickory-proto, so the
//! core never parses presentation strings.

use std::net::IpAddr;

use hickory_proto::rr::rdata::{CNAME, MX, TLSA, TXT};
use hickory_proto::rr::{Name, RData};
use hickory_proto::serialize::binary::{BinDecoder, BinEncodable, Restrict};
use serde::{Deserialize, Serialize};

use crate::evidence::{Bytes, DnsAnswer, DnssecState, Record};

/// A domain name in canonical form: A-labels, lower case, no trailing dot. The root is `.`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DnsName(String);

impl DnsName {
    /// Parses an ASCII (A-label) name, absolute or not. Unicode must be converted before.
    pub fn parse(text: &str) -> Result<DnsName, String> {
        let name =
            Name::from_ascii(text).map_err(|e| format!("{text:?} is not a DNS name: {e}"))?;
        Ok(Self::from_hickory(&name))
    }

    pub fn from_hickory(name: &Name) -> DnsName {
        let ascii = name.to_lowercase().to_ascii();
        let trimmed = ascii.strip_suffix('.').unwrap_or(&ascii);
        DnsName(if trimmed.is_empty() {
            ".".to_owned()
        } else {
            trimmed.to_owned()
        })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_root(&self) -> bool {
        self.0 == "."
    }

    /// `_25._tcp.<self>`: where the TLSA records of an SMTP server on port 25 live.
    pub fn tlsa_owner(&self, port: u16) -> DnsName {
        DnsName(format!("_{port}._tcp.{}", self.0))
    }

    /// The labels, leftmost first.
    pub fn labels(&self) -> impl Iterator<Item = &str> {
        self.0.split('.').filter(|l| !l.is_empty())
    }
}

impl TryFrom<String> for DnsName {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        DnsName::parse(&s)
    }
}

impl From<DnsName> for String {
    fn from(n: DnsName) -> String {
        n.0
    }
}

impl std::fmt::Display for DnsName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A mail domain as a person types it → its A-label form (IDNA, UTS #46), or a one-line
/// reason. A trailing dot is accepted; IP addresses and single labels are not mail domains.
pub fn parse_user_domain(input: &str) -> Result<DnsName, String> {
    let trimmed = input.trim().trim_end_matches('.');
    if trimmed.is_empty() {
        return Err("no domain given".into());
    }
    let ascii = idna::domain_to_ascii(trimmed)
        .map_err(|_| format!("{input:?} is not a valid domain name"))?;
    parse_mail_domain_ascii(&ascii, input)
}

/// The rules of [`parse_user_domain`] after IDNA: `ascii` is the A-label form of `input`.
fn parse_mail_domain_ascii(ascii: &str, input: &str) -> Result<DnsName, String> {
    let ascii = ascii.trim_end_matches('.');
    let invalid = || format!("{input:?} is not a valid domain name");
    // Host-name syntax (letters, digits, hyphens; underscores for service labels): IDNA in
    // its lenient mode lets spaces and punctuation through.
    let syntax_ok = !ascii.is_empty()
        && ascii.split('.').all(|l| {
            !l.is_empty()
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    let name = DnsName::parse(ascii)
        .ok()
        .filter(|_| syntax_ok)
        .ok_or_else(invalid)?;
    if ascii.parse::<std::net::IpAddr>().is_ok() || !ascii.contains('.') {
        return Err(format!("{input:?} is not a mail domain"));
    }
    Ok(name)
}

/// A DNS record type, serialised by its mnemonic (`MX`, `TLSA`, `TYPE65534`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RecordType(pub hickory_proto::rr::RecordType);

impl RecordType {
    pub const A: RecordType = RecordType(hickory_proto::rr::RecordType::A);
    pub const AAAA: RecordType = RecordType(hickory_proto::rr::RecordType::AAAA);
    pub const MX: RecordType = RecordType(hickory_proto::rr::RecordType::MX);
    pub const CNAME: RecordType = RecordType(hickory_proto::rr::RecordType::CNAME);
    pub const TLSA: RecordType = RecordType(hickory_proto::rr::RecordType::TLSA);
    pub const TXT: RecordType = RecordType(hickory_proto::rr::RecordType::TXT);
}

impl TryFrom<String> for RecordType {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        if let Some(n) = s.strip_prefix("TYPE") {
            let code: u16 = n.parse().map_err(|_| format!("bad record type {s:?}"))?;
            return Ok(RecordType(code.into()));
        }
        s.parse::<hickory_proto::rr::RecordType>()
            .map(RecordType)
            .map_err(|_| format!("unknown record type {s:?}"))
    }
}

impl From<RecordType> for String {
    fn from(t: RecordType) -> String {
        t.to_string()
    }
}

impl std::fmt::Display for RecordType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            hickory_proto::rr::RecordType::Unknown(n) => write!(f, "TYPE{n}"),
            t => write!(f, "{t}"),
        }
    }
}

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

/// The CNAME target of a record, if it is one.
pub fn cname_target(record: &Record) -> Option<DnsName> {
    match decode(record) {
        Ok(RData::CNAME(CNAME(target))) => Some(DnsName::from_hickory(&target)),
        _ => None,
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
    fn names_are_canonical() {
        assert_eq!(
            DnsName::parse("MX1.Example.ORG.").unwrap().as_str(),
            "mx1.example.org"
        );
        assert_eq!(DnsName::parse(".").unwrap().as_str(), ".");
        assert!(DnsName::parse("a..b").is_err());
        assert_eq!(
            DnsName::parse("mx.example.org")
                .unwrap()
                .tlsa_owner(25)
                .as_str(),
            "_25._tcp.mx.example.org"
        );
    }

    #[test]
    fn user_domains_become_a_labels() {
        assert_eq!(
            parse_user_domain("Bücher.example.").unwrap().as_str(),
            "xn--bcher-kva.example"
        );
        assert_eq!(
            parse_user_domain("not a domain!").unwrap_err(),
            "\"not a domain!\" is not a valid domain name"
        );
        assert!(parse_user_domain("192.0.2.1").is_err());
        assert!(parse_user_domain("localhost").is_err());
        assert!(parse_user_domain("").is_err());
    }

    #[test]
    fn record_types_round_trip_by_mnemonic() {
        let t: RecordType = serde_json::from_str("\"TLSA\"").unwrap();
        assert_eq!(t, RecordType::TLSA);
        assert_eq!(serde_json::to_string(&RecordType::MX).unwrap(), "\"MX\"");
        let unknown: RecordType = serde_json::from_str("\"TYPE65534\"").unwrap();
        assert_eq!(unknown.to_string(), "TYPE65534");
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
