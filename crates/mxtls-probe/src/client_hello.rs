//! ClientHellos made by hand, for the posture sessions: rustls can only offer what it would
//! accept, and a posture question needs a hello that offers TLS 1.0, export suites or a
//! post-quantum group without ever completing the handshake (the session closes after the
//! server's first flight). The keys in key shares are real (X25519, P-256, ML-KEM-768): a
//! server that checks a share before answering answers as it would to a real client.

use mxtls_core::names::DnsName;
use mxtls_core::tls::{CipherSuite, NamedGroup, TlsVersion};

/// The extension code points a hello here carries.
mod ext {
    pub const SERVER_NAME: u16 = 0x0000;
    pub const SUPPORTED_GROUPS: u16 = 0x000a;
    pub const EC_POINT_FORMATS: u16 = 0x000b;
    pub const SIGNATURE_ALGORITHMS: u16 = 0x000d;
    pub const PADDING: u16 = 0x0015;
    pub const EXTENDED_MASTER_SECRET: u16 = 0x0017;
    pub const SUPPORTED_VERSIONS: u16 = 0x002b;
    pub const PSK_KEY_EXCHANGE_MODES: u16 = 0x002d;
    pub const KEY_SHARE: u16 = 0x0033;
    pub const RENEGOTIATION_INFO: u16 = 0xff01;
}

/// The signature schemes offered: modern first, then the SHA-1 ones an old server may still
/// sign its ServerKeyExchange with (the first flight shows which it chose).
const SIGNATURE_SCHEMES: [u16; 13] = [
    0x0403, 0x0503, 0x0603, 0x0807, 0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601, 0x0203, 0x0201,
    0x0202,
];

/// The most suites one hello offers: some servers fail on longer lists.
pub const MAX_SUITES: usize = 127;

/// What one crafted hello offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelloSpec {
    /// The highest version offered. TLS 1.3 is offered through `supported_versions` (with
    /// TLS 1.2 beside it); below it, the legacy version field says it.
    pub max_version: TlsVersion,
    pub suites: Vec<CipherSuite>,
    /// Groups in `supported_groups`, in preference order.
    pub groups: Vec<NamedGroup>,
    /// TLS 1.3: the groups a key share is sent for (a subset of `groups`).
    pub key_shares: Vec<NamedGroup>,
    pub sni: Option<DnsName>,
}

/// Why a hello could not be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HelloError {
    /// Too many or no suites.
    Suites(usize),
    /// A key share for a group this encoder has no key generator for.
    NoKeyFor(NamedGroup),
    /// The system's random source or key generation failed.
    Keys,
}

impl std::fmt::Display for HelloError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HelloError::Suites(n) => write!(f, "a hello offers 1 to {MAX_SUITES} suites, not {n}"),
            HelloError::NoKeyFor(g) => write!(f, "no key share can be made for {}", g.name()),
            HelloError::Keys => write!(f, "the key shares could not be generated"),
        }
    }
}

/// The hello as TLS records, ready to write after STARTTLS.
pub fn encode(spec: &HelloSpec) -> Result<Vec<u8>, HelloError> {
    if spec.suites.is_empty() || spec.suites.len() > MAX_SUITES {
        return Err(HelloError::Suites(spec.suites.len()));
    }
    let tls13 = spec.max_version >= TlsVersion::TLS13;
    let legacy = if tls13 {
        TlsVersion::TLS12
    } else {
        spec.max_version
    };
    let mut body = legacy.0.to_be_bytes().to_vec();
    body.extend(random_bytes::<32>()?);
    // A 32-byte legacy session id, as TLS 1.3 clients send for middlebox compatibility.
    body.push(32);
    body.extend(random_bytes::<32>()?);
    let suites: Vec<u8> = spec.suites.iter().flat_map(|s| s.0.to_be_bytes()).collect();
    push_vec16(&mut body, &suites);
    body.extend([1, 0]); // compression: null only

    let mut exts = Vec::new();
    if let Some(sni) = &spec.sni {
        let name = sni.as_str().trim_end_matches('.').as_bytes();
        let mut entry = vec![0];
        push_vec16(&mut entry, name);
        let mut list = Vec::new();
        push_vec16(&mut list, &entry);
        push_ext(&mut exts, ext::SERVER_NAME, &list);
    }
    let groups: Vec<u8> = spec.groups.iter().flat_map(|g| g.0.to_be_bytes()).collect();
    let mut data = Vec::new();
    push_vec16(&mut data, &groups);
    push_ext(&mut exts, ext::SUPPORTED_GROUPS, &data);
    push_ext(&mut exts, ext::EC_POINT_FORMATS, &[1, 0]);
    let schemes: Vec<u8> = SIGNATURE_SCHEMES
        .iter()
        .flat_map(|s| s.to_be_bytes())
        .collect();
    // RFC 5246 §7.4.1.4.1: not offered by a client that offers nothing from TLS 1.2 on.
    if spec.max_version >= TlsVersion::TLS12 {
        let mut data = Vec::new();
        push_vec16(&mut data, &schemes);
        push_ext(&mut exts, ext::SIGNATURE_ALGORITHMS, &data);
    }
    push_ext(&mut exts, ext::EXTENDED_MASTER_SECRET, &[]);
    push_ext(&mut exts, ext::RENEGOTIATION_INFO, &[0]);
    if tls13 {
        push_ext(&mut exts, ext::SUPPORTED_VERSIONS, &[4, 3, 4, 3, 3]);
        push_ext(&mut exts, ext::PSK_KEY_EXCHANGE_MODES, &[1, 1]);
        let mut shares = Vec::new();
        for group in &spec.key_shares {
            shares.extend(group.0.to_be_bytes());
            push_vec16(&mut shares, &key_share(*group)?);
        }
        let mut data = Vec::new();
        push_vec16(&mut data, &shares);
        push_ext(&mut exts, ext::KEY_SHARE, &data);
    }
    // RFC 7685: a hello whose handshake message is 256-511 bytes long hangs some servers;
    // pad it to 512. (The padding extension's own 4 bytes count.)
    let unpadded = 4 + body.len() + 2 + exts.len();
    if (256..512).contains(&unpadded) {
        let pad = (512 - unpadded).saturating_sub(4);
        push_ext(&mut exts, ext::PADDING, &vec![0; pad]);
    }
    push_vec16(&mut body, &exts);

    let mut message = vec![1];
    message.extend(&u32_be24(body.len()));
    message.extend(body);
    // Records of at most 2^14 bytes, with the record version TLS 1.0 for the widest
    // acceptance (RFC 8446 §5.1 allows 0x0301 for the first hello).
    let mut records = Vec::with_capacity(message.len() + 10);
    for chunk in message.chunks(1 << 14) {
        records.extend([0x16, 0x03, 0x01]);
        push_vec16(&mut records, chunk);
    }
    Ok(records)
}

fn u32_be24(n: usize) -> [u8; 3] {
    let b = (n as u32).to_be_bytes();
    [b[1], b[2], b[3]]
}

/// A vector with a 16-bit length: every vector here is far below 64 KiB (suites ≤ 127,
/// shares ≤ 1.3 KB each).
fn push_vec16(out: &mut Vec<u8>, data: &[u8]) {
    out.extend((data.len() as u16).to_be_bytes());
    out.extend(data);
}

fn push_ext(out: &mut Vec<u8>, kind: u16, data: &[u8]) {
    out.extend(kind.to_be_bytes());
    push_vec16(out, data);
}

fn random_bytes<const N: usize>() -> Result<[u8; N], HelloError> {
    let mut bytes = [0u8; N];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| HelloError::Keys)?;
    Ok(bytes)
}

/// A fresh public key for a group: the private half is dropped, since the session ends at
/// the server's first flight.
fn key_share(group: NamedGroup) -> Result<Vec<u8>, HelloError> {
    use aws_lc_rs::agreement::{ECDH_P256, EphemeralPrivateKey, X25519};
    use aws_lc_rs::kem::{DecapsulationKey, ML_KEM_768};
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let public = |alg| -> Result<Vec<u8>, HelloError> {
        let key = EphemeralPrivateKey::generate(alg, &rng).map_err(|_| HelloError::Keys)?;
        let public = key.compute_public_key().map_err(|_| HelloError::Keys)?;
        Ok(public.as_ref().to_vec())
    };
    match group {
        NamedGroup(0x001d) => public(&X25519),
        NamedGroup(0x0017) => public(&ECDH_P256),
        // X25519MLKEM768: the ML-KEM-768 encapsulation key, then the X25519 key
        // (draft-ietf-tls-ecdhe-mlkem §3).
        NamedGroup(0x11ec) => {
            let kem = DecapsulationKey::generate(&ML_KEM_768).map_err(|_| HelloError::Keys)?;
            let ek = kem.encapsulation_key().map_err(|_| HelloError::Keys)?;
            let mut share = ek
                .key_bytes()
                .map_err(|_| HelloError::Keys)?
                .as_ref()
                .to_vec();
            share.extend(public(&X25519)?);
            Ok(share)
        }
        other => Err(HelloError::NoKeyFor(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(max_version: TlsVersion) -> HelloSpec {
        HelloSpec {
            max_version,
            suites: vec![CipherSuite(0x1301), CipherSuite(0xc02f)],
            groups: vec![NamedGroup(0x11ec), NamedGroup(0x001d), NamedGroup(0x0017)],
            key_shares: vec![NamedGroup(0x001d)],
            sni: DnsName::parse("mx.example.org").ok(),
        }
    }

    /// The hello's extensions, read back: (type, data).
    fn extensions(records: &[u8]) -> Vec<(u16, Vec<u8>)> {
        let mut message = Vec::new();
        let mut rest = records;
        while rest.len() >= 5 {
            let len = usize::from(u16::from_be_bytes([rest[3], rest[4]]));
            message.extend(&rest[5..5 + len]);
            rest = &rest[5 + len..];
        }
        assert_eq!(message[0], 1, "a ClientHello");
        let body = &message[4..];
        let mut at = 2 + 32;
        at += 1 + usize::from(body[at]);
        at += 2 + usize::from(u16::from_be_bytes([body[at], body[at + 1]]));
        at += 1 + usize::from(body[at]);
        let end = at + 2 + usize::from(u16::from_be_bytes([body[at], body[at + 1]]));
        assert_eq!(end, body.len(), "the extensions end the hello");
        at += 2;
        let mut out = Vec::new();
        while at < end {
            let kind = u16::from_be_bytes([body[at], body[at + 1]]);
            let len = usize::from(u16::from_be_bytes([body[at + 2], body[at + 3]]));
            out.push((kind, body[at + 4..at + 4 + len].to_vec()));
            at += 4 + len;
        }
        out
    }

    #[test]
    fn a_tls_1_3_hello_offers_versions_and_a_real_share() {
        let bytes = encode(&spec(TlsVersion::TLS13)).expect("a hello");
        let exts = extensions(&bytes);
        let find = |k: u16| exts.iter().find(|(kind, _)| *kind == k).map(|(_, d)| d);
        assert_eq!(find(ext::SUPPORTED_VERSIONS), Some(&vec![4, 3, 4, 3, 3]));
        let share = find(ext::KEY_SHARE).expect("key shares");
        assert_eq!(share[2..4], [0x00, 0x1d]);
        assert_eq!(u16::from_be_bytes([share[4], share[5]]), 32);
        assert!(find(ext::SERVER_NAME).is_some_and(|d| d.ends_with(b"mx.example.org")));
        let length = bytes.len() - 5 - 4;
        assert!(!(256..512).contains(&length), "padded past 511: {length}");
    }

    #[test]
    fn a_hybrid_share_carries_an_ml_kem_768_key_then_x25519() {
        let mut s = spec(TlsVersion::TLS13);
        s.key_shares = vec![NamedGroup(0x11ec)];
        let exts = extensions(&encode(&s).expect("a hello"));
        let (_, share) = exts
            .iter()
            .find(|(k, _)| *k == ext::KEY_SHARE)
            .expect("key shares");
        assert_eq!(share[2..4], [0x11, 0xec]);
        assert_eq!(u16::from_be_bytes([share[4], share[5]]), 1184 + 32);
    }

    #[test]
    fn an_old_version_hello_says_it_in_the_legacy_field_only() {
        let bytes = encode(&spec(TlsVersion::TLS11)).expect("a hello");
        assert_eq!(bytes[9..11], [0x03, 0x02]);
        let exts = extensions(&bytes);
        assert!(
            exts.iter()
                .all(|(k, _)| *k != ext::SUPPORTED_VERSIONS && *k != ext::KEY_SHARE)
        );
    }

    #[test]
    fn suite_counts_and_unknown_groups_are_refused() {
        let mut s = spec(TlsVersion::TLS12);
        s.suites = vec![CipherSuite(0xc02f); MAX_SUITES + 1];
        assert_eq!(encode(&s), Err(HelloError::Suites(MAX_SUITES + 1)));
        s.suites.clear();
        assert_eq!(encode(&s), Err(HelloError::Suites(0)));
        let mut s = spec(TlsVersion::TLS13);
        s.key_shares = vec![NamedGroup(0x0100)];
        assert_eq!(encode(&s), Err(HelloError::NoKeyFor(NamedGroup(0x0100))));
    }
}
