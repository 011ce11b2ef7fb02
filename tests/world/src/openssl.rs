//! Debian's `openssl` as an independent oracle: what the tests compare mxtls's own
//! certificate and digest code with, so that a bug in that code cannot confirm itself.

use std::process::Command;
use std::time::Duration;

use crate::process::output_with_input;

fn openssl(args: &[&str], input: &[u8]) -> Vec<u8> {
    let out = output_with_input(
        Command::new("openssl").args(args),
        input,
        Duration::from_secs(30),
    )
    .unwrap_or_else(|e| panic!("openssl {args:?}: {e} (scripts/setup.sh installs openssl)"));
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The DER SubjectPublicKeyInfo of a DER certificate, as OpenSSL extracts it.
pub fn spki(cert_der: &[u8]) -> Vec<u8> {
    let pem = openssl(&["x509", "-inform", "DER", "-noout", "-pubkey"], cert_der);
    openssl(&["pkey", "-pubin", "-outform", "DER"], &pem)
}

/// SHA-256 of `data`, by OpenSSL.
pub fn sha256(data: &[u8]) -> Vec<u8> {
    openssl(&["dgst", "-sha256", "-binary"], data)
}

/// SHA-512 of `data`, by OpenSSL.
pub fn sha512(data: &[u8]) -> Vec<u8> {
    openssl(&["dgst", "-sha512", "-binary"], data)
}

/// Every certificate of a PEM bundle, as DER.
pub fn pem_bundle(pem: &str) -> Vec<Vec<u8>> {
    pem.split("-----BEGIN CERTIFICATE-----")
        .skip(1)
        .filter_map(|c| c.split("-----END CERTIFICATE-----").next())
        .map(|block| {
            let pem = format!("-----BEGIN CERTIFICATE-----{block}-----END CERTIFICATE-----\n");
            openssl(&["x509", "-outform", "DER"], pem.as_bytes())
        })
        .collect()
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_openssl_s() {
        assert_eq!(
            hex(&sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(&hex(&sha512(b"abc"))[..16], "ddaf35a193617aba");
    }
}
