//! A batch of domains (a portfolio) as its outputs give it: one row per domain — its state as
//! in `summary.status`, the one-line answer, the finding codes, the snapshot, and the
//! sessions it reused from another domain's check of the same mail server — written as JSON
//! lines or CSV, and the counts by state. The CLI (`mxtls batch`) and the server's batch
//! results write the same rows; `portfolio` reads many of them at once (causes shared by
//! many domains, changes since the previous run), for the portfolio page.

pub mod portfolio;

use serde::{Deserialize, Serialize};

use crate::evidence::{Evidence, UnixTime};
use crate::findings::{Severity, Subject};
use crate::report::{Report, Status};

/// One domain of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row {
    pub domain: String,
    /// The state, as `summary.status.state` (`protected`, `strippable`, `cleartext`,
    /// `senders-defer`, `not-tested`, `no-mail`), or `error` when no check could run.
    pub status: String,
    /// The one-line answer (`summary.headline`), or why the check did not run.
    pub answer: String,
    /// Every finding's code, most severe first, each once.
    pub codes: Vec<String>,
    /// The report's colour (`present::report_mood`: `good`, `warn`, `bad`, `unknown`), so a
    /// portfolio colours each domain as its report does.
    #[serde(default)]
    pub mood: String,
    /// What hurts: each error and warning once per code and MX host, so that one cause on a
    /// shared mail server is counted over every domain it hurts.
    #[serde(default)]
    pub causes: Vec<Cause>,
    /// The stored evidence, where the batch keeps it.
    #[serde(default)]
    pub snapshot: Option<String>,
    /// Addresses whose sessions came from another check (of another domain on the same
    /// server), and how old they were.
    #[serde(default)]
    pub reused: Vec<Reused>,
}

/// An error or warning of a domain's report, by what a fix would touch.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Cause {
    pub code: String,
    pub severity: Severity,
    /// The MX host the finding is about (an address's host for an address); `None` for the
    /// domain as a whole (its DNS, its policies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The finding's title; a domain's own name in it is "the domain", so that one title
    /// stands for every domain of the cause.
    pub title: String,
}

/// Sessions an address's evidence reused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reused {
    pub ip: String,
    /// The snapshot they come from.
    pub snapshot: String,
    /// Their age when this check finished, in seconds.
    pub age_s: i64,
}

/// The state of a status, as its JSON names it.
pub fn state(status: Status) -> &'static str {
    match status {
        Status::NoMail => "no-mail",
        Status::NotTested => "not-tested",
        Status::SendersDefer => "senders-defer",
        Status::Cleartext => "cleartext",
        Status::Strippable { .. } => "strippable",
        Status::Protected { .. } => "protected",
    }
}

/// Every state, in the order a portfolio lists them (best first), then `error`.
pub const STATES: [&str; 7] = [
    "protected",
    "strippable",
    "cleartext",
    "senders-defer",
    "not-tested",
    "no-mail",
    "error",
];

/// The row of a judged domain.
pub fn row(report: &Report, evidence: &Evidence, snapshot: Option<String>) -> Row {
    let mut codes: Vec<String> = Vec::new();
    for f in &report.findings {
        let code = f.code.as_str().to_owned();
        if !codes.contains(&code) {
            codes.push(code);
        }
    }
    let mut causes: Vec<Cause> = Vec::new();
    let own = report.domain.to_string();
    for f in &report.findings {
        if !matches!(f.severity, Severity::Error | Severity::Warning) {
            continue;
        }
        let host = match &f.subject {
            Subject::Host { name } | Subject::Address { host: name, .. } => Some(name.to_string()),
            Subject::Domain { .. } | Subject::Resolver => None,
        };
        let title = if host.is_none() {
            f.title.replace(&own, "the domain")
        } else {
            f.title.clone()
        };
        let code = f.code.as_str().to_owned();
        if !causes.iter().any(|c| c.code == code && c.host == host) {
            causes.push(Cause {
                code,
                severity: f.severity,
                host,
                title,
            });
        }
    }
    let finished: UnixTime = evidence.probe.finished_at;
    let reused = evidence
        .hosts
        .iter()
        .flat_map(|h| h.addresses.iter())
        .filter_map(|a| {
            a.reused.as_ref().map(|r| Reused {
                ip: a.ip.to_string(),
                snapshot: r.snapshot.clone(),
                age_s: (finished.0 - r.gathered_at.0).max(0),
            })
        })
        .collect();
    Row {
        domain: report.domain.to_string(),
        status: state(report.summary.status).to_owned(),
        answer: report.summary.headline.clone(),
        codes,
        mood: crate::present::report_mood(report).id().to_owned(),
        causes,
        snapshot,
        reused,
    }
}

/// The row of a domain whose check did not run (a name that is not one, a probe that
/// could not start).
pub fn failed(domain: &str, why: &str) -> Row {
    Row {
        domain: domain.to_owned(),
        status: "error".to_owned(),
        answer: why.to_owned(),
        codes: Vec::new(),
        mood: crate::present::Mood::Unknown.id().to_owned(),
        causes: Vec::new(),
        snapshot: None,
        reused: Vec::new(),
    }
}

/// The CSV header of [`csv`]'s lines.
pub const CSV_HEADER: &str = "domain,status,answer,codes,snapshot,reused";

/// A row as one CSV line (RFC 4180: fields with a comma, quote or line break are quoted;
/// codes and reused addresses joined by spaces).
pub fn csv(row: &Row) -> String {
    let reused: Vec<&str> = row.reused.iter().map(|r| r.ip.as_str()).collect();
    [
        row.domain.as_str(),
        row.status.as_str(),
        row.answer.as_str(),
        &row.codes.join(" "),
        row.snapshot.as_deref().unwrap_or(""),
        &reused.join(" "),
    ]
    .iter()
    .map(|f| field(f))
    .collect::<Vec<_>>()
    .join(",")
}

fn field(text: &str) -> String {
    // A leading =, +, - or @ would be a formula to a spreadsheet: quoted with a ' first.
    let text = if text.starts_with(['=', '+', '-', '@']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

/// How many rows are in each state, in [`STATES`]' order (every state, zeros included).
pub fn counts(rows: &[Row]) -> Vec<(&'static str, usize)> {
    STATES
        .iter()
        .map(|s| (*s, rows.iter().filter(|r| r.status == *s).count()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_what_needs_it_and_defuses_formulas() {
        let row = Row {
            domain: "example.org".into(),
            status: "strippable".into(),
            answer: "Mail is encrypted, but \"STARTTLS\" can be stripped, for now".into(),
            codes: vec!["no-dane".into(), "no-mta-sts".into()],
            mood: "warn".into(),
            causes: Vec::new(),
            snapshot: Some("abc".into()),
            reused: vec![Reused {
                ip: "192.0.2.1".into(),
                snapshot: "def".into(),
                age_s: 3,
            }],
        };
        assert_eq!(
            csv(&row),
            "example.org,strippable,\"Mail is encrypted, but \"\"STARTTLS\"\" can be stripped, for now\",no-dane no-mta-sts,abc,192.0.2.1"
        );
        let hostile = failed("=cmd|x", "-bad");
        assert_eq!(csv(&hostile), "'=cmd|x,error,'-bad,,,");
        assert_eq!(
            CSV_HEADER.split(',').count(),
            csv(&hostile).split(',').count()
        );
        let counts = counts(&[row, hostile]);
        assert_eq!(counts.len(), STATES.len());
        assert!(counts.contains(&("strippable", 1)) && counts.contains(&("error", 1)));
        assert!(counts.contains(&("protected", 0)));
    }
}
