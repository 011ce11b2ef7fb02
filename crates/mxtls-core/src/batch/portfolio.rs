//! A portfolio at a glance, from its rows: the share of domains in each state (per run of
//! the same list, for the chart), the causes that hurt most domains (one fix on a shared
//! mail server repairs every domain on it), what changed since the previous run, and the
//! filter of the per-domain table. Pure, so the page (wasm) and the tests read the same.
//!
//! A run is a batch; the previous run of a list is its operator's latest earlier batch of
//! the same name (the server picks it, `Answer::previous`).

use serde::{Deserialize, Serialize};

use super::{Row, STATES};
use crate::findings::Severity;
use crate::present::Mood;

/// The portfolio page's data (`GET /api/batches/{id}/portfolio`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    pub batch: Run,
    /// The runs of the same list, oldest first, this one last (at most [`RUNS`]).
    pub runs: Vec<Run>,
    /// This run's rows done so far, in the list's order.
    pub rows: Vec<Row>,
    /// The previous run's rows, if there was one.
    #[serde(default)]
    pub previous: Option<Previous>,
}

/// The runs a chart shows.
pub const RUNS: usize = 30;

/// One run of a list: a batch and its counts by state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Run {
    pub id: String,
    pub name: String,
    /// Unix seconds.
    pub created_at: i64,
    pub total: i64,
    pub done: i64,
    /// Rows by state, every state of [`STATES`] in its order, zeros included.
    pub counts: Vec<(String, i64)>,
}

impl Run {
    /// Whether every domain of the run has its row.
    pub fn complete(&self) -> bool {
        self.done >= self.total
    }
}

/// The run before, for what changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Previous {
    pub id: String,
    pub created_at: i64,
    pub rows: Vec<Row>,
}

/// A state in words, as the badge words the statuses, and its colour.
pub fn state_words(state: &str) -> (&'static str, Mood) {
    match state {
        "protected" => ("Protected", Mood::Good),
        "strippable" => ("STARTTLS strippable", Mood::Warn),
        "cleartext" => ("Cleartext possible", Mood::Bad),
        "senders-defer" => ("Senders defer", Mood::Bad),
        "not-tested" => ("Could not test", Mood::Unknown),
        "no-mail" => ("No mail (null MX)", Mood::Info),
        _ => ("Not checked", Mood::Unknown),
    }
}

/// One state's share of a run: the count and its percentage of the rows done.
#[derive(Debug, Clone, PartialEq)]
pub struct Share {
    pub state: String,
    pub count: i64,
    pub percent: f64,
}

/// A run's shares, in [`STATES`]' order (zeros included).
pub fn shares(run: &Run) -> Vec<Share> {
    let done: i64 = run.counts.iter().map(|(_, n)| *n).sum();
    STATES
        .iter()
        .map(|s| {
            let count = run
                .counts
                .iter()
                .find(|(state, _)| state == s)
                .map_or(0, |(_, n)| *n);
            Share {
                state: (*s).to_owned(),
                count,
                percent: if done > 0 {
                    count as f64 * 100.0 / done as f64
                } else {
                    0.0
                },
            }
        })
        .collect()
}

/// One cause and every domain it hurts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CauseGroup {
    pub code: String,
    pub severity: Severity,
    pub host: Option<String>,
    pub title: String,
    /// In the list's order.
    pub domains: Vec<String>,
}

impl CauseGroup {
    /// The filter key of the cause: `code` or `code@host`.
    pub fn key(&self) -> String {
        key(&self.code, self.host.as_deref())
    }

    /// "412 domains — mx.provider.example: Certificate expired".
    pub fn line(&self) -> String {
        let n = crate::present::count_of(self.domains.len(), "domain", "domains");
        match &self.host {
            Some(h) => format!("{n} — MX host {h}: {}", self.title),
            None => format!("{n}: {}", self.title),
        }
    }
}

fn key(code: &str, host: Option<&str>) -> String {
    match host {
        Some(h) => format!("{code}@{h}"),
        None => code.to_owned(),
    }
}

/// The causes of the rows, errors before warnings, then by the domains they hurt, most
/// first (ties by code and host, so the order is stable).
pub fn causes(rows: &[Row]) -> Vec<CauseGroup> {
    let mut groups: Vec<CauseGroup> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for row in rows {
        for c in &row.causes {
            let k = key(&c.code, c.host.as_deref());
            let i = *index.entry(k).or_insert_with(|| {
                groups.push(CauseGroup {
                    code: c.code.clone(),
                    severity: c.severity,
                    host: c.host.clone(),
                    title: c.title.clone(),
                    domains: Vec::new(),
                });
                groups.len() - 1
            });
            let g = &mut groups[i];
            g.severity = g.severity.min(c.severity);
            if g.domains.last() != Some(&row.domain) {
                g.domains.push(row.domain.clone());
            }
        }
    }
    groups.sort_by(|a, b| {
        (
            a.severity,
            std::cmp::Reverse(a.domains.len()),
            &a.code,
            &a.host,
        )
            .cmp(&(
                b.severity,
                std::cmp::Reverse(b.domains.len()),
                &b.code,
                &b.host,
            ))
    });
    groups
}

/// How a domain moved between two runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Direction {
    /// To a worse judged state (protected → strippable → cleartext → senders defer).
    Worse,
    /// The same state with other causes, or to or from a state that is no judgement
    /// (could not test, no mail, not checked).
    Changed,
    Better,
    /// Not in the previous run.
    New,
    /// In the previous run, not in this one (only said of a complete run).
    Gone,
}

impl Direction {
    pub fn id(self) -> &'static str {
        match self {
            Direction::Worse => "worse",
            Direction::Changed => "changed",
            Direction::Better => "better",
            Direction::New => "new",
            Direction::Gone => "gone",
        }
    }
}

/// A domain that changed since the previous run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub domain: String,
    pub direction: Direction,
    pub before: Option<String>,
    pub after: Option<String>,
    /// Causes now that were not before, and gone since, as [`CauseGroup::line`]'s titles
    /// ("MX host h: title").
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

/// Rank of a judged state, lower is better; `None` for a state that is no judgement.
fn rank(state: &str) -> Option<u8> {
    match state {
        "protected" => Some(0),
        "strippable" => Some(1),
        "cleartext" => Some(2),
        "senders-defer" => Some(3),
        _ => None,
    }
}

fn cause_text(c: &super::Cause) -> String {
    match &c.host {
        Some(h) => format!("MX host {h}: {}", c.title),
        None => c.title.clone(),
    }
}

/// What changed from `previous` to `rows`: worse first, then changed, better, new, and —
/// when `complete` — gone; each group in the list's order.
pub fn changes(previous: &[Row], rows: &[Row], complete: bool) -> Vec<Change> {
    let before: std::collections::HashMap<&str, &Row> =
        previous.iter().map(|r| (r.domain.as_str(), r)).collect();
    let mut out = Vec::new();
    for row in rows {
        let Some(old) = before.get(row.domain.as_str()) else {
            out.push(Change {
                domain: row.domain.clone(),
                direction: Direction::New,
                before: None,
                after: Some(row.status.clone()),
                added: Vec::new(),
                removed: Vec::new(),
            });
            continue;
        };
        let keyed = |r: &Row| -> Vec<(String, String)> {
            r.causes
                .iter()
                .map(|c| (key(&c.code, c.host.as_deref()), cause_text(c)))
                .collect()
        };
        let (now, then) = (keyed(row), keyed(old));
        let added: Vec<String> = now
            .iter()
            .filter(|(k, _)| !then.iter().any(|(o, _)| o == k))
            .map(|(_, t)| t.clone())
            .collect();
        let removed: Vec<String> = then
            .iter()
            .filter(|(k, _)| !now.iter().any(|(n, _)| n == k))
            .map(|(_, t)| t.clone())
            .collect();
        if old.status == row.status && added.is_empty() && removed.is_empty() {
            continue;
        }
        let direction = match (rank(&old.status), rank(&row.status)) {
            (Some(a), Some(b)) if b > a => Direction::Worse,
            (Some(a), Some(b)) if b < a => Direction::Better,
            _ => Direction::Changed,
        };
        out.push(Change {
            domain: row.domain.clone(),
            direction,
            before: Some(old.status.clone()),
            after: Some(row.status.clone()),
            added,
            removed,
        });
    }
    if complete {
        let now: std::collections::HashSet<&str> = rows.iter().map(|r| r.domain.as_str()).collect();
        for old in previous.iter().filter(|r| !now.contains(r.domain.as_str())) {
            out.push(Change {
                domain: old.domain.clone(),
                direction: Direction::Gone,
                before: Some(old.status.clone()),
                after: None,
                added: Vec::new(),
                removed: Vec::new(),
            });
        }
    }
    // Stable: within a direction, the list's order stays.
    out.sort_by_key(|c| c.direction);
    out
}

/// The per-domain table's filter: a state, a cause (its [`CauseGroup::key`]) and text in
/// the domain's name; empty fields let everything through.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub state: Option<String>,
    pub cause: Option<String>,
    pub text: String,
}

impl Filter {
    pub fn matches(&self, row: &Row) -> bool {
        self.state.as_ref().is_none_or(|s| *s == row.status)
            && self.cause.as_ref().is_none_or(|k| {
                row.causes
                    .iter()
                    .any(|c| key(&c.code, c.host.as_deref()) == *k)
            })
            && (self.text.trim().is_empty()
                || row
                    .domain
                    .to_ascii_lowercase()
                    .contains(&self.text.trim().to_ascii_lowercase()))
    }
}

#[cfg(test)]
mod tests {
    use super::super::Cause;
    use super::*;

    fn row(domain: &str, status: &str, causes: &[(&str, Severity, Option<&str>)]) -> Row {
        Row {
            domain: domain.into(),
            status: status.into(),
            answer: String::new(),
            codes: causes.iter().map(|c| c.0.to_owned()).collect(),
            mood: String::new(),
            causes: causes
                .iter()
                .map(|(code, severity, host)| Cause {
                    code: (*code).into(),
                    severity: *severity,
                    host: host.map(str::to_owned),
                    title: format!("{code} title"),
                })
                .collect(),
            snapshot: None,
            reused: Vec::new(),
        }
    }

    #[test]
    fn causes_count_domains_per_host_errors_first() {
        let shared = Some("mx.provider.example");
        let rows = vec![
            row(
                "a.example",
                "senders-defer",
                &[
                    ("cert-expired", Severity::Error, shared),
                    ("mta-sts-missing", Severity::Warning, None),
                ],
            ),
            row(
                "b.example",
                "senders-defer",
                &[
                    ("cert-expired", Severity::Error, shared),
                    ("mta-sts-missing", Severity::Warning, None),
                ],
            ),
            row(
                "c.example",
                "strippable",
                &[("mta-sts-missing", Severity::Warning, None)],
            ),
            row(
                "d.example",
                "cleartext",
                &[("cert-expired", Severity::Error, Some("mx.d.example"))],
            ),
        ];
        let groups = causes(&rows);
        let lines: Vec<String> = groups.iter().map(CauseGroup::line).collect();
        assert_eq!(
            lines,
            [
                "2 domains — MX host mx.provider.example: cert-expired title",
                "1 domain — MX host mx.d.example: cert-expired title",
                "3 domains: mta-sts-missing title",
            ]
        );
        assert_eq!(groups[0].domains, ["a.example", "b.example"]);
        let f = Filter {
            cause: Some(groups[0].key()),
            ..Filter::default()
        };
        let shown: Vec<&str> = rows
            .iter()
            .filter(|r| f.matches(r))
            .map(|r| r.domain.as_str())
            .collect();
        assert_eq!(shown, ["a.example", "b.example"]);
        let f = Filter {
            state: Some("strippable".into()),
            text: " C.EX".into(),
            ..Filter::default()
        };
        assert_eq!(rows.iter().filter(|r| f.matches(r)).count(), 1);
    }

    #[test]
    fn changes_rank_worse_first_and_gone_only_when_complete() {
        let before = vec![
            row("a.example", "protected", &[]),
            row("b.example", "cleartext", &[]),
            row("c.example", "strippable", &[]),
            row("gone.example", "protected", &[]),
            row("same.example", "protected", &[]),
        ];
        let after = vec![
            row(
                "a.example",
                "strippable",
                &[("no-dane", Severity::Warning, None)],
            ),
            row("b.example", "protected", &[]),
            row("c.example", "not-tested", &[]),
            row("new.example", "protected", &[]),
            row("same.example", "protected", &[]),
        ];
        let seen: Vec<(String, Direction)> = changes(&before, &after, true)
            .into_iter()
            .map(|c| (c.domain, c.direction))
            .collect();
        assert_eq!(
            seen,
            [
                ("a.example".to_owned(), Direction::Worse),
                ("c.example".to_owned(), Direction::Changed),
                ("b.example".to_owned(), Direction::Better),
                ("new.example".to_owned(), Direction::New),
                ("gone.example".to_owned(), Direction::Gone),
            ]
        );
        let worse = &changes(&before, &after, true)[0];
        assert_eq!(worse.added, ["no-dane title"]);
        assert!(
            !changes(&before, &after, false)
                .iter()
                .any(|c| c.direction == Direction::Gone)
        );
    }

    #[test]
    fn shares_add_up_over_the_rows_done() {
        let run = Run {
            id: "x".into(),
            name: "n".into(),
            created_at: 0,
            total: 10,
            done: 4,
            counts: vec![("protected".into(), 3), ("cleartext".into(), 1)],
        };
        let s = shares(&run);
        assert_eq!(s.len(), STATES.len());
        assert_eq!(s[0].percent, 75.0);
        assert_eq!(s.iter().map(|x| x.count).sum::<i64>(), 4);
        assert!(!run.complete());
    }
}
