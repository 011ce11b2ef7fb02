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

use crate::names::DnsName;

mod authoritative;
mod dns;
mod mta_sts;
mod posture;
mod schema;
mod smtp;

pub use authoritative::{DirectAnswer, ServerAnswers, ZoneServers};
pub use dns::{CnameLink, DnsAnswer, DnsOutcome, DnssecState, Record};
pub use mta_sts::{FetchFailure, MtaStsEvidence, PolicyFetch};
pub use posture::{FlightEnd, HelloOffer, PostureEvidence, PostureSession, Question};
pub use schema::migrate_v1;
pub use smtp::{
    KeyTypeOffer, Party, Reply, SessionError, SessionStop, SmtpSession, Step, StepTiming,
    TlsEvidence, TranscriptLine,
};

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
    /// The DNSKEY and DS answers of the zones whose data failed validation, fetched to say
    /// why (an expired signature, a DS that names no key, data changed after signing).
    #[serde(default)]
    pub dnssec_chain: Vec<DnsAnswer>,
    /// Every authoritative server of the domain's zone and of each MX host's zone, asked
    /// directly: what senders whose resolver picks that server see.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authoritative: Vec<ZoneServers>,
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
    /// Where the probe ran, when a cluster names its workers (`mxtls worker --vantage`):
    /// what a server saw depends on who connected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vantage: Option<String>,
    /// The EHLO name the probe gave (`--ehlo`): receivers judge a client by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ehlo: Option<String>,
    /// The source addresses the probe connected from (`--source-ipv4/6`); empty: the
    /// kernel chose.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source: Vec<std::net::IpAddr>,
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
    /// When several MX hosts name this address it is probed once: the host the sessions were
    /// run for (their SNI is that host's), where it is another one than this entry's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probed_for: Option<DnsName>,
    /// The sessions were not run for this check: the checker's session budget for the
    /// address was spent, so they are those of an earlier check (another domain's, when
    /// domains share a mail server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reused: Option<ReusedSessions>,
    /// The posture sessions (versions, weak suites, server order, post-quantum): crafted
    /// hellos answered by a first flight. Absent in evidence from before they existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub posture: Option<PostureEvidence>,
}

/// Where reused sessions of an address come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReusedSessions {
    /// The snapshot they were taken from.
    pub snapshot: String,
    /// When that check finished.
    pub gathered_at: UnixTime,
    /// Why they were not run again, in words.
    pub reason: String,
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
    /// On the operator's opt-out list (`--never-probe`): not connected. `entry` is the
    /// list's line that covers the host or address.
    OptedOut {
        entry: String,
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
