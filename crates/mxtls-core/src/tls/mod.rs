//! TLS wire concepts: protocol versions, cipher suites and key-exchange groups by their IANA
//! code points (names derived for display, never stored), and a reader for the server's
//! first handshake message — so that the version a server chose is known even when the probe
//! refuses it (a server that only speaks TLS 1.0 still says so in its ServerHello).

use serde::{Deserialize, Serialize};

mod flight;
mod suites;

pub use flight::{
    Alert, FirstFlight, Hello, KeyExchange, RETRY_RANDOM, SignatureScheme, parse_first_flight,
};
pub use suites::{CipherSuite, SuiteClass};

/// A TLS protocol version (`0x0304` is TLS 1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TlsVersion(pub u16);

impl TlsVersion {
    pub const SSL3: TlsVersion = TlsVersion(0x0300);
    pub const TLS10: TlsVersion = TlsVersion(0x0301);
    pub const TLS11: TlsVersion = TlsVersion(0x0302);
    pub const TLS12: TlsVersion = TlsVersion(0x0303);
    pub const TLS13: TlsVersion = TlsVersion(0x0304);

    const NAMES: [(TlsVersion, &'static str); 5] = [
        (TlsVersion::SSL3, "SSLv3"),
        (TlsVersion::TLS10, "TLSv1.0"),
        (TlsVersion::TLS11, "TLSv1.1"),
        (TlsVersion::TLS12, "TLSv1.2"),
        (TlsVersion::TLS13, "TLSv1.3"),
    ];

    /// `TLSv1.3`, or the code point in hex for a version without a name.
    pub fn name(self) -> String {
        named(&Self::NAMES, self).unwrap_or_else(|| format!("0x{:04x}", self.0))
    }

    /// The short form the posture report lists: `ssl3`, `tls1.0` … `tls1.3`.
    pub fn short_name(self) -> String {
        match self {
            TlsVersion::SSL3 => "ssl3".into(),
            TlsVersion(v @ 0x0301..=0x0304) => format!("tls1.{}", v - 0x0301),
            other => other.name(),
        }
    }

    /// The version a name stands for (schema-1 evidence stored names; `TLSv1` is TLS 1.0).
    pub fn from_name(name: &str) -> Option<TlsVersion> {
        if name == "TLSv1" {
            return Some(TlsVersion::TLS10);
        }
        by_name(&Self::NAMES, name)
    }

    /// Below TLS 1.2: deprecated by RFC 8996, refused by MTA-STS (RFC 8461 §4.2) and by
    /// most current senders.
    pub fn is_deprecated(self) -> bool {
        self < TlsVersion::TLS12
    }
}

/// A key-exchange group (`0x001d` is X25519).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NamedGroup(pub u16);

impl NamedGroup {
    const NAMES: [(NamedGroup, &'static str); 9] = [
        (NamedGroup(0x0017), "secp256r1"),
        (NamedGroup(0x0018), "secp384r1"),
        (NamedGroup(0x0019), "secp521r1"),
        (NamedGroup(0x001d), "X25519"),
        (NamedGroup(0x001e), "X448"),
        (NamedGroup(0x0100), "ffdhe2048"),
        (NamedGroup(0x0101), "ffdhe3072"),
        (NamedGroup(0x11ec), "X25519MLKEM768"),
        (NamedGroup(0x11eb), "secp256r1MLKEM768"),
    ];

    /// The IANA name, or the code point in hex.
    pub fn name(self) -> String {
        named(&Self::NAMES, self).unwrap_or_else(|| format!("0x{:04x}", self.0))
    }

    pub fn from_name(name: &str) -> Option<NamedGroup> {
        by_name(&Self::NAMES, name)
    }
}

pub(crate) fn named<T: PartialEq + Copy>(table: &[(T, &'static str)], t: T) -> Option<String> {
    table
        .iter()
        .find(|(v, _)| *v == t)
        .map(|(_, n)| (*n).to_owned())
}

pub(crate) fn by_name<T: Copy>(table: &[(T, &'static str)], name: &str) -> Option<T> {
    table.iter().find(|(_, n)| *n == name).map(|(v, _)| *v)
}

/// What a ServerHello says the server chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerHello {
    /// The negotiated version: `supported_versions` where the server sent it (TLS 1.3),
    /// else the legacy version field.
    pub version: TlsVersion,
    pub cipher_suite: CipherSuite,
}

/// Reads the ServerHello at the start of what a server sent after STARTTLS: TLS records of
/// type handshake, the first message of type server_hello (RFC 8446 §4.1.3, RFC 5246
/// §7.4.1.3). `None` when the bytes are not that (an alert, cleartext, too short). Never
/// panics on hostile bytes.
pub fn parse_server_hello(bytes: &[u8]) -> Option<ServerHello> {
    // Gather the payload of the leading handshake records (a ServerHello may span records).
    let mut payload = Vec::new();
    let mut rest = bytes;
    while rest.len() >= 5 && rest[0] == 0x16 {
        let len = usize::from(u16::from_be_bytes([rest[3], rest[4]]));
        let body = rest.get(5..5 + len)?;
        payload.extend_from_slice(body);
        rest = &rest[5 + len..];
        if payload.len() >= 4 {
            let msg_len = usize::from(payload[1]) << 16
                | usize::from(payload[2]) << 8
                | usize::from(payload[3]);
            if payload.len() >= 4 + msg_len {
                break;
            }
        }
    }
    let mut r = Reader(&payload);
    if r.u8()? != 2 {
        return None;
    }
    let len = usize::try_from(r.u24()?).ok()?;
    let mut m = Reader(r.take(len)?);
    let legacy_version = TlsVersion(m.u16()?);
    m.take(32)?; // random
    let session_id = usize::from(m.u8()?);
    m.take(session_id)?;
    let cipher_suite = CipherSuite(m.u16()?);
    m.u8()?; // compression
    let mut version = legacy_version;
    if let Some(ext_len) = m.u16() {
        let mut exts = Reader(m.take(usize::from(ext_len))?);
        while let (Some(kind), Some(len)) = (exts.u16(), exts.u16()) {
            let data = exts.take(usize::from(len))?;
            if kind == 0x002b && data.len() == 2 {
                version = TlsVersion(u16::from_be_bytes([data[0], data[1]]));
            }
        }
    }
    Some(ServerHello {
        version,
        cipher_suite,
    })
}

/// A bounds-checked cursor over bytes.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }

    fn u24(&mut self) -> Option<u32> {
        self.take(3)
            .map(|b| u32::from_be_bytes([0, b[0], b[1], b[2]]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A TLS 1.0 ServerHello as an old server sends it: one record, no extensions.
    pub(crate) fn tls10_server_hello() -> Vec<u8> {
        let mut body = vec![0x03, 0x01];
        body.extend([7u8; 32]);
        body.push(0); // no session id
        body.extend([0x00, 0x2f, 0x00]); // TLS_RSA_WITH_AES_128_CBC_SHA, no compression
        let mut hs = vec![2, 0, 0, body.len() as u8];
        hs.extend(body);
        let mut rec = vec![0x16, 0x03, 0x01, 0, hs.len() as u8];
        rec.extend(hs);
        rec
    }

    #[test]
    fn a_tls_1_0_server_hello_is_read() {
        let hello = parse_server_hello(&tls10_server_hello()).expect("a ServerHello");
        assert_eq!(hello.version, TlsVersion::TLS10);
        assert!(hello.version.is_deprecated());
        assert_eq!(hello.cipher_suite.name(), "TLS_RSA_WITH_AES_128_CBC_SHA");
    }

    #[test]
    fn supported_versions_names_tls_1_3() {
        let mut body = vec![0x03, 0x03];
        body.extend([1u8; 32]);
        body.push(0);
        body.extend([0x13, 0x02, 0x00]);
        body.extend([0x00, 0x06, 0x00, 0x2b, 0x00, 0x02, 0x03, 0x04]);
        let mut hs = vec![2, 0, 0, body.len() as u8];
        hs.extend(body);
        let mut rec = vec![0x16, 0x03, 0x03, 0, hs.len() as u8];
        rec.extend(hs);
        let hello = parse_server_hello(&rec).expect("a ServerHello");
        assert_eq!(hello.version, TlsVersion::TLS13);
        assert_eq!(hello.cipher_suite.name(), "TLS_AES_256_GCM_SHA384");
    }

    #[test]
    fn hostile_bytes_are_not_a_server_hello() {
        assert_eq!(parse_server_hello(b""), None);
        assert_eq!(parse_server_hello(b"250 I am not TLS\r\n"), None);
        assert_eq!(parse_server_hello(&[0x15, 3, 3, 0, 2, 2, 40]), None); // an alert
        let full = tls10_server_hello();
        for cut in 0..full.len() {
            assert_eq!(parse_server_hello(&full[..cut]), None, "cut at {cut}");
        }
    }

    #[test]
    fn names_are_derived_from_code_points_and_read_back() {
        assert_eq!(TlsVersion::TLS13.name(), "TLSv1.3");
        assert_eq!(TlsVersion(0x7f17).name(), "0x7f17");
        assert_eq!(TlsVersion::from_name("TLSv1"), Some(TlsVersion::TLS10));
        assert_eq!(
            CipherSuite::from_name("TLS13_AES_256_GCM_SHA384"),
            Some(CipherSuite(0x1302))
        );
        assert_eq!(NamedGroup::from_name("X25519"), Some(NamedGroup(0x001d)));
        assert_eq!(NamedGroup(0x001d).name(), "X25519");
    }
}
