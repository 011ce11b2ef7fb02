//! What the report says about DANE for one chain: which records matched, which
//! authenticated it, and why a DANE-TA record did not.

use serde::{Deserialize, Serialize};

use super::PathError;

/// A TLSA record that matched something in a chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsaMatch {
    /// Index into the host's TLSA RRset.
    pub record: usize,
    /// Index into the presented chain; `None` when the trust anchor came from the record.
    pub cert: Option<usize>,
}

/// Why a DANE-TA record that matched did not authenticate the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum TaProblem {
    /// A digest TA record matches no presented certificate: the server must send its TA.
    NotInChain,
    /// The chain does not validate up to the trust anchor.
    Path { error: PathError },
    /// The end entity carries none of the reference identifiers.
    NameMismatch { presented: Vec<String> },
}

/// The DANE outcome for one chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainDane {
    /// The record that authenticated the chain, if any.
    pub authenticated_by: Option<usize>,
    /// Every record that matched a certificate of the chain.
    pub matches: Vec<TlsaMatch>,
    /// DANE-TA records and why each failed.
    pub ta_problems: Vec<(usize, TaProblem)>,
}

impl ChainDane {
    pub fn authenticated(&self) -> bool {
        self.authenticated_by.is_some()
    }
}
