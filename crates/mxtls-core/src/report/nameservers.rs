//! The authoritative servers of each zone on the path, as the report shows them: a table
//! when they disagree, one line when they agree.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::names::DnsName;

/// One zone's servers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NameserverZone {
    pub zone: DnsName,
    pub servers: Vec<NameserverRow>,
    /// Every server answered alike: the views fold the zone to one line.
    pub agree: bool,
}

/// One server address of a zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NameserverRow {
    pub name: DnsName,
    pub ip: IpAddr,
    pub serial: Option<u32>,
    /// What sets it apart from the others, in words; empty where it agrees.
    #[serde(default)]
    pub differs: Vec<String>,
}
