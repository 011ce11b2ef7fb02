//! The evidence model: everything the probe saw, and nothing it concluded.
//!
//! `Evidence` is what a probe run produces, what a snapshot stores and what `analyse` judges.
//! It is versioned ([`SCHEMA_VERSION`]) and only ever grows: new fields are optional
//! (`#[serde(default)]`) so that old snapshots keep loading. DNS data is kept in wire form
//! (record data as the server sent it, the whole response message beside it) and decoded by
//! the core with hickory-proto, so that a snapshot can be re-analysed by later code that
//! understands more of it.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::names::{DnsName, RecordType};
use crate::tls::{CipherSuite, NamedGroup, TlsVersion};

/// Version of the evidence schema. Bump it when a change is not purely additive, and teach
/// [`Evidence::from_json`] to read the older form.
///
/// * 1 — TLS parameters as names (`"TLSv1.3"`, `"TLS13_AES_256_GCM_SHA384"`, `"X25519"`).
/// * 2 — TLS parameters as IANA code points; schema 1 is read by [`migrate_v1`].
pub const SCHEMA_VERSION: u32 = 2;

/// Seconds since the Unix epoch, UTC. The core never reads a clock: every time it needs is a
/// value of this type given to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UnixTime(pub i64);

/// Bytes that travel as base64 in JSON (certificates, wire messages, record data).
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Bytes(pub Vec<u8>);

impl std::fmt::Debug for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bytes({} bytes)", self.0.len())
    }
}

impl Serialize for Bytes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use base64::Engine;
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use base64::Engine;
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(text.as_bytes())
            .map(Bytes)
            .map_err(serde::de::Error::custom)
    }
}

impl From<Vec<u8>> for Bytes {
    fn from(v: Vec<u8>) -> Self {
        Bytes(v)
    }
}

impl AsRef<[u8]> for Bytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// One probe run against one mail domain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// [`SCHEMA_VERSION`] of the writer.
    pub schema: u32,
    pub probe: ProbeInfo,
    /// The domain checked, as an A-label name.
    pub domain: DnsName,
    /// How the probe resolved names, and what its resolver did with DNSSEC.
    pub resolver: ResolverEvidence,
    /// The MX lookup for `domain`.
    pub mx: DnsAnswer,
    /// One entry per mail host the probe looked at: the MX targets, or the domain itself when
    /// there is no MX (implicit MX, RFC 5321 §5.1).
    #[serde(default)]
    pub hosts: Vec<HostEvidence>,
    #[serde(default)]
    pub mta_sts: MtaStsEvidence,
    /// `_smtp._tls.<domain>` TXT (RFC 8460).
    #[serde(default)]
    pub tls_rpt: Option<DnsAnswer>,
    /// Limits the probe ran into; the data behind them is partial.
    #[serde(default)]
    pub limits_hit: Vec<LimitHit>,
    /// Judgement inputs chosen when the probe ran (extra PKIX roots for a test world).
    #[serde(default)]
    pub settings: ProbeSettings,
}

impl Evidence {
    /// Reads evidence from JSON — bare, or the `evidence` member of a `--json` report —
    /// refusing a schema newer than this code understands.
    pub fn from_json(text: &str) -> Result<Evidence, EvidenceError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| EvidenceError::Json(e.to_string()))?;
        Evidence::from_value(value)
    }

    /// [`Evidence::from_json`] for JSON already parsed.
    pub fn from_value(mut value: serde_json::Value) -> Result<Evidence, EvidenceError> {
        if value.get("schema").is_none()
            && let Some(inner) = value.get_mut("evidence")
        {
            value = inner.take();
        }
        let schema = value
            .get("schema")
            .and_then(|s| s.as_u64())
            .ok_or(EvidenceError::NoSchema)?;
        if schema > u64::from(SCHEMA_VERSION) {
            return Err(EvidenceError::TooNew(schema));
        }
        if schema == 1 {
            migrate_v1(&mut value);
        }
        serde_json::from_value(value).map_err(|e| EvidenceError::Json(e.to_string()))
    }
}

/// Schema 1 → 2: the TLS parameters of every handshake (SMTP sessions and the MTA-STS policy
/// fetch) from names to code points. A name this code does not know becomes "not recorded",
/// which is all schema 1 could say about it.
pub fn migrate_v1(value: &mut serde_json::Value) {
    fn tls(t: &mut serde_json::Value) {
        let Some(t) = t.as_object_mut() else { return };
        let code = |v: Option<&serde_json::Value>, f: fn(&str) -> Option<u16>| {
            v.and_then(|v| v.as_str())
                .and_then(f)
                .map_or(serde_json::Value::Null, serde_json::Value::from)
        };
        let version = code(t.get("version"), |n| TlsVersion::from_name(n).map(|v| v.0));
        let suite = code(t.get("cipher_suite"), |n| {
            CipherSuite::from_name(n).map(|v| v.0)
        });
        let group = code(t.get("kx_group"), |n| NamedGroup::from_name(n).map(|v| v.0));
        t.insert("version".into(), version);
        t.insert("cipher_suite".into(), suite);
        t.insert("kx_group".into(), group);
    }
    if let Some(hosts) = value.get_mut("hosts").and_then(|h| h.as_array_mut()) {
        for host in hosts {
            let addresses = host.get_mut("addresses").and_then(|a| a.as_array_mut());
            for address in addresses.into_iter().flatten() {
                let sessions = address.get_mut("sessions").and_then(|s| s.as_array_mut());
                for session in sessions.into_iter().flatten() {
                    if let Some(t) = session.get_mut("tls") {
                        tls(t);
                    }
                }
            }
        }
    }
    if let Some(t) = value.pointer_mut("/mta_sts/policy/tls") {
        tls(t);
    }
    value["schema"] = serde_json::Value::from(2);
}

/// Why evidence could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EvidenceError {
    Json(String),
    NoSchema,
    TooNew(u64),
}

impl std::fmt::Display for EvidenceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EvidenceError::Json(e) => write!(f, "not valid evidence JSON: {e}"),
            EvidenceError::NoSchema => write!(f, "not evidence: no \"schema\" field"),
            EvidenceError::TooNew(v) => write!(
                f,
                "evidence schema {v} is newer than this mxtls understands ({SCHEMA_VERSION})"
            ),
        }
    }
}

impl std::error::Error for EvidenceError {}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeInfo {
    /// `mxtls-probe` version that gathered the evidence.
    pub version: String,
    pub started_at: UnixTime,
    pub finished_at: UnixTime,
}

/// Settings that change how evidence is judged, recorded with it so that a snapshot is judged
/// the same way when it is reopened.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProbeSettings {
    /// Extra PKIX trust anchors (DER certificates) beside the Mozilla root set.
    #[serde(default)]
    pub extra_pkix_roots: Vec<Bytes>,
    /// The probe was allowed to connect to non-public addresses (tests only).
    #[serde(default)]
    pub allow_private_targets: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResolverEvidence {
    /// The upstream resolver as `IP:PORT`, or `system`.
    pub address: String,
    /// Whether the resolver passes DNSSEC records through at all.
    pub rrsigs: RrsigSupport,
}

/// Whether the upstream resolver returned RRSIGs when asked with DO=1 for data that is signed
/// (the root DNSKEY RRset). A resolver that strips them makes every answer look unsigned: the
/// probe's view is degraded, the domain is not to blame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RrsigSupport {
    Present,
    Absent,
    Unknown,
}

/// One DNS question and everything the probe learned answering it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DnsAnswer {
    pub qname: DnsName,
    pub qtype: RecordType,
    pub outcome: DnsOutcome,
    /// The response code of the final response (0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN…).
    #[serde(default)]
    pub rcode: Option<u16>,
    /// The answer RRset at the end of any CNAME chain, RRSIGs excluded.
    #[serde(default)]
    pub records: Vec<Record>,
    /// CNAMEs followed from `qname`, in order, each with its own DNSSEC state.
    #[serde(default)]
    pub cname_chain: Vec<CnameLink>,
    /// DNSSEC state of the answer RRset, or of the denial of existence for NODATA/NXDOMAIN.
    pub dnssec: DnssecState,
    /// Set when validation failed with CD=0 (a validating resolver answers SERVFAIL) and the
    /// probe asked again with CD=1 to see the data and why it fails.
    #[serde(default)]
    pub validation_failed: bool,
    /// The whole response message as received.
    #[serde(default)]
    pub wire: Option<Bytes>,
    #[serde(default)]
    pub elapsed_ms: Option<u64>,
}

/// How a DNS question ended. NODATA and NXDOMAIN are answers, not failures; SERVFAIL, a
/// timeout or a refusal are failures, and senders that meet them defer mail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum DnsOutcome {
    /// One or more records of the asked type.
    Data,
    /// The name exists, the type does not.
    NoData,
    /// The name does not exist.
    NxDomain,
    ServFail,
    Refused,
    Timeout,
    /// Anything else: a malformed response, a network error.
    Error {
        message: String,
    },
}

impl DnsOutcome {
    /// True where the lookup produced no usable answer (senders defer).
    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            DnsOutcome::ServFail
                | DnsOutcome::Refused
                | DnsOutcome::Timeout
                | DnsOutcome::Error { .. }
        )
    }

    /// True for NODATA and NXDOMAIN.
    pub fn is_denial(&self) -> bool {
        matches!(self, DnsOutcome::NoData | DnsOutcome::NxDomain)
    }

    /// The machine id: `data`, `nodata`, `nxdomain`, `servfail`, `refused`, `timeout`, `error`.
    pub fn id(&self) -> &'static str {
        match self {
            DnsOutcome::Data => "data",
            DnsOutcome::NoData => "nodata",
            DnsOutcome::NxDomain => "nxdomain",
            DnsOutcome::ServFail => "servfail",
            DnsOutcome::Refused => "refused",
            DnsOutcome::Timeout => "timeout",
            DnsOutcome::Error { .. } => "error",
        }
    }
}

impl DnsAnswer {
    /// Whether the answer fails DNSSEC validation (bogus, or a validating resolver would
    /// answer SERVFAIL) — as opposed to a lookup that got no answer at all.
    pub fn fails_validation(&self) -> bool {
        self.validation_failed
            || matches!(self.dnssec, DnssecState::Bogus { .. })
            || (matches!(self.dnssec, DnssecState::Indeterminate { .. })
                && !self.outcome.is_failure())
    }

    /// Whether the lookup got no usable answer: a timeout, SERVFAIL, a refusal or an error
    /// that is not a validation failure.
    pub fn got_no_answer(&self) -> bool {
        self.outcome.is_failure() && !self.fails_validation()
    }
}

/// The DNSSEC validation state of an RRset or denial (RFC 4035 §4.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum DnssecState {
    /// Validated from the trust anchor.
    Secure,
    /// Provably unsigned: an insecure delegation above it.
    Insecure,
    /// Should be signed but the signatures or proofs do not validate.
    Bogus { reason: String },
    /// Could not be determined (e.g. the keys could not be fetched).
    Indeterminate { reason: String },
}

impl DnssecState {
    /// Order from worst to best, for combining the states along a CNAME chain.
    fn rank(&self) -> u8 {
        match self {
            DnssecState::Bogus { .. } => 0,
            DnssecState::Indeterminate { .. } => 1,
            DnssecState::Insecure => 2,
            DnssecState::Secure => 3,
        }
    }

    /// The weaker of two states: a chain is only as secure as its weakest link.
    pub fn weakest<'a>(&'a self, other: &'a DnssecState) -> &'a DnssecState {
        if other.rank() < self.rank() {
            other
        } else {
            self
        }
    }

    pub fn is_secure(&self) -> bool {
        matches!(self, DnssecState::Secure)
    }

    /// Bogus or indeterminate: validating senders cannot use the answer and defer.
    pub fn is_failed(&self) -> bool {
        matches!(
            self,
            DnssecState::Bogus { .. } | DnssecState::Indeterminate { .. }
        )
    }

    /// The machine id: `secure`, `insecure`, `bogus`, `indeterminate`.
    pub fn id(&self) -> &'static str {
        match self {
            DnssecState::Secure => "secure",
            DnssecState::Insecure => "insecure",
            DnssecState::Bogus { .. } => "bogus",
            DnssecState::Indeterminate { .. } => "indeterminate",
        }
    }
}

/// One resource record in wire form; the rules layer (`dns`) decodes it with hickory-proto.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub name: DnsName,
    pub rtype: RecordType,
    pub ttl: u32,
    /// RDATA exactly as received (uncompressed).
    pub rdata: Bytes,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CnameLink {
    pub from: DnsName,
    pub to: DnsName,
    pub dnssec: DnssecState,
}

/// Why the probe looked at a mail host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum HostOrigin {
    /// A target of the domain's MX RRset.
    Mx { preference: u16 },
    /// No MX RRset: the domain's own address records are used (RFC 5321 §5.1).
    Implicit,
}

/// One mail host (an MX target) and everything gathered for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostEvidence {
    /// The name as it appears in the MX record (or the domain, for implicit MX).
    pub name: DnsName,
    pub origin: HostOrigin,
    /// `A` lookup (with the CNAME chain, if the name is an alias).
    #[serde(default)]
    pub a: Option<DnsAnswer>,
    /// `AAAA` lookup.
    #[serde(default)]
    pub aaaa: Option<DnsAnswer>,
    /// TLSA lookups at `_25._tcp.<base>`, in the order made: the CNAME-expanded name first
    /// when the expansion was secure, then the original name (RFC 7672 §2.2.3).
    #[serde(default)]
    pub tlsa: Vec<DnsAnswer>,
    /// One entry per address found.
    #[serde(default)]
    pub addresses: Vec<AddressEvidence>,
}

/// One address of one mail host: whether we were allowed to connect, and what the server did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AddressEvidence {
    pub ip: IpAddr,
    pub target: TargetDecision,
    /// SMTP sessions with this address: the first offers every key type; later ones restrict
    /// the signature schemes to get the server's other certificates.
    #[serde(default)]
    pub sessions: Vec<SmtpSession>,
}

/// The probe's target policy decision for an address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "kebab-case")]
pub enum TargetDecision {
    Allowed,
    /// Not a global unicast address (loopback, private, documentation…): not connected.
    Refused {
        reason: String,
    },
}

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
    /// The machine id (the serde name); [`crate::present::step`] has the words.
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

/// MTA-STS (RFC 8461) evidence: the TXT record and the policy fetch.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MtaStsEvidence {
    /// `_mta-sts.<domain>` TXT.
    #[serde(default)]
    pub txt: Option<DnsAnswer>,
    #[serde(default)]
    pub policy: Option<PolicyFetch>,
}

/// The HTTPS fetch of `https://mta-sts.<domain>/.well-known/mta-sts.txt`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

/// A probe limit that was reached, and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitHit {
    /// e.g. `mx-hosts`, `addresses-per-host`, `reply-bytes`, `deadline`.
    pub limit: String,
    /// What it cut short, e.g. the host name.
    pub subject: String,
    pub detail: String,
}

impl std::fmt::Display for UnixTime {
    /// `2026-11-28 15:04:05 UTC` (proleptic Gregorian; Howard Hinnant's civil-from-days).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let days = self.0.div_euclid(86_400);
        let secs = self.0.rem_euclid(86_400);
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        write!(
            f,
            "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
            secs / 3600,
            secs % 3600 / 60,
            secs % 60
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_time_formats_as_utc_date() {
        assert_eq!(UnixTime(0).to_string(), "1970-01-01 00:00:00 UTC");
        assert_eq!(
            UnixTime(1_795_824_000).to_string(),
            "2026-11-28 00:00:00 UTC"
        );
        assert_eq!(UnixTime(951_782_400).to_string(), "2000-02-29 00:00:00 UTC");
    }

    #[test]
    fn newer_schema_is_refused_with_a_clear_error() {
        let err = Evidence::from_json(r#"{"schema": 999}"#).unwrap_err();
        assert_eq!(err, EvidenceError::TooNew(999));
        assert!(matches!(
            Evidence::from_json("[1,2]"),
            Err(EvidenceError::NoSchema)
        ));
        assert!(matches!(
            Evidence::from_json("{"),
            Err(EvidenceError::Json(_))
        ));
    }
}
