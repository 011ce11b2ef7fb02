//! The server's first flight after a ClientHello, decoded without completing a handshake:
//! the ServerHello (or HelloRetryRequest) with the extensions that tell a server's posture,
//! and for TLS ≤ 1.2 the rest of the flight up to ServerHelloDone (Certificate,
//! ServerKeyExchange with its group and signature scheme). An alert in place of a hello is
//! the server refusing what was offered.
//!
//! The bytes come from the network and may be anything: every length is checked, nothing
//! panics, and the result only says what the bytes really held (RFC 8446 §4.1.3-4, §5.1;
//! RFC 5246 §7.4; RFC 4492 §5.4).

use super::{CipherSuite, NamedGroup, Reader, TlsVersion};

/// A signature scheme (`0x0804` is rsa_pss_rsae_sha256); in TLS 1.2 the hash and signature
/// algorithm bytes of RFC 5246 §7.4.1.4.1 read as one code point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct SignatureScheme(pub u16);

impl SignatureScheme {
    /// The hash a scheme signs with, where it is SHA-1 or MD5 (`0x0201`, `0x0203`,
    /// `0x0101`…): weak for a ServerKeyExchange signature.
    pub fn weak_hash(self) -> Option<&'static str> {
        match self.0 >> 8 {
            0x01 => Some("MD5"),
            0x02 => Some("SHA-1"),
            _ => None,
        }
    }
}

/// The ServerHello's random that marks a HelloRetryRequest: SHA-256 of
/// "HelloRetryRequest" (RFC 8446 §4.1.3).
pub const RETRY_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

/// Extension code points read from a ServerHello.
mod ext {
    pub const SUPPORTED_VERSIONS: u16 = 0x002b;
    pub const KEY_SHARE: u16 = 0x0033;
    pub const EXTENDED_MASTER_SECRET: u16 = 0x0017;
    pub const RENEGOTIATION_INFO: u16 = 0xff01;
}

/// A ServerHello or HelloRetryRequest, as far as posture is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    /// A HelloRetryRequest: the server wants another key share (`key_share` names it).
    pub retry: bool,
    /// `supported_versions` where sent, else the legacy version.
    pub version: TlsVersion,
    pub cipher_suite: CipherSuite,
    /// The compression method chosen: anything but 0 is CRIME-prone compression.
    pub compression: u8,
    /// The group of the server's key share, or the group a HelloRetryRequest asks for.
    pub key_share: Option<NamedGroup>,
    /// The length of the server's key share: an ML-KEM hybrid share is over 1000 bytes.
    pub key_share_len: usize,
    pub extended_master_secret: bool,
    /// `renegotiation_info` answered (RFC 5746): renegotiation, if any, is the secure kind.
    pub secure_renegotiation: bool,
    /// Every extension type in the order sent.
    pub extensions: Vec<u16>,
}

/// The key exchange of a TLS ≤ 1.2 ServerKeyExchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyExchange {
    /// ECDHE over a named group.
    Ecdhe { group: NamedGroup },
    /// Finite-field DHE: the size of the prime the server chose.
    Dhe { prime_bits: usize },
}

/// A TLS alert the server sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Alert {
    pub fatal: bool,
    /// e.g. 40 handshake_failure, 70 protocol_version, 71 insufficient_security.
    pub description: u8,
}

/// What a server's first flight held.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FirstFlight {
    pub hello: Option<Hello>,
    /// TLS ≤ 1.2: the Certificate message's chain length.
    pub certificates: Option<usize>,
    pub key_exchange: Option<KeyExchange>,
    /// TLS 1.2: the scheme the ServerKeyExchange is signed with (absent before TLS 1.2 and
    /// for anonymous suites).
    pub signature_scheme: Option<SignatureScheme>,
    /// ServerHelloDone arrived: the TLS ≤ 1.2 flight is complete.
    pub done: bool,
    pub alert: Option<Alert>,
    /// A record other than handshake or alert followed (ChangeCipherSpec, encrypted data).
    pub ended: bool,
    /// Bytes that are no TLS record at all (a server answering in SMTP, or noise).
    pub not_tls: bool,
}

impl FirstFlight {
    /// Nothing more of interest can follow: ServerHelloDone, an alert, a HelloRetryRequest,
    /// a TLS 1.3 ServerHello (the rest is encrypted) or a non-handshake record.
    pub fn complete(&self) -> bool {
        self.done
            || self.alert.is_some()
            || self.ended
            || self.not_tls
            || self
                .hello
                .as_ref()
                .is_some_and(|h| h.retry || h.version >= TlsVersion::TLS13)
    }
}

/// Decodes the records a server sent in answer to a ClientHello. Reads handshake records
/// until a record of another type (an alert is kept; ChangeCipherSpec or encrypted TLS 1.3
/// data end the plaintext part), or until the bytes run out.
pub fn parse_first_flight(bytes: &[u8]) -> FirstFlight {
    let mut flight = FirstFlight::default();
    let mut handshake = Vec::new();
    let mut rest = Reader(bytes);
    while let Some(kind) = rest.u8() {
        if !(0x14..=0x17).contains(&kind) {
            flight.not_tls = true;
            break;
        }
        let Some(body) = rest
            .u16()
            .and_then(|_version| rest.u16())
            .and_then(|len| rest.take(usize::from(len)))
        else {
            break;
        };
        match kind {
            0x16 => handshake.extend_from_slice(body),
            // A warning before the hello (unrecognized_name, 112, from some stacks) is not
            // a refusal: read on. A fatal alert, close_notify or user_canceled ends it.
            0x15 => {
                if let [level, description, ..] = body {
                    let alert = Alert {
                        fatal: *level == 2,
                        description: *description,
                    };
                    if !alert.fatal && ![0, 90].contains(description) {
                        continue;
                    }
                    flight.alert = Some(alert);
                }
                break;
            }
            _ => {
                flight.ended = true;
                break;
            }
        }
    }
    read_messages(&handshake, &mut flight);
    flight
}

fn read_messages(handshake: &[u8], flight: &mut FirstFlight) {
    let mut messages = Reader(handshake);
    while let (Some(kind), Some(len)) = (messages.u8(), messages.u24()) {
        let Some(body) = usize::try_from(len).ok().and_then(|n| messages.take(n)) else {
            return;
        };
        match kind {
            2 if flight.hello.is_none() => flight.hello = read_hello(body),
            11 => flight.certificates = count_certificates(body),
            12 => read_key_exchange(body, flight),
            14 => {
                flight.done = true;
                return;
            }
            _ => {}
        }
        if flight.hello.is_none() {
            return;
        }
    }
}

fn read_hello(body: &[u8]) -> Option<Hello> {
    let mut m = Reader(body);
    let legacy_version = TlsVersion(m.u16()?);
    let retry = m.take(32)? == RETRY_RANDOM;
    let session_id = usize::from(m.u8()?);
    m.take(session_id)?;
    let mut hello = Hello {
        retry,
        version: legacy_version,
        cipher_suite: CipherSuite(m.u16()?),
        compression: m.u8()?,
        key_share: None,
        key_share_len: 0,
        extended_master_secret: false,
        secure_renegotiation: false,
        extensions: Vec::new(),
    };
    let Some(ext_len) = m.u16() else {
        return Some(hello); // no extensions at all: an SSL 3.0 or plain TLS 1.0 server
    };
    let mut exts = Reader(m.take(usize::from(ext_len))?);
    while let (Some(kind), Some(len)) = (exts.u16(), exts.u16()) {
        let data = exts.take(usize::from(len))?;
        hello.extensions.push(kind);
        match kind {
            ext::SUPPORTED_VERSIONS if data.len() == 2 => {
                hello.version = TlsVersion(u16::from_be_bytes([data[0], data[1]]));
            }
            ext::KEY_SHARE => {
                let mut share = Reader(data);
                hello.key_share = share.u16().map(NamedGroup);
                if let Some(n) = share.u16() {
                    hello.key_share_len = usize::from(n);
                }
            }
            ext::EXTENDED_MASTER_SECRET => hello.extended_master_secret = true,
            // Empty on an initial handshake (RFC 5746 §3.6).
            ext::RENEGOTIATION_INFO => hello.secure_renegotiation = data == [0],
            _ => {}
        }
    }
    Some(hello)
}

fn count_certificates(body: &[u8]) -> Option<usize> {
    let mut m = Reader(body);
    let len = usize::try_from(m.u24()?).ok()?;
    let mut list = Reader(m.take(len)?);
    let mut count = 0;
    while let Some(n) = list.u24() {
        list.take(usize::try_from(n).ok()?)?;
        count += 1;
    }
    Some(count)
}

/// A ServerKeyExchange is read by the kind of suite chosen: ECDHE (RFC 8422 §5.4), DHE
/// (RFC 5246 §7.4.3); then, from TLS 1.2 on and for authenticated suites, the signature
/// scheme.
fn read_key_exchange(body: &[u8], flight: &mut FirstFlight) {
    let Some(hello) = &flight.hello else { return };
    let name = hello.cipher_suite.name();
    let mut m = Reader(body);
    let kx = if name.starts_with("TLS_ECDHE_") || name.starts_with("TLS_ECDH_anon_") {
        // curve_type named_curve (3), the group, the point.
        match (m.u8(), m.u16(), m.u8()) {
            (Some(3), Some(group), Some(point)) if m.take(usize::from(point)).is_some() => {
                Some(KeyExchange::Ecdhe {
                    group: NamedGroup(group),
                })
            }
            _ => None,
        }
    } else if name.starts_with("TLS_DHE_") || name.starts_with("TLS_DH_anon_") {
        let mut vector = || m.u16().and_then(|n| m.take(usize::from(n)));
        match (vector(), vector(), vector()) {
            (Some(p), Some(_g), Some(_ys)) => Some(KeyExchange::Dhe {
                prime_bits: significant_bits(p),
            }),
            _ => None,
        }
    } else {
        None
    };
    flight.key_exchange = kx;
    let signed = !name.contains("_anon_");
    if kx.is_some() && signed && hello.version >= TlsVersion::TLS12 {
        flight.signature_scheme = m.u16().map(SignatureScheme);
    }
}

fn significant_bits(number: &[u8]) -> usize {
    let Some(first) = number.iter().position(|b| *b != 0) else {
        return 0;
    };
    (number.len() - first - 1) * 8 + (8 - number[first].leading_zeros() as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![kind, 3, 3];
        out.extend((body.len() as u16).to_be_bytes());
        out.extend(body);
        out
    }

    fn message(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![kind];
        out.extend(&(body.len() as u32).to_be_bytes()[1..]);
        out.extend(body);
        out
    }

    fn hello(version: u16, random: [u8; 32], suite: u16, exts: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut body = version.to_be_bytes().to_vec();
        body.extend(random);
        body.push(0);
        body.extend(suite.to_be_bytes());
        body.push(0);
        let mut e = Vec::new();
        for (kind, data) in exts {
            e.extend(kind.to_be_bytes());
            e.extend((data.len() as u16).to_be_bytes());
            e.extend(data);
        }
        body.extend((e.len() as u16).to_be_bytes());
        body.extend(e);
        message(2, &body)
    }

    #[test]
    fn a_retry_request_names_the_group_the_server_wants() {
        let hrr = hello(
            0x0303,
            RETRY_RANDOM,
            0x1301,
            &[(0x002b, vec![3, 4]), (0x0033, vec![0x11, 0xec])],
        );
        let flight = parse_first_flight(&record(0x16, &hrr));
        let h = flight.hello.expect("a hello");
        assert!(h.retry);
        assert_eq!(h.version, TlsVersion::TLS13);
        assert_eq!(h.key_share, Some(NamedGroup(0x11ec)));
        assert_eq!(h.extensions, vec![0x002b, 0x0033]);
    }

    #[test]
    fn a_hybrid_share_is_seen_with_its_length() {
        let mut share = vec![0x11, 0xec];
        share.extend(1120u16.to_be_bytes());
        share.extend(vec![9u8; 1120]);
        let sh = hello(
            0x0303,
            [1; 32],
            0x1302,
            &[(0x002b, vec![3, 4]), (0x0033, share)],
        );
        // Split over two records, then ChangeCipherSpec and encrypted data.
        let (a, b) = sh.split_at(100);
        let mut bytes = record(0x16, a);
        bytes.extend(record(0x16, b));
        bytes.extend(record(0x14, &[1]));
        bytes.extend(record(0x17, &[0xaa; 40]));
        let h = parse_first_flight(&bytes).hello.expect("a hello");
        assert!(!h.retry);
        assert_eq!(h.key_share, Some(NamedGroup(0x11ec)));
        assert_eq!(h.key_share_len, 1120);
    }

    #[test]
    fn a_tls_1_2_flight_gives_group_signature_and_extensions() {
        let mut flight = hello(
            0x0303,
            [2; 32],
            0xc02f,
            &[(0xff01, vec![0]), (0x0017, vec![])],
        );
        let cert = [0x30u8, 0x03, 1, 2, 3];
        let mut list = Vec::new();
        list.extend(&(cert.len() as u32).to_be_bytes()[1..]);
        list.extend(cert);
        let mut certs = (list.len() as u32).to_be_bytes()[1..].to_vec();
        certs.extend(list);
        flight.extend(message(11, &certs));
        let mut ske = vec![3, 0x00, 0x17, 65];
        ske.extend([4u8; 65]);
        ske.extend([0x02, 0x01, 0, 2, 7, 7]); // rsa_pkcs1_sha1
        flight.extend(message(12, &ske));
        flight.extend(message(14, &[]));
        let f = parse_first_flight(&record(0x16, &flight));
        let h = f.hello.as_ref().expect("a hello");
        assert!(h.secure_renegotiation && h.extended_master_secret);
        assert_eq!(f.certificates, Some(1));
        assert_eq!(
            f.key_exchange,
            Some(KeyExchange::Ecdhe {
                group: NamedGroup(0x0017)
            })
        );
        assert_eq!(f.signature_scheme, Some(SignatureScheme(0x0201)));
        assert_eq!(
            f.signature_scheme.and_then(|s| s.weak_hash()),
            Some("SHA-1")
        );
        assert!(f.done);
    }

    #[test]
    fn a_dhe_prime_is_measured() {
        let mut flight = hello(0x0301, [3; 32], 0x0033, &[]);
        let mut ske = 128u16.to_be_bytes().to_vec();
        ske.push(0x80);
        ske.extend([0xffu8; 127]); // a 1024-bit prime
        ske.extend([0, 1, 2, 0, 2, 5, 5]);
        ske.extend([0, 4, 1, 2, 3, 4]); // TLS 1.0: MD5+SHA-1 signature, no scheme
        flight.extend(message(12, &ske));
        let f = parse_first_flight(&record(0x16, &flight));
        assert_eq!(f.key_exchange, Some(KeyExchange::Dhe { prime_bits: 1024 }));
        assert_eq!(f.signature_scheme, None);
        assert!(!f.done);
    }

    #[test]
    fn a_warning_before_the_hello_is_read_past() {
        let mut bytes = record(0x15, &[1, 112]);
        bytes.extend(record(
            0x16,
            &hello(0x0303, [5; 32], 0x1301, &[(0x002b, vec![3, 4])]),
        ));
        let f = parse_first_flight(&bytes);
        assert!(f.hello.is_some() && f.alert.is_none());
    }

    #[test]
    fn an_alert_is_a_refusal() {
        let f = parse_first_flight(&record(0x15, &[2, 40]));
        assert_eq!(f.hello, None);
        assert_eq!(
            f.alert,
            Some(Alert {
                fatal: true,
                description: 40
            })
        );
    }

    #[test]
    fn hostile_bytes_decode_to_nothing_or_less() {
        assert_eq!(parse_first_flight(b""), FirstFlight::default());
        let smtp = parse_first_flight(b"454 4.7.0 TLS not available\r\n");
        assert!(smtp.not_tls && smtp.complete() && smtp.hello.is_none());
        let full = record(
            0x16,
            &hello(0x0303, [5; 32], 0x1301, &[(0x002b, vec![3, 4])]),
        );
        for cut in 0..full.len() {
            assert_eq!(parse_first_flight(&full[..cut]).hello, None, "cut at {cut}");
        }
    }
}
