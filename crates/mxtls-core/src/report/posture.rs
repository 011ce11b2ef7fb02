//! An address's TLS posture as the report shows it (`check --json`: `addresses[].posture`).

use serde::{Deserialize, Serialize};

use crate::evidence::UnixTime;

/// Whether the server negotiates post-quantum hybrid key exchange (X25519MLKEM768).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PostQuantum {
    /// It asks for the hybrid group even when the sender sent a classical key share.
    Preferred,
    /// It takes a hybrid key share when one is sent.
    Supported,
    /// It answers a hybrid share with a retry for a classical group, or speaks no TLS 1.3:
    /// senders get no hybrid exchange from it.
    None,
    /// Not asked, or not answered.
    Unknown,
}

/// Where a reused posture comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostureReuse {
    pub snapshot: String,
    pub gathered_at: UnixTime,
}

/// What the posture sessions showed about one address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostureReport {
    /// Versions accepted, lowest first: `ssl3`, `tls1.0`, `tls1.1`, `tls1.2`, `tls1.3`.
    pub versions: Vec<String>,
    /// IANA names of the insufficient, anonymous and 3DES suites accepted.
    pub weak_suites: Vec<String>,
    /// Whether the server imposes its own suite order in TLS 1.2 (`None`: not known).
    pub server_order: Option<bool>,
    pub post_quantum: PostQuantum,
    /// Sessions the posture cost (in the check it was gathered in).
    pub sessions: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reused_from: Option<PostureReuse>,
    pub extended_master_secret: Option<bool>,
    pub secure_renegotiation: Option<bool>,
    pub compression: bool,
    /// The TLS 1.2 key exchange: a group name, or `DHE <bits>-bit`.
    pub key_exchange: Option<String>,
    /// The hash of the ServerKeyExchange signature where it is SHA-1 or MD5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weak_signature_hash: Option<String>,
    /// The server closed on a hello with a post-quantum key share.
    pub drops_large_hello: bool,
    /// Why part of the posture was not asked (the budget, the deadline), in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incomplete: Option<String>,
}
