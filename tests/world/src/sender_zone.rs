//! The sender test's zone in the world (`Options::sender_test`): `sender.test`, signed, with
//! the records the sender test's design asks an operator to publish — written here from the
//! design, not by mxtls's own generator, so that a test can hold `mxtls sender-test zone`
//! against it — the receivers' certificate for `*.sender.test` from the world's PKI, and
//! the two MTA-STS policy hosts. The receivers themselves are mxtls's (`mxtls serve
//! --sender-test sender.test`), started by the test.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use sha2::{Digest, Sha256};

use crate::pki::{Error, KeyAlg, Pki};
use crate::scenarios::{Secondary, Serve, Signing};
use crate::{https, smtp, zones};

/// The zone the world's test domains live under.
pub const ZONE: &str = "sender.test";

/// The test domains' labels, in the order of `--sender-test-listen`.
pub const CASES: [&str; 8] = [
    "dane-valid",
    "dane-mismatch",
    "dnssec-no-tlsa",
    "sts-enforce",
    "sts-wrong-name",
    "starttls-broken",
    "starttls-stripped",
    "no-starttls",
];

/// A test domain's MX host: `mx-LABEL.ZONE`, but `mx.sts-wrong-name.ZONE` (out of reach of
/// the receivers' `*.ZONE` certificate).
pub fn mx_host(label: &str) -> String {
    if label == "sts-wrong-name" {
        format!("mx.{label}.{ZONE}")
    } else {
        format!("mx-{label}.{ZONE}")
    }
}

/// What a test needs to run the receivers against the world's zone.
#[derive(Debug, Clone)]
pub struct SenderTestWorld {
    pub zone: String,
    /// The receivers' addresses, in `Case::ALL`'s order (`--sender-test-listen`).
    pub listen: Vec<SocketAddr>,
    /// The receivers' chain and key, PEM (`--sender-test-cert`, `--sender-test-key`).
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl SenderTestWorld {
    /// `--sender-test-listen`'s value.
    pub fn listen_flag(&self) -> String {
        self.listen
            .iter()
            .map(SocketAddr::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// The zone, its policy hosts (serving until aborted) and what the receivers need.
pub async fn build(
    pki: &Pki,
    dir: &std::path::Path,
    net: u8,
    smtp_port: u16,
    https_port: u16,
) -> Result<
    (
        zones::Zone,
        Vec<tokio::task::JoinHandle<()>>,
        SenderTestWorld,
    ),
    Error,
> {
    let receiver = pki.leaf(&[format!("*.{ZONE}")], KeyAlg::Ecdsa, false, true)?;
    let cert = dir.join("sender-test-chain.pem");
    let key = dir.join("sender-test-key.pem");
    std::fs::write(&cert, &receiver.chain_pem)?;
    std::fs::write(&key, &receiver.key_pem)?;
    let listen: Vec<SocketAddr> = (1..=CASES.len() as u8)
        .map(|d| SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, net, 9, d)), smtp_port))
        .collect();
    let key_digest = receiver.spki_sha256();
    // Matches no key: the key's digest hashed again (any digest nobody's key has would do).
    let nothing: String = Sha256::digest(hex_bytes(&key_digest))
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut body = String::new();
    let mut servers = Vec::new();
    for (n, (label, at)) in CASES.iter().zip(&listen).enumerate() {
        let host = mx_host(label);
        body.push_str(&format!(
            "{label} 300 IN MX 10 {host}.\n{host}. 300 IN A {}\n",
            at.ip()
        ));
        let tlsa = match *label {
            "dane-valid" | "starttls-broken" | "starttls-stripped" => Some(&key_digest),
            "dane-mismatch" => Some(&nothing),
            _ => None,
        };
        if let Some(data) = tlsa {
            body.push_str(&format!("_25._tcp.{host}. 300 IN TLSA 3 1 1 {data}\n"));
        }
        if label.starts_with("sts-") {
            let domain = format!("{label}.{ZONE}");
            let addr = Ipv4Addr::new(127, net, 9, 100 + n as u8);
            body.push_str(&format!(
                "_mta-sts.{label} 300 IN TXT \"v=STSv1; id=1\"\nmta-sts.{label} 300 IN A {addr}\n"
            ));
            let policy =
                format!("version: STSv1\r\nmode: enforce\r\nmx: {host}\r\nmax_age: 86400\r\n");
            let leaf = pki.leaf(&[format!("mta-sts.{domain}")], KeyAlg::Ecdsa, false, true)?;
            let server = https::PolicyHost {
                serve: Serve::Policy(Box::leak(policy.into_boxed_str())),
                domain,
                tls: smtp::tls_config(&leaf, None)?,
            };
            servers
                .push(https::listen(SocketAddr::new(IpAddr::V4(addr), https_port), server).await?);
        }
    }
    let zone = zones::Zone {
        origin: format!("{ZONE}."),
        body,
        signing: Signing::Signed,
        first_host: format!("{}.", mx_host(CASES[0])),
        secondary: Secondary::None,
    };
    Ok((
        zone,
        servers,
        SenderTestWorld {
            zone: ZONE.into(),
            listen,
            cert,
            key,
        },
    ))
}

fn hex_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len() / 2)
        .filter_map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}
