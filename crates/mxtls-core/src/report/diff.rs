//! What changed between two reports of one domain: what a watcher is told and what the
//! history page shows.

use serde::{Deserialize, Serialize};

use crate::findings::{Code, Severity, Subject};
use crate::report::Status;

/// One finding, as a diff names it: what it is about and its title.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingChange {
    pub code: Code,
    pub severity: Severity,
    pub subject: Subject,
    pub title: String,
}

/// The difference between a report and the one before it (`None` before: the first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportDiff {
    /// The status before, where there was a report before.
    pub status_before: Option<Status>,
    pub status_after: Status,
    pub headline_before: Option<String>,
    pub headline_after: String,
    /// Findings that are new (every finding, for the first report).
    pub added: Vec<FindingChange>,
    /// Findings that are gone.
    pub removed: Vec<FindingChange>,
    /// Changes of what the servers present and DNS publishes, in words: a new certificate
    /// key, other TLSA records, MX hosts added or gone.
    pub changes: Vec<String>,
}

impl ReportDiff {
    /// Whether anything a watcher is told about changed.
    pub fn is_empty(&self) -> bool {
        self.status_before == Some(self.status_after)
            && self.added.is_empty()
            && self.removed.is_empty()
            && self.changes.is_empty()
    }
}
