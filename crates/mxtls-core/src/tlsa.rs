//! TLSA records (RFC 6698) as SMTP uses them (RFC 7672 §3.1): which are usable, what they
//! match, and how to write the record that would match a given certificate.

use hickory_proto::rr::rdata::TLSA;
use hickory_proto::rr::rdata::tlsa::{CertUsage, Matching, Selector};
use sha2::{Digest, Sha256, Sha512};

use crate::cert::ParsedCert;
use crate::names::DnsName;

/// Why a TLSA record cannot be used by an SMTP client (RFC 7672 §3.1.3); unusable records are
/// ignored by senders, as if absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unusable {
    /// PKIX-TA(0) and PKIX-EE(1) are not used by SMTP (RFC 7672 §3.1.3).
    PkixUsage(u8),
    UnknownUsage(u8),
    UnknownSelector(u8),
    UnknownMatchingType(u8),
    /// The association data has the wrong length for its matching type, or a full
    /// certificate or key that does not parse.
    Malformed(String),
}

impl std::fmt::Display for Unusable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unusable::PkixUsage(u) => write!(
                f,
                "usage {u} ({}) is not used for SMTP: MTAs have no PKIX trust store to apply it to",
                if *u == 0 { "PKIX-TA" } else { "PKIX-EE" }
            ),
            Unusable::UnknownUsage(u) => write!(f, "usage {u} is not defined"),
            Unusable::UnknownSelector(s) => write!(f, "selector {s} is not defined"),
            Unusable::UnknownMatchingType(m) => write!(f, "matching type {m} is not defined"),
            Unusable::Malformed(why) => write!(f, "malformed: {why}"),
        }
    }
}

/// Whether a record can be used for SMTP, and if not, why.
pub fn classify(record: &TLSA) -> Result<(), Unusable> {
    match record.cert_usage {
        CertUsage::DaneTa | CertUsage::DaneEe => {}
        CertUsage::PkixTa | CertUsage::PkixEe => {
            return Err(Unusable::PkixUsage(u8::from(record.cert_usage)));
        }
        other => return Err(Unusable::UnknownUsage(u8::from(other))),
    }
    if !matches!(record.selector, Selector::Full | Selector::Spki) {
        return Err(Unusable::UnknownSelector(u8::from(record.selector)));
    }
    let data = &record.cert_data;
    match record.matching {
        Matching::Sha256 if data.len() != 32 => Err(Unusable::Malformed(format!(
            "a SHA-256 digest is 32 bytes, this one is {}",
            data.len()
        ))),
        Matching::Sha512 if data.len() != 64 => Err(Unusable::Malformed(format!(
            "a SHA-512 digest is 64 bytes, this one is {}",
            data.len()
        ))),
        Matching::Sha256 | Matching::Sha512 => Ok(()),
        Matching::Raw => match record.selector {
            Selector::Full => ParsedCert::parse(data)
                .map(|_| ())
                .map_err(Unusable::Malformed),
            _ if spki_parses(data) => Ok(()),
            _ => Err(Unusable::Malformed(
                "the public key does not parse".to_owned(),
            )),
        },
        other => Err(Unusable::UnknownMatchingType(u8::from(other))),
    }
}

/// Whether `data` is exactly one DER SubjectPublicKeyInfo.
fn spki_parses(data: &[u8]) -> bool {
    crate::cert::spki_parses(data)
}

/// The bytes a record with this selector and matching type would carry for `cert`.
pub fn association_data(
    cert: &ParsedCert<'_>,
    selector: Selector,
    matching: Matching,
) -> Option<Vec<u8>> {
    let selected: &[u8] = match selector {
        Selector::Full => cert.der,
        Selector::Spki => cert.spki(),
        _ => return None,
    };
    match matching {
        Matching::Raw => Some(selected.to_vec()),
        Matching::Sha256 => Some(Sha256::digest(selected).to_vec()),
        Matching::Sha512 => Some(Sha512::digest(selected).to_vec()),
        _ => None,
    }
}

/// Whether `record`'s association data matches `cert` (usage not considered).
pub fn matches_cert(record: &TLSA, cert: &ParsedCert<'_>) -> bool {
    association_data(cert, record.selector, record.matching).is_some_and(|d| d == record.cert_data)
}

/// `3 1 1 <hex>` as in a zone file's RDATA.
pub fn presentation(record: &TLSA) -> String {
    format!(
        "{} {} {} {}",
        u8::from(record.cert_usage),
        u8::from(record.selector),
        u8::from(record.matching),
        hex(&record.cert_data)
    )
}

/// The zone-file line for a `usage 1 1` record (SPKI, SHA-256) for `cert` at the TLSA owner of
/// `base` — the form RFC 7671 §5 recommends, since it survives certificate renewal with the
/// same key.
pub fn spki_sha256_record(base: &DnsName, usage: u8, cert: &ParsedCert<'_>) -> String {
    format!(
        "{}. IN TLSA {usage} 1 1 {}",
        base.tlsa_owner(25),
        hex(&Sha256::digest(cert.spki()))
    )
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(u: u8, s: u8, m: u8, data: Vec<u8>) -> TLSA {
        TLSA::new(u.into(), s.into(), m.into(), data)
    }

    /// RFC 7672 §3.1.3: usages 0 and 1 are unusable for SMTP.
    #[test]
    fn pkix_usages_are_unusable() {
        assert_eq!(
            classify(&rec(0, 1, 1, vec![0; 32])),
            Err(Unusable::PkixUsage(0))
        );
        assert_eq!(
            classify(&rec(1, 1, 1, vec![0; 32])),
            Err(Unusable::PkixUsage(1))
        );
        assert_eq!(classify(&rec(3, 1, 1, vec![0; 32])), Ok(()));
        assert_eq!(classify(&rec(2, 0, 2, vec![0; 64])), Ok(()));
    }

    /// RFC 7672 §3.1.3: unknown parameters and malformed data make a record unusable.
    #[test]
    fn unknown_or_malformed_records_are_unusable() {
        assert_eq!(
            classify(&rec(4, 1, 1, vec![0; 32])),
            Err(Unusable::UnknownUsage(4))
        );
        assert_eq!(
            classify(&rec(3, 2, 1, vec![0; 32])),
            Err(Unusable::UnknownSelector(2))
        );
        assert_eq!(
            classify(&rec(3, 1, 3, vec![0; 32])),
            Err(Unusable::UnknownMatchingType(3))
        );
        assert!(matches!(
            classify(&rec(3, 1, 1, vec![0; 31])),
            Err(Unusable::Malformed(_))
        ));
        assert!(matches!(
            classify(&rec(3, 1, 2, vec![0; 32])),
            Err(Unusable::Malformed(_))
        ));
        assert!(matches!(
            classify(&rec(3, 0, 0, vec![1, 2, 3])),
            Err(Unusable::Malformed(_))
        ));
        assert!(matches!(
            classify(&rec(3, 1, 0, vec![0x30, 0])),
            Err(Unusable::Malformed(_))
        ));
    }
}
