//! Names and wire concepts, the leaf of the core: DNS names in canonical form, record types,
//! a mail domain as a person types it, and the names MTA-STS derives from a domain. Every
//! other module speaks in these types; this one uses none of them.

use hickory_proto::rr::Name;
use serde::{Deserialize, Serialize};

/// A domain name in canonical form: A-labels, lower case, no trailing dot. The root is `.`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DnsName(String);

impl DnsName {
    /// Parses an ASCII (A-label) name, absolute or not. Unicode must be converted before.
    pub fn parse(text: &str) -> Result<DnsName, String> {
        let name = Name::from_ascii(text)
            .map_err(|_| format!("{text:?} is not a DNS name: {}", why_not_a_name(text)))?;
        Ok(Self::from_hickory(&name))
    }

    /// The canonical form of a hickory name: its labels lower-cased and written as hickory's
    /// `to_ascii` writes them (`\c` for a printable byte a host name cannot hold, `\DDD` in
    /// octal for the rest). Written here rather than called: hickory's writer unwraps a
    /// `ProtoError`, whose `Debug` prints names through its Unicode printer, and that alone
    /// carries the IDNA tables into the browser's first load.
    pub fn from_hickory(name: &Name) -> DnsName {
        let mut text = String::with_capacity(name.len());
        for (i, label) in name.iter().enumerate() {
            if i > 0 {
                text.push('.');
            }
            for (j, &byte) in label.iter().enumerate() {
                let c = char::from(byte.to_ascii_lowercase());
                let first = j == 0;
                match c {
                    'a'..='z' | '0'..='9' | '_' => text.push(c),
                    '-' if !first => text.push(c),
                    '*' if first => text.push(c),
                    '\x21'..='\x7e' => {
                        text.push('\\');
                        text.push(c);
                    }
                    _ => text.push_str(&format!("\\{byte:03o}")),
                }
            }
        }
        DnsName(if text.is_empty() {
            ".".to_owned()
        } else {
            text
        })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_root(&self) -> bool {
        self.0 == "."
    }

    /// The name one label up (`None` for the root).
    pub fn parent(&self) -> Option<DnsName> {
        if self.is_root() {
            return None;
        }
        Some(match self.0.split_once('.') {
            Some((_, rest)) => DnsName(rest.to_owned()),
            None => DnsName(".".to_owned()),
        })
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

/// Why `text` is not a DNS name, in our words. hickory's error says it too, but formatting
/// its error carries its Unicode name printer (IDNA tables) into the browser's first load.
fn why_not_a_name(text: &str) -> &'static str {
    let trimmed = text.strip_suffix('.').unwrap_or(text);
    if trimmed.len() > 253 {
        "longer than 253 characters"
    } else if trimmed.split('.').any(str::is_empty) {
        "an empty label (two dots in a row, or a leading dot)"
    } else if trimmed.split('.').any(|l| l.len() > 63) {
        "a label longer than 63 characters"
    } else {
        "it has characters a host name cannot have"
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
    let ascii = to_ascii(trimmed).ok_or_else(|| format!("{input:?} is not a valid domain name"))?;
    parse_mail_domain_ascii(&ascii, input)
}

/// A converter from a Unicode domain to its A-label form (UTS #46), for builds without the
/// `idna` feature: the web app registers the browser's.
pub type IdnaConverter = fn(&str) -> Option<String>;

#[cfg(not(feature = "idna"))]
static IDNA: std::sync::OnceLock<IdnaConverter> = std::sync::OnceLock::new();

/// Registers the converter used without the `idna` feature (once; later calls are ignored).
pub fn set_idna(converter: IdnaConverter) {
    #[cfg(not(feature = "idna"))]
    let _ = IDNA.set(converter);
    #[cfg(feature = "idna")]
    let _ = converter;
}

#[cfg(feature = "idna")]
fn to_ascii(text: &str) -> Option<String> {
    idna::domain_to_ascii(text).ok()
}

/// Without the idna crate: ASCII is only lower-cased (the name rules below check it);
/// anything else goes to the registered converter, and without one it is refused.
#[cfg(not(feature = "idna"))]
fn to_ascii(text: &str) -> Option<String> {
    if text.is_ascii() {
        return Some(text.to_ascii_lowercase());
    }
    IDNA.get().and_then(|convert| convert(text))
}

/// What a person typed into a "domain" field, forgiven: a mail address (`user@example.org`,
/// `mailto:…`) or a URL (`https://example.org/…`) is reduced to its domain. Returns the
/// domain and, when the input was reduced, a note saying so; a clear reason otherwise.
pub fn parse_user_input(input: &str) -> Result<(DnsName, Option<String>), String> {
    let trimmed = input.trim();
    let mut rest = trimmed;
    let mut what = None;
    for scheme in ["mailto:", "https://", "http://", "smtp://"] {
        // `get`, not a slice: the input is anything typed, and its first bytes may end
        // inside a character.
        if let Some(head) = rest.get(..scheme.len())
            && head.eq_ignore_ascii_case(scheme)
        {
            rest = &rest[scheme.len()..];
            what = Some(if scheme == "mailto:" {
                "mail address"
            } else {
                "URL"
            });
        }
    }
    if what == Some("URL") {
        rest = rest.split(['/', '?', '#']).next().unwrap_or(rest);
        // user info and a port are not part of the host
        rest = rest.rsplit('@').next().unwrap_or(rest);
        rest = rest.split(':').next().unwrap_or(rest);
    }
    if let Some((_, domain)) = rest.rsplit_once('@') {
        rest = domain;
        what = what.or(Some("mail address"));
    }
    let name = parse_user_domain(rest).map_err(|e| {
        if what.is_some() {
            format!("{input:?} has no valid mail domain in it")
        } else {
            e
        }
    })?;
    let note = what.map(|w| format!("Checking {name}, the domain of the {w} {trimmed:?}."));
    Ok((name, note))
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
    pub const RRSIG: RecordType = RecordType(hickory_proto::rr::RecordType::RRSIG);
    pub const DNSKEY: RecordType = RecordType(hickory_proto::rr::RecordType::DNSKEY);
    pub const DS: RecordType = RecordType(hickory_proto::rr::RecordType::DS);
    pub const NS: RecordType = RecordType(hickory_proto::rr::RecordType::NS);
    pub const SOA: RecordType = RecordType(hickory_proto::rr::RecordType::SOA);
    pub const NSEC3: RecordType = RecordType(hickory_proto::rr::RecordType::NSEC3);
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

/// `mta-sts.<domain>`: the host senders fetch the MTA-STS policy from (RFC 8461 §3.3).
pub fn policy_host(domain: &DnsName) -> DnsName {
    DnsName(format!("mta-sts.{}", domain.as_str()))
}

/// `https://mta-sts.<domain>/.well-known/mta-sts.txt`.
pub fn policy_url(domain: &DnsName) -> String {
    format!("https://{}/.well-known/mta-sts.txt", policy_host(domain))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Our writer and hickory's agree on every byte a label can hold, first or later.
    #[test]
    fn names_are_written_as_hickory_writes_them() {
        let mut labels: Vec<Vec<u8>> = (0u8..=255).map(|b| vec![b]).collect();
        labels.extend((0u8..=255).map(|b| vec![b'a', b, b'-', b'Z']));
        labels.push(b"*".to_vec());
        labels.push(b"-x".to_vec());
        labels.push(b"xn--bcher-kva".to_vec());
        for label in labels {
            let name = Name::from_labels([label.as_slice(), b"Example", b"ORG"]).unwrap();
            let theirs = name.to_lowercase().to_ascii();
            let ours = DnsName::from_hickory(&name);
            assert_eq!(
                ours.as_str(),
                theirs.trim_end_matches('.'),
                "label {label:?}"
            );
        }
        assert_eq!(DnsName::from_hickory(&Name::root()).as_str(), ".");
    }

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
    fn addresses_and_urls_are_reduced_to_their_domain() {
        let (d, note) = parse_user_input("alice@Example.ORG").unwrap();
        assert_eq!(d.as_str(), "example.org");
        assert!(note.unwrap().contains("mail address"));
        let (d, note) = parse_user_input("https://user@www.example.org:8443/x?y#z").unwrap();
        assert_eq!(d.as_str(), "www.example.org");
        assert!(note.unwrap().contains("URL"));
        assert_eq!(
            parse_user_input("mailto:bob@bücher.example")
                .unwrap()
                .0
                .as_str(),
            "xn--bcher-kva.example"
        );
        assert_eq!(
            parse_user_input(" example.org ").unwrap(),
            (parse_user_domain("example.org").unwrap(), None)
        );
        assert!(parse_user_input("alice@").is_err());
        assert!(parse_user_input("https:///nothing").is_err());
        assert_eq!(
            parse_user_input("not a domain!").unwrap_err(),
            "\"not a domain!\" is not a valid domain name"
        );
    }

    #[test]
    fn the_policy_host_and_url_follow_rfc_8461() {
        let d = parse_user_domain("Example.ORG").unwrap();
        assert_eq!(policy_host(&d).as_str(), "mta-sts.example.org");
        assert_eq!(
            policy_url(&d),
            "https://mta-sts.example.org/.well-known/mta-sts.txt"
        );
    }

    /// Found by fuzzing (`fuzz/regressions/user_domain/`): input whose seventh byte is inside
    /// a character panicked on a string slice while looking for a scheme.
    #[test]
    fn input_that_starts_with_wide_characters_is_an_error_not_a_panic() {
        assert!(parse_user_input("ipv6.\u{FFFD}\u{FFFD}test.").is_err());
        assert!(parse_user_input("xxxxx\u{FFFD}example.org").is_err());
        assert!(parse_user_input("bücher.example").is_ok());
    }
}
