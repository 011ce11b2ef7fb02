//! What each authoritative server of a zone on the path answered when asked directly
//! (RD=0, DO=1), beside the validating resolver's one view: a secondary that missed the new
//! zone, a server that drops TLSA queries, signatures that run out on one server first.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::{Bytes, Record};
use crate::names::{DnsName, RecordType};

/// One zone and its servers' answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZoneServers {
    pub zone: DnsName,
    /// The names on the path whose zone this is (the domain, MX hosts).
    #[serde(default)]
    pub for_names: Vec<DnsName>,
    /// Child zones on the path whose DS records these servers (of the parent) were asked for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub delegations: Vec<DnsName>,
    /// The zone's NS RRset, as the resolver answered it.
    #[serde(default)]
    pub ns: Vec<DnsName>,
    #[serde(default)]
    pub servers: Vec<ServerAnswers>,
    /// Servers or addresses not asked (over the bound, not a public address), in words.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<String>,
}

/// One server address and its answers, one per question, in the same order for every
/// server of the zone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerAnswers {
    /// The NS name the address belongs to.
    pub name: DnsName,
    pub ip: IpAddr,
    #[serde(default)]
    pub answers: Vec<DirectAnswer>,
}

/// One question asked of one server, and its response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DirectAnswer {
    pub qname: DnsName,
    pub qtype: RecordType,
    /// The response code, where a response came.
    #[serde(default)]
    pub rcode: Option<u16>,
    /// The AA bit: the server answered for the zone (a lame one does not).
    #[serde(default)]
    pub authoritative: bool,
    /// The answer section, RRSIGs included, RDATA uncompressed.
    #[serde(default)]
    pub records: Vec<Record>,
    /// The whole response message as received.
    #[serde(default)]
    pub wire: Option<Bytes>,
    /// Why no usable response came (a timeout, a refused connection, a malformed message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default)]
    pub elapsed_ms: Option<u64>,
}
