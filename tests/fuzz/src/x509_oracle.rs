//! x509-parser as the oracle of the core's own DER reader (`mxtls_core::der`, `cert`): the
//! certificate facts as the core read them with x509-parser until the browser build shed it
//! (this is that code), against what `ParsedCert` reads now. Used by the `certificate` fuzz
//! target and by the core's `tests/x509_oracle.rs` (through `#[path]`, one copy).
//!
//! The reader is stricter than x509-parser (DER only, malformed SANs or basic constraints
//! refuse the certificate), so only certificates both parse are compared; on those, every
//! fact must be the same.

use mxtls_core::UnixTime;
use mxtls_core::cert::ParsedCert;
use mxtls_core::report::{CertFacts, KeyKind};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};
use x509_parser::public_key::PublicKey;
use x509_parser::x509::X509Name;

/// Everything `ParsedCert` tells about a certificate.
#[derive(Debug, PartialEq, Eq)]
pub struct Reading {
    pub facts: CertFacts,
    pub spki: Vec<u8>,
    pub key_kind: KeyKind,
    pub dns_names: Vec<String>,
    pub common_names: Vec<String>,
    pub not_before: UnixTime,
    pub not_after: UnixTime,
    pub subject_raw: Vec<u8>,
    pub issuer_raw: Vec<u8>,
}

/// The core's reading, if the certificate parses.
pub fn ours(der: &[u8]) -> Option<Reading> {
    let cert = ParsedCert::parse(der).ok()?;
    Some(Reading {
        facts: cert.facts(),
        spki: cert.spki().to_vec(),
        key_kind: cert.key_kind(),
        dns_names: cert.dns_names(),
        common_names: cert.common_names(),
        not_before: cert.not_before(),
        not_after: cert.not_after(),
        subject_raw: cert.subject_raw().to_vec(),
        issuer_raw: cert.issuer_raw().to_vec(),
    })
}

/// x509-parser's reading, if the certificate parses (with no trailing bytes).
pub fn oracle(der: &[u8]) -> Option<Reading> {
    let (rest, x509) = X509Certificate::from_der(der).ok()?;
    if !rest.is_empty() {
        return None;
    }
    let spki = &x509.tbs_certificate.subject_pki;
    let key_kind = match dotted(spki.algorithm.algorithm.as_bytes()).as_str() {
        "1.2.840.113549.1.1.1" | "1.2.840.113549.1.1.10" => KeyKind::Rsa,
        "1.2.840.10045.2.1" => KeyKind::Ecdsa,
        "1.3.101.112" => KeyKind::Ed25519,
        "1.3.101.113" => KeyKind::Ed448,
        _ => KeyKind::Other,
    };
    let dns_names: Vec<String> = match x509.subject_alternative_name() {
        Ok(Some(san)) => san
            .value
            .general_names
            .iter()
            .filter_map(|n| match n {
                GeneralName::DNSName(d) => Some(d.to_string()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    let common_names: Vec<String> = x509
        .subject()
        .iter_common_name()
        .filter_map(|cn| cn.as_str().ok().map(str::to_owned))
        .collect();
    let key_bits = x509
        .public_key()
        .parsed()
        .map(|k| match k {
            PublicKey::Unknown(_) => match key_kind {
                KeyKind::Ed25519 => 256,
                KeyKind::Ed448 => 456,
                _ => 0,
            },
            k => k.key_size(),
        })
        .unwrap_or(0);
    let not_before = UnixTime(x509.validity().not_before.timestamp());
    let not_after = UnixTime(x509.validity().not_after.timestamp());
    let facts = CertFacts {
        self_issued: x509.subject().as_raw() == x509.issuer().as_raw(),
        subject: name_text(x509.subject()),
        issuer: name_text(x509.issuer()),
        dns_names: dns_names.clone(),
        common_names: common_names.clone(),
        not_before,
        not_after,
        key: key_kind,
        key_bits: u32::try_from(key_bits).unwrap_or(u32::MAX),
        signature_algorithm: signature_name(&dotted(x509.signature_algorithm.algorithm.as_bytes())),
        is_ca: x509.is_ca(),
    };
    Some(Reading {
        facts,
        spki: spki.raw.to_vec(),
        key_kind,
        dns_names,
        common_names,
        not_before,
        not_after,
        subject_raw: x509.subject().as_raw().to_vec(),
        issuer_raw: x509.issuer().as_raw().to_vec(),
    })
}

/// Whether both read `der`; panics if they read it differently.
pub fn agree(der: &[u8]) -> bool {
    match (ours(der), oracle(der)) {
        (Some(ours), Some(oracle)) => {
            assert_eq!(ours, oracle, "the DER reader and x509-parser disagree");
            true
        }
        _ => false,
    }
}

/// An OID's contents in dotted form. Not x509-parser's `to_id_string`: asn1-rs 0.7 takes the
/// first two arcs from the first byte alone, so an OID whose first subidentifier takes more
/// than one byte (2.48 and up, such as 2.999) reads wrong there (`82 86 48` as 3.10.840, not
/// 2.33528).
fn dotted(content: &[u8]) -> String {
    let mut arcs: Vec<u128> = Vec::new();
    let mut value: u128 = 0;
    for &b in content {
        value = (value << 7) | u128::from(b & 0x7f);
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (value / 40).min(2);
                arcs.extend([first, value - first * 40]);
            } else {
                arcs.push(value);
            }
            value = 0;
        }
    }
    let text: Vec<String> = arcs.iter().map(u128::to_string).collect();
    text.join(".")
}

/// The core's `name_text` as it was written over x509-parser's names.
fn name_text(name: &X509Name<'_>) -> String {
    use x509_parser::der_parser::asn1_rs::Tag;
    let rdns: Vec<String> = name
        .iter()
        .map(|rdn| {
            rdn.iter()
                .map(|attr| {
                    let oid = dotted(attr.attr_type().as_bytes());
                    let key = match oid.as_str() {
                        "2.5.4.3" => "CN",
                        "2.5.4.6" => "C",
                        "2.5.4.7" => "L",
                        "2.5.4.8" => "ST",
                        "2.5.4.10" => "O",
                        "2.5.4.11" => "OU",
                        "0.9.2342.19200300.100.1.25" => "DC",
                        "1.2.840.113549.1.9.1" => "Email",
                        "2.5.4.5" => "serialNumber",
                        other => other,
                    }
                    .to_owned();
                    let value = attr.attr_value();
                    let text = match value.tag() {
                        Tag::Utf8String
                        | Tag::PrintableString
                        | Tag::Ia5String
                        | Tag::VisibleString
                        | Tag::NumericString
                        | Tag::T61String
                        | Tag::GeneralString
                        | Tag::GraphicString
                        | Tag::VideotexString
                        | Tag::ObjectDescriptor => String::from_utf8_lossy(value.data).into_owned(),
                        Tag::BmpString => {
                            let units: Vec<u16> = value
                                .data
                                .chunks(2)
                                .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))
                                .collect();
                            String::from_utf16_lossy(&units)
                        }
                        _ => value.data.iter().map(|b| format!("{b:02X}")).collect(),
                    };
                    format!("{key}={text}")
                })
                .collect::<Vec<_>>()
                .join(" + ")
        })
        .collect();
    rdns.join(", ")
}

fn signature_name(oid: &str) -> String {
    match oid {
        "1.2.840.113549.1.1.5" => "sha1WithRSAEncryption",
        "1.2.840.113549.1.1.11" => "sha256WithRSAEncryption",
        "1.2.840.113549.1.1.12" => "sha384WithRSAEncryption",
        "1.2.840.113549.1.1.13" => "sha512WithRSAEncryption",
        "1.2.840.113549.1.1.10" => "RSASSA-PSS",
        "1.2.840.10045.4.3.2" => "ecdsa-with-SHA256",
        "1.2.840.10045.4.3.3" => "ecdsa-with-SHA384",
        "1.2.840.10045.4.3.4" => "ecdsa-with-SHA512",
        "1.3.101.112" => "Ed25519",
        "1.3.101.113" => "Ed448",
        other => return other.to_owned(),
    }
    .to_owned()
}
