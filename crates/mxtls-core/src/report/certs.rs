//! What the report says about certificates: their facts, their key kind, and why a path
//! does not validate.

use serde::{Deserialize, Serialize};

use crate::evidence::UnixTime;

/// The kind of key a certificate carries; servers may present one chain per kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyKind {
    Rsa,
    Ecdsa,
    Ed25519,
    Ed448,
    Other,
}

impl KeyKind {
    /// The key algorithm's name, as people write it (`RSA`, `ECDSA`).
    pub fn name(self) -> &'static str {
        match self {
            KeyKind::Rsa => "RSA",
            KeyKind::Ecdsa => "ECDSA",
            KeyKind::Ed25519 => "Ed25519",
            KeyKind::Ed448 => "Ed448",
            KeyKind::Other => "other",
        }
    }
}

/// What a person wants to know about one certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertFacts {
    pub subject: String,
    pub issuer: String,
    /// DNS names from the subject alternative name extension.
    pub dns_names: Vec<String>,
    /// Subject common names (used for matching only when there are no DNS SANs).
    pub common_names: Vec<String>,
    pub not_before: UnixTime,
    pub not_after: UnixTime,
    pub key: KeyKind,
    /// Key size in bits (RSA modulus, EC field size).
    pub key_bits: u32,
    pub signature_algorithm: String,
    pub is_ca: bool,
    /// Subject equals issuer.
    pub self_issued: bool,
}

/// Why a chain does not validate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum PathError {
    /// A certificate in the path is past its notAfter (or before notBefore).
    Expired,
    NotYetValid,
    /// No path to a trusted anchor (self-signed, private CA, missing intermediate).
    UnknownIssuer,
    /// Anything else webpki refused, in its words.
    Invalid {
        reason: String,
    },
}

impl std::fmt::Display for PathError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PathError::Expired => f.write_str("a certificate in the chain has expired"),
            PathError::NotYetValid => f.write_str("a certificate in the chain is not yet valid"),
            PathError::UnknownIssuer => {
                f.write_str("the chain does not lead to a trusted root (unknown issuer or missing intermediate)")
            }
            PathError::Invalid { reason } => write!(f, "the chain is invalid: {reason}"),
        }
    }
}
