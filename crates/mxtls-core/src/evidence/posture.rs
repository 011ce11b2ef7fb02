//! The posture sessions of one address: each a crafted ClientHello after STARTTLS and the
//! server's first flight, kept as bytes (decoded by `crate::tls`), so that later code can
//! read more of them.

use serde::{Deserialize, Serialize};

use super::{Bytes, ReusedSessions, SessionStop};
use crate::tls::{CipherSuite, NamedGroup, TlsVersion};

/// What one posture session asks (the core's plan decides which, and in what order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Question {
    /// TLS 1.3 with the hybrid group listed first and a classical key share only: a
    /// HelloRetryRequest for the hybrid group means the server prefers it.
    PostQuantum,
    /// The hybrid key share itself (asked when the server did not retry for it): accepted
    /// means supported; a server that drops the large hello is seen here.
    PostQuantumShare,
    /// TLS ≤ 1.2 with insufficient and anonymous suites only.
    WeakSuites,
    /// The same without the suites already accepted.
    WeakSuitesAgain,
    /// Highest version TLS 1.1.
    OldVersions,
    /// Highest version TLS 1.0 (asked when TLS 1.1 was accepted).
    OldVersionsAgain,
    /// TLS 1.2 with the modern suites in the reverse of the main session's order.
    ServerOrder,
}

/// The hello a session sent, as offered (the keys themselves are not kept).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelloOffer {
    pub max_version: TlsVersion,
    pub suites: Vec<CipherSuite>,
    pub groups: Vec<NamedGroup>,
    #[serde(default)]
    pub key_shares: Vec<NamedGroup>,
}

/// How reading a first flight ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FlightEnd {
    /// Everything a posture question needs arrived.
    Complete,
    /// The server closed the connection (often its answer to a hello it will not take).
    Closed,
    /// The byte limit was reached first.
    Limit,
    /// The deadline passed.
    Deadline,
}

/// One posture session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PostureSession {
    pub question: Question,
    pub offer: HelloOffer,
    /// What the server sent after the hello, bounded.
    #[serde(default)]
    pub flight: Bytes,
    /// `None` when the session stopped before the hello was sent (see `stopped`).
    #[serde(default)]
    pub end: Option<FlightEnd>,
    /// Why the session ended before the hello (no STARTTLS this time, a refused
    /// connection…): the question stays unanswered.
    #[serde(default)]
    pub stopped: Option<SessionStop>,
}

/// The posture part of one address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct PostureEvidence {
    #[serde(default)]
    pub sessions: Vec<PostureSession>,
    /// The sessions are those of an earlier check (posture changes rarely, and the budget
    /// decides): where they come from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reused: Option<ReusedSessions>,
    /// Why no posture sessions were run and none reused (the budget was short, STARTTLS
    /// failed), in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// How long the posture sessions took, from the first one's permit to the last one's
    /// end (none when reused): what the posture added after the verdict-bearing sessions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elapsed_ms: Option<u64>,
}

impl PostureEvidence {
    /// Whether the posture was asked to its end (not skipped or cut short): only such a
    /// posture stands in for a later one.
    pub fn is_whole(&self) -> bool {
        !self.sessions.is_empty() && self.skipped.is_none()
    }
}
