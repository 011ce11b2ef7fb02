//! The contract between `mxtls serve` and the page: the bodies of the JSON API and the
//! events of the check stream, as types that both ends use — the server serialises them, the
//! browser deserialises them, so neither picks fields out of untyped JSON.
//!
//! The check stream (`GET /api/check/{domain}`, `text/event-stream`) sends [`StreamEvent`]s:
//! `progress` while the probe works, then exactly one `evidence` or `error`; the page reads
//! its framing with [`sse::Parser`].

pub mod sse;

use serde::{Deserialize, Serialize};

use crate::evidence::{Evidence, EvidenceError};
use crate::progress::Event;

/// Reads JSON into `T` through `serde_json::Value`, as evidence is read: the browser build
/// then carries one deserializer per type (Value's) instead of one per input kind — a
/// measured part of the first load.
pub fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    serde_json::from_value(value).map_err(|e| e.to_string())
}

/// A finished check (`evidence` event, `/api/domains/{d}/latest`): the evidence and the id
/// of the snapshot that stores it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckAnswer {
    pub snapshot: String,
    pub evidence: Evidence,
    /// The server answered with a recent check of the domain instead of probing again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reused: bool,
}

impl CheckAnswer {
    /// Reads an answer; the evidence goes through [`Evidence::from_value`], so snapshots of
    /// an older schema load as they do everywhere else.
    pub fn from_json(text: &str) -> Result<CheckAnswer, EvidenceError> {
        #[derive(Deserialize)]
        struct Raw {
            snapshot: String,
            evidence: serde_json::Value,
            #[serde(default)]
            reused: bool,
        }
        let raw: Raw = from_json(text).map_err(EvidenceError::Json)?;
        Ok(CheckAnswer {
            snapshot: raw.snapshot,
            evidence: Evidence::from_value(raw.evidence)?,
            reused: raw.reused,
        })
    }
}

/// `GET /api/domains/{domain}/history`: the domain's snapshots, newest first. The answer
/// line is for feeds and scripts; the history page judges each snapshot's evidence itself.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct History {
    pub domain: String,
    pub snapshots: Vec<HistoryEntry>,
    /// TLS-RPT reports received for the domain (`POST /tlsrpt/{domain}`), newest first.
    #[serde(default)]
    pub reports: Vec<ReceivedReport>,
    /// Notices to the domain's watches that were given up (never delivered), newest first.
    #[serde(default)]
    pub undelivered: Vec<UndeliveredNotice>,
}

/// A notice the server gave up delivering: the owner learns that a change went untold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UndeliveredNotice {
    /// `first`, `change` or `tls-rpt`.
    pub kind: String,
    /// When it was written and given up (Unix seconds).
    pub created_at: i64,
    pub given_up_at: i64,
    pub attempts: i64,
    /// Why, in words that name no webhook or address (the watch is its maker's).
    pub error: String,
}

/// One TLS-RPT report received: who sent it, for which day, how many sessions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceivedReport {
    pub organization: String,
    /// The UTC day the report covers (`YYYY-MM-DD`).
    pub day: String,
    pub successful: u64,
    pub failed: u64,
}

/// One snapshot in a domain's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub snapshot: String,
    /// When the check finished (Unix seconds).
    pub finished_at: i64,
    /// The report's one-line answer, judged by the server's code.
    pub answer: String,
    /// The status's machine id (`protected`, `senders-defer`, …).
    pub status: String,
}

/// `POST /api/watches`: watch `domain`, and tell a webhook or a mailbox what changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchRequest {
    pub domain: String,
    #[serde(default)]
    pub webhook: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
}

/// The answer to a created watch (201).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchCreated {
    /// The watch's id: `DELETE /api/watches/{id}` ends it. Keep it: it is the only key.
    pub id: String,
    pub domain: String,
    /// `active`, or `awaiting-confirmation` for email until the mailed link is followed.
    pub state: String,
}

/// The body of every refused or failed API request, and of the stream's `error` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    pub error: String,
}

/// `GET /api/examples`: domains the home page offers.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Examples {
    pub examples: Vec<String>,
}

/// The names of the stream's events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEventName {
    Progress,
    Evidence,
    Error,
}

impl StreamEventName {
    pub const ALL: [StreamEventName; 3] = [
        StreamEventName::Progress,
        StreamEventName::Evidence,
        StreamEventName::Error,
    ];

    /// The SSE `event:` field.
    pub fn as_str(self) -> &'static str {
        match self {
            StreamEventName::Progress => "progress",
            StreamEventName::Evidence => "evidence",
            StreamEventName::Error => "error",
        }
    }

    pub fn parse(name: &str) -> Option<StreamEventName> {
        StreamEventName::ALL
            .into_iter()
            .find(|n| n.as_str() == name)
    }
}

/// One event of the check stream.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    Progress(Event),
    Evidence(Box<CheckAnswer>),
    Error(ApiError),
}

impl StreamEvent {
    pub fn name(&self) -> StreamEventName {
        match self {
            StreamEvent::Progress(_) => StreamEventName::Progress,
            StreamEvent::Evidence(_) => StreamEventName::Evidence,
            StreamEvent::Error(_) => StreamEventName::Error,
        }
    }

    /// The SSE `data:` field.
    pub fn data(&self) -> String {
        let json = match self {
            StreamEvent::Progress(e) => serde_json::to_string(e),
            StreamEvent::Evidence(a) => serde_json::to_string(a),
            StreamEvent::Error(e) => serde_json::to_string(e),
        };
        json.unwrap_or_else(|e| format!("{{\"error\":\"cannot serialise the event: {e}\"}}"))
    }

    /// Reads an event from its SSE name and data; `None` for a name this code does not know
    /// (a newer server may add some), `Err` for data that does not parse.
    pub fn parse(name: &str, data: &str) -> Option<Result<StreamEvent, String>> {
        let parsed = match StreamEventName::parse(name)? {
            StreamEventName::Progress => from_json(data).map(StreamEvent::Progress),
            StreamEventName::Evidence => CheckAnswer::from_json(data)
                .map(|a| StreamEvent::Evidence(Box::new(a)))
                .map_err(|e| e.to_string()),
            StreamEventName::Error => from_json(data).map(StreamEvent::Error),
        };
        Some(parsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_events_round_trip_and_unknown_names_are_skipped() {
        let e = StreamEvent::Error(ApiError {
            error: "the checker is busy".into(),
        });
        let back = StreamEvent::parse(e.name().as_str(), &e.data());
        assert_eq!(back, Some(Ok(e)));
        assert_eq!(StreamEvent::parse("heartbeat", "{}"), None);
        assert!(matches!(
            StreamEvent::parse("evidence", "{\"snapshot\": 1}"),
            Some(Err(_))
        ));
    }
}
