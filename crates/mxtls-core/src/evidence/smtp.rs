//! SMTP evidence: each session with an address, step by step, and the TLS handshake.

use serde::{Deserialize, Serialize};

use super::Bytes;
use crate::names::DnsName;
use crate::tls::{CipherSuite, NamedGroup, TlsVersion};

/// Which certificate key types the client offered signature schemes for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyTypeOffer {
    Any,
    Rsa,
    Ecdsa,
    Ed25519,
}

/// The steps of a session, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    Connect,
    Banner,
    Ehlo,
    Starttls,
    Handshake,
    EhloTls,
    Quit,
}

impl Step {
    /// The machine id (the serde name); the words are the presentation layer's.
    pub fn id(self) -> &'static str {
        match self {
            Step::Connect => "connect",
            Step::Banner => "banner",
            Step::Ehlo => "ehlo",
            Step::Starttls => "starttls",
            Step::Handshake => "handshake",
            Step::EhloTls => "ehlo-tls",
            Step::Quit => "quit",
        }
    }
}

/// An SMTP reply: the three-digit code and the text of each line (after the code and the
/// separator), in full.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    pub code: u16,
    pub lines: Vec<String>,
}

/// What was sent or received, in order, for the transcript.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TranscriptLine {
    pub at_ms: u64,
    pub from: Party,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Party {
    Client,
    Server,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepTiming {
    pub step: Step,
    pub elapsed_ms: u64,
}

/// One SMTP conversation with one address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SmtpSession {
    pub port: u16,
    pub offered: KeyTypeOffer,
    #[serde(default)]
    pub banner: Option<Reply>,
    #[serde(default)]
    pub ehlo: Option<Reply>,
    #[serde(default)]
    pub starttls: Option<Reply>,
    #[serde(default)]
    pub tls: Option<TlsEvidence>,
    /// EHLO after the handshake.
    #[serde(default)]
    pub ehlo_tls: Option<Reply>,
    #[serde(default)]
    pub transcript: Vec<TranscriptLine>,
    #[serde(default)]
    pub timings: Vec<StepTiming>,
    /// Where and why the session stopped early; `None` when it ran to QUIT.
    #[serde(default)]
    pub stopped: Option<SessionStop>,
}

impl SmtpSession {
    /// A session that has not started yet.
    pub fn new(port: u16, offered: KeyTypeOffer) -> SmtpSession {
        SmtpSession {
            port,
            offered,
            banner: None,
            ehlo: None,
            starttls: None,
            tls: None,
            ehlo_tls: None,
            transcript: Vec::new(),
            timings: Vec::new(),
            stopped: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionStop {
    pub step: Step,
    pub error: SessionError,
    /// Milliseconds from the start of the session to the stop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_ms: Option<u64>,
}

/// Why a session stopped. The probe classifies the failure; the core decides what it means.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum SessionError {
    /// TCP connection refused (RST to our SYN).
    ConnectRefused,
    /// No answer to our SYN, or no route.
    ConnectTimeout,
    /// The step's deadline passed.
    Timeout,
    /// The peer reset the connection.
    Reset,
    /// The peer closed the connection.
    Closed,
    /// The peer replied with a code that ends the session (e.g. `421` or `554` greeting,
    /// `454` to STARTTLS).
    Rejected { code: u16 },
    /// Bytes that are not SMTP.
    Garbage { detail: String },
    /// A size or count limit was reached.
    Limit { what: String },
    /// After `220` to STARTTLS the server spoke cleartext SMTP instead of TLS.
    CleartextAfterStarttls { text: String },
    /// A TLS alert from the server.
    TlsAlert { description: String },
    /// Any other TLS failure.
    Tls { message: String },
    /// Any other I/O failure.
    Io { message: String },
}

/// The result of one TLS handshake, or of its ServerHello where the handshake went no
/// further (a server that chose a version the probe refuses). Parameters are IANA code
/// points; their names are derived (`crate::tls`) and never stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TlsEvidence {
    /// The SNI sent: the TLSA base domain.
    pub sni: DnsName,
    #[serde(default)]
    pub version: Option<TlsVersion>,
    #[serde(default)]
    pub cipher_suite: Option<CipherSuite>,
    #[serde(default)]
    pub kx_group: Option<NamedGroup>,
    /// The chain as presented, end entity first, DER.
    #[serde(default)]
    pub chain: Vec<Bytes>,
}
