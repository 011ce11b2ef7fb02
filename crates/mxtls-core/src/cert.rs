//! Certificate facts (x509-parser) and server-name matching.
//!
//! Name matching follows RFC 6125 as mail servers implement it (OpenSSL's `X509_check_host`,
//! which Postfix and Exim use): DNS subject alternative names; the subject CN only when the
//! certificate has no DNS SAN; a wildcard only as the whole leftmost label, matching exactly
//! one label.

use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};
use x509_parser::public_key::PublicKey;

use crate::evidence::UnixTime;
use crate::names::DnsName;
use crate::report::{CertFacts, KeyKind};

/// A parsed certificate: the DER and the parts the analysis reuses.
pub struct ParsedCert<'a> {
    pub der: &'a [u8],
    pub x509: X509Certificate<'a>,
}

impl<'a> ParsedCert<'a> {
    pub fn parse(der: &'a [u8]) -> Result<ParsedCert<'a>, String> {
        let (rest, x509) = X509Certificate::from_der(der)
            .map_err(|e| format!("certificate does not parse: {e}"))?;
        if !rest.is_empty() {
            return Err("certificate has trailing bytes".to_owned());
        }
        Ok(ParsedCert { der, x509 })
    }

    /// The DER SubjectPublicKeyInfo (what TLSA selector 1 matches).
    pub fn spki(&self) -> &'a [u8] {
        self.x509.tbs_certificate.subject_pki.raw
    }

    pub fn key_kind(&self) -> KeyKind {
        match self
            .x509
            .tbs_certificate
            .subject_pki
            .algorithm
            .algorithm
            .to_id_string()
            .as_str()
        {
            "1.2.840.113549.1.1.1" | "1.2.840.113549.1.1.10" => KeyKind::Rsa,
            "1.2.840.10045.2.1" => KeyKind::Ecdsa,
            "1.3.101.112" => KeyKind::Ed25519,
            "1.3.101.113" => KeyKind::Ed448,
            _ => KeyKind::Other,
        }
    }

    pub fn not_before(&self) -> UnixTime {
        UnixTime(self.x509.validity().not_before.timestamp())
    }

    pub fn not_after(&self) -> UnixTime {
        UnixTime(self.x509.validity().not_after.timestamp())
    }

    /// Whether `now` lies within the validity period.
    pub fn valid_at(&self, now: UnixTime) -> bool {
        self.not_before() <= now && now <= self.not_after()
    }

    pub fn dns_names(&self) -> Vec<String> {
        match self.x509.subject_alternative_name() {
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
        }
    }

    pub fn common_names(&self) -> Vec<String> {
        self.x509
            .subject()
            .iter_common_name()
            .filter_map(|cn| cn.as_str().ok().map(str::to_owned))
            .collect()
    }

    /// The names this certificate is for: DNS SANs, or the CN where there are none.
    pub fn identities(&self) -> Vec<String> {
        let sans = self.dns_names();
        if sans.is_empty() {
            self.common_names()
        } else {
            sans
        }
    }

    /// Whether the certificate is for `reference` (RFC 6125 §6.4).
    pub fn matches_name(&self, reference: &DnsName) -> bool {
        self.identities()
            .iter()
            .any(|id| name_matches(id, reference))
    }

    pub fn facts(&self) -> CertFacts {
        let key_bits = self
            .x509
            .public_key()
            .parsed()
            .map(|k| match k {
                PublicKey::Unknown(_) => match self.key_kind() {
                    KeyKind::Ed25519 => 256,
                    KeyKind::Ed448 => 456,
                    _ => 0,
                },
                k => k.key_size(),
            })
            .unwrap_or(0);
        let subject = name_text(self.x509.subject());
        let issuer = name_text(self.x509.issuer());
        CertFacts {
            self_issued: self.x509.subject().as_raw() == self.x509.issuer().as_raw(),
            subject,
            issuer,
            dns_names: self.dns_names(),
            common_names: self.common_names(),
            not_before: self.not_before(),
            not_after: self.not_after(),
            key: self.key_kind(),
            key_bits: u32::try_from(key_bits).unwrap_or(u32::MAX),
            signature_algorithm: signature_name(
                &self.x509.signature_algorithm.algorithm.to_id_string(),
            ),
            is_ca: self.x509.is_ca(),
        }
    }
}

/// A distinguished name as people read it: `C=US, O=Let's Encrypt, CN=R11` — the form
/// x509-parser's `Display` gives, written here so that the browser build carries no OID
/// registry (x509-parser's holds every OID it knows, tens of kilobytes). Attributes without
/// an abbreviation show their dotted OID; values that are not strings, their hex bytes.
pub fn name_text(name: &x509_parser::x509::X509Name<'_>) -> String {
    use x509_parser::der_parser::asn1_rs::Tag;
    let rdns: Vec<String> = name
        .iter()
        .map(|rdn| {
            rdn.iter()
                .map(|attr| {
                    let oid = attr.attr_type().to_id_string();
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

/// RFC 6125 §6.4 matching of one presented identifier against a reference name.
pub fn name_matches(presented: &str, reference: &DnsName) -> bool {
    let presented = presented.trim_end_matches('.').to_ascii_lowercase();
    let reference = reference.as_str();
    if presented == reference {
        return true;
    }
    let Some(rest) = presented.strip_prefix("*.") else {
        return false;
    };
    // The wildcard must cover exactly one whole label, and leave at least two labels
    // (no `*.com`), and never contain another `*`.
    if rest.contains('*') || rest.split('.').count() < 2 {
        return false;
    }
    match reference.split_once('.') {
        Some((first, parent)) => !first.is_empty() && parent == rest,
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> DnsName {
        DnsName::parse(s).unwrap()
    }

    /// RFC 6125 §6.4.3: a wildcard matches exactly one leftmost label.
    #[test]
    fn wildcards_match_one_label_only() {
        assert!(name_matches("*.example.org", &n("mx.example.org")));
        assert!(!name_matches("*.example.org", &n("a.mx.example.org")));
        assert!(!name_matches("*.example.org", &n("example.org")));
        assert!(!name_matches("*.org", &n("example.org")));
        assert!(!name_matches("m*.example.org", &n("mx.example.org")));
        assert!(name_matches("MX.Example.ORG.", &n("mx.example.org")));
    }
}
