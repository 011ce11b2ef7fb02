//! MTA-STS evidence: the TXT record and the HTTPS fetch of the policy.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::{Bytes, DnsAnswer, TlsEvidence};

/// MTA-STS (RFC 8461) evidence: the TXT record and the policy fetch.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MtaStsEvidence {
    /// `_mta-sts.<domain>` TXT.
    #[serde(default)]
    pub txt: Option<DnsAnswer>,
    #[serde(default)]
    pub policy: Option<PolicyFetch>,
}

/// The HTTPS fetch of `https://mta-sts.<domain>/.well-known/mta-sts.txt`. `Default` is a
/// fetch that has not started: nothing recorded yet.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PolicyFetch {
    pub url: String,
    #[serde(default)]
    pub address: Option<IpAddr>,
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub content_type: Option<String>,
    #[serde(default)]
    pub location: Option<String>,
    #[serde(default)]
    pub body: Option<Bytes>,
    #[serde(default)]
    pub tls: Option<TlsEvidence>,
    /// Free text of schema-1 probes; [`PolicyFetch::failure`] says it typed.
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub elapsed_ms: Option<u64>,
    /// Why no policy body was obtained, for the core to explain; `None` when a body came.
    #[serde(default)]
    pub failure: Option<FetchFailure>,
    /// The A and AAAA lookups of the policy host.
    #[serde(default)]
    pub lookups: Vec<DnsAnswer>,
}

/// Why the policy fetch stopped (RFC 8461 §3.3 limits).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum FetchFailure {
    /// `mta-sts.<domain>` has no address.
    NoAddress,
    /// The target policy refused every address (not public).
    Refused {
        reason: String,
    },
    Connect {
        message: String,
    },
    /// The TLS handshake failed (before any certificate judgement).
    Tls {
        message: String,
    },
    /// A deadline passed.
    Timeout,
    /// The answer is not HTTP we can read.
    Http {
        message: String,
    },
    /// The body exceeds the size limit.
    TooLarge {
        limit: usize,
    },
}
