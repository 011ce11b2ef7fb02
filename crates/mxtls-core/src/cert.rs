//! Certificate facts (read with our own strict DER reader, `crate::der`) and server-name
//! matching.
//!
//! Name matching follows RFC 6125 as mail servers implement it (OpenSSL's `X509_check_host`,
//! which Postfix and Exim use): DNS subject alternative names; the subject CN only when the
//! certificate has no DNS SAN; a wildcard only as the whole leftmost label, matching exactly
//! one label.
//!
//! The facts are those x509-parser gave, which the core used until the browser build had to
//! shed it (a second X.509 parser beside webpki's, with nom and an OID registry): the tests
//! hold this reader to it (`tests/x509_oracle.rs`, and the `certificate` fuzz target). Where
//! x509-parser was lenient this reader is strict: a certificate that is not DER, or whose
//! subject alternative names or basic constraints are malformed or repeated, or whose RSA
//! (DSA, GOST) key does not parse, does not parse at all.

use crate::der::{self, Reader, Tlv};
use crate::evidence::UnixTime;
use crate::names::DnsName;
use crate::report::{CertFacts, KeyKind};

/// A parsed certificate: the DER and the parts the analysis reuses.
pub struct ParsedCert<'a> {
    pub der: &'a [u8],
    spki: &'a [u8],
    key_oid: &'a [u8],
    key_bits: u32,
    issuer: &'a [u8],
    subject: &'a [u8],
    not_before: i64,
    not_after: i64,
    signature_oid: &'a [u8],
    dns_names: Vec<&'a str>,
    is_ca: bool,
}

/// The SubjectAltName and BasicConstraints extensions' OIDs (2.5.29.17, 2.5.29.19).
const SAN: &[u8] = &[0x55, 0x1d, 0x11];
const BASIC_CONSTRAINTS: &[u8] = &[0x55, 0x1d, 0x13];
/// The commonName attribute (2.5.4.3).
const CN: &[u8] = &[0x55, 0x04, 0x03];

impl<'a> ParsedCert<'a> {
    pub fn parse(der: &'a [u8]) -> Result<ParsedCert<'a>, String> {
        let fail = |e: der::Error| format!("certificate does not parse: {e}");
        let mut outer = Reader::new(der);
        let certificate = outer.read(der::SEQUENCE).map_err(fail)?;
        if !outer.is_empty() {
            return Err("certificate has trailing bytes".to_owned());
        }
        Self::read(der, certificate).map_err(fail)
    }

    /// RFC 5280 §4.1: Certificate, TBSCertificate, read to their ends.
    fn read(der: &'a [u8], certificate: &'a [u8]) -> der::Result<ParsedCert<'a>> {
        let mut cert = Reader::new(certificate);
        let mut tbs = Reader::new(cert.read(der::SEQUENCE)?);
        let signature_oid = algorithm(cert.read(der::SEQUENCE)?)?.0;
        der::bit_string(cert.read(der::BIT_STRING)?)?;
        cert.finish()?;

        if let Some(version) = tbs.optional(der::context_constructed(0))? {
            let v = der::small_unsigned(der::exactly(version, der::INTEGER)?)?;
            if v > 2 {
                return Err(der::Error("unknown certificate version"));
            }
        }
        // RFC 5280 §4.1.2.2 asks for at most 20 bytes and positive, but CAs have issued
        // others; like webpki, any INTEGER is read.
        if tbs.read(der::INTEGER)?.is_empty() {
            return Err(der::Error("empty serial number"));
        }
        algorithm(tbs.read(der::SEQUENCE)?)?;
        let issuer = tbs.element(der::SEQUENCE)?;
        name(issuer.content)?;
        let mut validity = Reader::new(tbs.read(der::SEQUENCE)?);
        let not_before = der::time(&validity.any()?)?;
        let not_after = der::time(&validity.any()?)?;
        validity.finish()?;
        let subject = tbs.element(der::SEQUENCE)?;
        name(subject.content)?;
        let spki = tbs.element(der::SEQUENCE)?;
        let (key_oid, key_bits) = public_key(spki.content)?;
        for unique_id in [der::context(1), der::context(2)] {
            if let Some(bits) = tbs.optional(unique_id)? {
                der::bit_string(bits)?;
            }
        }
        let (mut dns_names, mut is_ca) = (Vec::new(), false);
        if let Some(extensions) = tbs.optional(der::context_constructed(3))? {
            let (mut san, mut bc) = (None, None);
            let mut list = Reader::new(der::exactly(extensions, der::SEQUENCE)?);
            while !list.is_empty() {
                let mut ext = Reader::new(list.read(der::SEQUENCE)?);
                let oid = der::oid(ext.read(der::OID)?)?;
                if let Some(critical) = ext.optional(der::BOOLEAN)? {
                    der::boolean(critical)?;
                }
                let value = ext.read(der::OCTET_STRING)?;
                ext.finish()?;
                let slot = match oid {
                    SAN => &mut san,
                    BASIC_CONSTRAINTS => &mut bc,
                    _ => continue,
                };
                if slot.replace(value).is_some() {
                    return Err(der::Error("extension repeated"));
                }
            }
            if let Some(value) = san {
                dns_names = subject_alt_dns_names(value)?;
            }
            if let Some(value) = bc {
                is_ca = basic_constraints_ca(value)?;
            }
        }
        tbs.finish()?;
        Ok(ParsedCert {
            der,
            spki: spki.raw,
            key_oid,
            key_bits,
            issuer: issuer.raw,
            subject: subject.raw,
            not_before,
            not_after,
            signature_oid,
            dns_names,
            is_ca,
        })
    }

    /// The DER SubjectPublicKeyInfo (what TLSA selector 1 matches).
    pub fn spki(&self) -> &'a [u8] {
        self.spki
    }

    /// The issuer's distinguished name, as DER (the whole Name).
    pub fn issuer_raw(&self) -> &'a [u8] {
        self.issuer
    }

    /// The subject's distinguished name, as DER (the whole Name).
    pub fn subject_raw(&self) -> &'a [u8] {
        self.subject
    }

    pub fn key_kind(&self) -> KeyKind {
        match der::oid_text(self.key_oid).as_str() {
            "1.2.840.113549.1.1.1" | "1.2.840.113549.1.1.10" => KeyKind::Rsa,
            "1.2.840.10045.2.1" => KeyKind::Ecdsa,
            "1.3.101.112" => KeyKind::Ed25519,
            "1.3.101.113" => KeyKind::Ed448,
            _ => KeyKind::Other,
        }
    }

    pub fn not_before(&self) -> UnixTime {
        UnixTime(self.not_before)
    }

    pub fn not_after(&self) -> UnixTime {
        UnixTime(self.not_after)
    }

    /// Whether `now` lies within the validity period.
    pub fn valid_at(&self, now: UnixTime) -> bool {
        self.not_before() <= now && now <= self.not_after()
    }

    pub fn dns_names(&self) -> Vec<String> {
        self.dns_names.iter().map(|&d| d.to_owned()).collect()
    }

    pub fn common_names(&self) -> Vec<String> {
        attributes(self.subject)
            .into_iter()
            .flatten()
            .filter(|(oid, _)| *oid == CN)
            // NumericString, PrintableString, UTF8String, IA5String, by tag number.
            .filter(|(_, value)| matches!(value.tag & 0x1f, 18 | 19 | 12 | 22))
            .filter_map(|(_, value)| std::str::from_utf8(value.content).ok())
            .map(str::to_owned)
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
        CertFacts {
            self_issued: self.subject == self.issuer,
            subject: name_text(self.subject),
            issuer: name_text(self.issuer),
            dns_names: self.dns_names(),
            common_names: self.common_names(),
            not_before: self.not_before(),
            not_after: self.not_after(),
            key: self.key_kind(),
            key_bits: self.key_bits,
            signature_algorithm: signature_name(&der::oid_text(self.signature_oid)),
            is_ca: self.is_ca,
        }
    }
}

/// AlgorithmIdentifier: its OID and its parameters, if any.
fn algorithm(content: &[u8]) -> der::Result<(&[u8], Option<Tlv<'_>>)> {
    let mut r = Reader::new(content);
    let oid = der::oid(r.read(der::OID)?)?;
    let parameters = if r.is_empty() { None } else { Some(r.any()?) };
    r.finish()?;
    Ok((oid, parameters))
}

/// SubjectPublicKeyInfo: the key's algorithm and its size in bits. The size is counted as
/// x509-parser counts it: an RSA modulus's bytes after its leading zero (0 if there is none),
/// half an uncompressed EC point's bytes, Ed25519 256 and Ed448 456, a DSA key's or a GOST
/// R 34.10-2001 key's bytes; other keys 0.
fn public_key(content: &[u8]) -> der::Result<(&[u8], u32)> {
    let mut r = Reader::new(content);
    let (oid, _) = algorithm(r.read(der::SEQUENCE)?)?;
    let key = der::bit_string(r.read(der::BIT_STRING)?)?;
    r.finish()?;
    let bytes = |n: usize| u32::try_from(n.saturating_mul(8)).unwrap_or(u32::MAX);
    let bits = match der::oid_text(oid).as_str() {
        "1.2.840.113549.1.1.1" => {
            let mut rsa = Reader::new(der::exactly(key, der::SEQUENCE)?);
            let modulus = der::integer(rsa.read(der::INTEGER)?)?;
            der::integer(rsa.read(der::INTEGER)?)?;
            rsa.finish()?;
            match modulus.split_first() {
                Some((first, rest)) if first & 0x80 == 0 => bytes(rest.len()),
                _ => 0,
            }
        }
        "1.2.840.10045.2.1" => match key {
            [4, point @ ..] => bytes(point.len()) / 2,
            [2 | 3, x @ ..] => bytes(x.len()),
            _ => 0,
        },
        "1.3.101.112" => 256,
        "1.3.101.113" => 456,
        "1.2.840.10040.4.1" => bytes(der::integer(der::exactly(key, der::INTEGER)?)?.len()),
        "1.2.643.2.2.19" => bytes(der::exactly(key, der::OCTET_STRING)?.len()),
        _ => 0,
    };
    Ok((oid, bits))
}

/// Whether `data` is exactly one DER SubjectPublicKeyInfo, its key readable as a
/// certificate's must be.
pub fn spki_parses(data: &[u8]) -> bool {
    der::exactly(data, der::SEQUENCE)
        .and_then(public_key)
        .is_ok()
}

/// The attributes of a Name's contents, RDN by RDN: (type OID, value).
type Rdns<'a> = Vec<Vec<(&'a [u8], Tlv<'a>)>>;

/// Name ::= SEQUENCE OF RelativeDistinguishedName (RFC 5280 §4.1.2.4), each a non-empty SET
/// OF AttributeTypeAndValue.
fn name(content: &[u8]) -> der::Result<Rdns<'_>> {
    let mut rdns = Vec::new();
    let mut r = Reader::new(content);
    while !r.is_empty() {
        let mut set = Reader::new(r.read(der::SET)?);
        let mut rdn = Vec::new();
        while !set.is_empty() {
            let mut atv = Reader::new(set.read(der::SEQUENCE)?);
            let oid = der::oid(atv.read(der::OID)?)?;
            let value = atv.any()?;
            atv.finish()?;
            rdn.push((oid, value));
        }
        if rdn.is_empty() {
            return Err(der::Error("empty relative distinguished name"));
        }
        rdns.push(rdn);
    }
    Ok(rdns)
}

/// The RDNs of a whole Name (`ParsedCert::subject_raw`'s form); none if it does not parse.
fn attributes(name_der: &[u8]) -> Rdns<'_> {
    der::exactly(name_der, der::SEQUENCE)
        .and_then(name)
        .unwrap_or_default()
}

/// SubjectAltName's dNSNames (RFC 5280 §4.2.1.6). Every GeneralName is checked: a tag of
/// the CHOICE, strings as UTF-8 (x509-parser's leniency for IA5String), a directoryName a
/// Name, an otherName or registeredID an OID.
fn subject_alt_dns_names(value: &[u8]) -> der::Result<Vec<&str>> {
    let mut names = Vec::new();
    let mut r = Reader::new(der::exactly(value, der::SEQUENCE)?);
    while !r.is_empty() {
        let general_name = r.any()?;
        let text =
            || std::str::from_utf8(general_name.content).map_err(|_| der::Error("SAN not UTF-8"));
        match general_name.tag {
            0xa0 => {
                let mut other = Reader::new(general_name.content);
                der::oid(other.read(der::OID)?)?;
                other.read(der::context_constructed(0))?;
                other.finish()?;
            }
            0x81 | 0x86 => {
                text()?;
            }
            0x82 => names.push(text()?),
            0xa3 | 0xa5 | 0x87 => {}
            0xa4 => {
                name(der::exactly(general_name.content, der::SEQUENCE)?)?;
            }
            0x88 => {
                der::oid(general_name.content)?;
            }
            _ => return Err(der::Error("unknown general name")),
        }
    }
    Ok(names)
}

/// BasicConstraints' cA (RFC 5280 §4.2.1.9): SEQUENCE { BOOLEAN DEFAULT FALSE, INTEGER
/// (a u32) OPTIONAL }.
fn basic_constraints_ca(value: &[u8]) -> der::Result<bool> {
    let mut r = Reader::new(der::exactly(value, der::SEQUENCE)?);
    let ca = match r.optional(der::BOOLEAN)? {
        Some(b) => der::boolean(b)?,
        None => false,
    };
    if let Some(path_len) = r.optional(der::INTEGER)? {
        der::small_unsigned(path_len)?;
    }
    r.finish()?;
    Ok(ca)
}

/// A distinguished name as people read it: `C=US, O=Let's Encrypt, CN=R11` — the form
/// x509-parser's `Display` gives, written here so that the browser build carries no OID
/// registry. Attributes without an abbreviation show their dotted OID; values that are not
/// strings, their hex bytes. `name_der` is a whole Name (`ParsedCert::subject_raw`).
pub fn name_text(name_der: &[u8]) -> String {
    let rdns: Vec<String> = attributes(name_der)
        .iter()
        .map(|rdn| {
            rdn.iter()
                .map(|(oid, value)| {
                    let oid = der::oid_text(oid);
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
                    };
                    // By tag number, whatever the class, as x509-parser reads it: UTF8String,
                    // PrintableString, IA5String, VisibleString, NumericString, T61String,
                    // GeneralString, GraphicString, VideotexString, ObjectDescriptor; BMPString.
                    let text = match value.tag & 0x1f {
                        12 | 19 | 22 | 26 | 18 | 20 | 27 | 25 | 21 | 7 => {
                            String::from_utf8_lossy(value.content).into_owned()
                        }
                        30 => {
                            let units: Vec<u16> = value
                                .content
                                .chunks(2)
                                .map(|c| {
                                    u16::from_be_bytes([
                                        c.first().copied().unwrap_or(0),
                                        c.get(1).copied().unwrap_or(0),
                                    ])
                                })
                                .collect();
                            String::from_utf16_lossy(&units)
                        }
                        _ => value.content.iter().map(|b| format!("{b:02X}")).collect(),
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
