//! A domain's history: `GET /api/domains/{domain}/history` (its snapshots, newest first, each
//! with the one-line answer) and the Atom feed `/d/{domain}/feed.atom` (an entry per
//! snapshot whose status or findings differ from the one before). The page `/d/<domain>`
//! reads the history and judges each snapshot's evidence in the browser, like every report.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use mxtls_core::api::{History, HistoryEntry, ReceivedReport, UndeliveredNotice};
use mxtls_core::{Evidence, Report, UnixTime};

use crate::App;
use crate::api::json_error;

/// Snapshots listed at most (the newest): each is judged for its answer line, and anyone
/// may ask, so this bounds the work one request costs.
pub const MAX_HISTORY: usize = 60;

/// The newest `limit` stored snapshots of `domain`, newest first, with their reports.
async fn judged(
    app: &Arc<App>,
    domain: &str,
    limit: usize,
) -> Result<Vec<(String, i64, Report)>, Response> {
    let rows = match app.store.history(domain, limit).await {
        Ok(rows) => rows,
        Err(e) => return Err(crate::api::store_failed(&e, "the snapshot store failed")),
    };
    // Judging is CPU work: off the async threads.
    tokio::task::spawn_blocking(move || {
        rows.into_iter()
            .filter_map(|(snap, finished)| {
                let evidence =
                    Evidence::from_json(&String::from_utf8_lossy(&snap.evidence)).ok()?;
                let report = mxtls_core::analyse(&evidence, evidence.probe.finished_at);
                Some((snap.id.as_str().to_owned(), finished, report))
            })
            .collect()
    })
    .await
    .map_err(|_| json_error(StatusCode::INTERNAL_SERVER_ERROR, "judging failed"))
}

fn status_id(r: &Report) -> String {
    serde_json::to_value(r.summary.status)
        .ok()
        .and_then(|v| v.get("state").and_then(|s| s.as_str()).map(str::to_owned))
        .unwrap_or_default()
}

/// `GET /api/domains/{domain}/history`.
pub async fn history(State(app): State<Arc<App>>, Path(domain): Path<String>) -> Response {
    let domain = match mxtls_core::names::parse_user_domain(&domain) {
        Ok(d) => d,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, &e),
    };
    let rows = match judged(&app, domain.as_str(), MAX_HISTORY).await {
        Ok(r) => r,
        Err(e) => return e,
    };
    let reports = app
        .store
        .tls_reports(domain.as_str(), MAX_HISTORY)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|r| ReceivedReport {
            day: r.start.to_string().chars().take(10).collect(),
            successful: r.policies.iter().map(|p| p.successful).sum(),
            failed: r.policies.iter().map(|p| p.failed).sum(),
            organization: r.organization,
        })
        .collect();
    let snapshots = rows
        .iter()
        .map(|(id, finished, r)| HistoryEntry {
            snapshot: id.clone(),
            finished_at: *finished,
            answer: r.summary.headline.clone(),
            status: status_id(r),
        })
        .collect();
    (
        [(header::CACHE_CONTROL, "no-cache")],
        axum::Json(History {
            domain: domain.to_string(),
            snapshots,
            reports,
            undelivered: undelivered(&app, domain.as_str()).await,
        }),
    )
        .into_response()
}

/// The domain's notices that were given up (`watches::outbox`).
async fn undelivered(app: &App, domain: &str) -> Vec<UndeliveredNotice> {
    let given_up = app.store.given_up_notices(domain, MAX_HISTORY).await;
    given_up
        .unwrap_or_default()
        .into_iter()
        .map(|g| UndeliveredNotice {
            kind: g.kind,
            created_at: g.created_at,
            given_up_at: g.given_up_at,
            attempts: g.attempts,
            error: g.error,
        })
        .collect()
}

/// `GET /d/{domain}/feed.atom`.
pub async fn feed(State(app): State<Arc<App>>, Path(domain): Path<String>) -> Response {
    let domain = match mxtls_core::names::parse_user_domain(&domain) {
        Ok(d) => d,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, &e),
    };
    // One more than the feed shows: the oldest entry shown is compared with the snapshot
    // before it, not taken for the domain's first.
    let rows = match judged(&app, domain.as_str(), MAX_HISTORY + 1).await {
        Ok(r) => r,
        Err(e) => return e,
    };
    let complete = rows.len() <= MAX_HISTORY;
    let base = app.public_url.trim_end_matches('/');
    (
        [(header::CONTENT_TYPE, "application/atom+xml; charset=utf-8")],
        atom(base, domain.as_str(), &rows, complete),
    )
        .into_response()
}

/// RFC 3339 for Atom's dates, within years 1970–9999 (four digits, as RFC 3339 has them).
fn rfc3339(t: i64) -> String {
    // UnixTime's display is `YYYY-MM-DD hh:mm:ss UTC`.
    let s = UnixTime(t.clamp(0, 253_402_300_799)).to_string();
    format!("{}T{}Z", &s[..10], &s[11..19])
}

/// `text` as XML character data or an attribute value: markup escaped, and the characters
/// XML 1.0 does not allow at all (controls other than tab and line ends, U+FFFE, U+FFFF)
/// left out — answers and finding subjects carry what servers sent.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c < ' ' || c == '\u{fffe}' || c == '\u{ffff}' => {}
            c => out.push(c),
        }
    }
    out
}

/// The feed: rows newest first; an entry for each snapshot that changed something. With
/// `complete`, the oldest row is the domain's first snapshot (an entry of its own); without,
/// it is only the one before the oldest shown, and gets no entry — the feed must not say that
/// everything changed because its window ends there.
pub fn atom(base: &str, domain: &str, rows: &[(String, i64, Report)], complete: bool) -> String {
    let page = crate::watches::history_url(base, domain);
    let updated = rows.first().map(|r| r.1).unwrap_or(0);
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n<title>mxtls: mail security of {d}</title>\n<id>{p}</id>\n<link rel=\"alternate\" href=\"{p}\"/>\n<link rel=\"self\" href=\"{p}/feed.atom\"/>\n<updated>{u}</updated>\n<author><name>mxtls</name></author>\n",
        d = xml(domain),
        p = xml(&page),
        u = rfc3339(updated),
    );
    for (i, (id, finished, report)) in rows.iter().enumerate() {
        let before = rows.get(i + 1).map(|r| &r.2);
        if before.is_none() && !complete {
            break;
        }
        let diff = mxtls_core::analysis::diff(before, report);
        if before.is_some() && diff.is_empty() {
            continue;
        }
        let mut lines = Vec::new();
        for f in &diff.added {
            lines.push(format!(
                "+ {} {} ({}): {}",
                f.severity.id(),
                f.code,
                f.subject,
                f.title
            ));
        }
        for f in &diff.removed {
            lines.push(format!(
                "- {} {} ({}): {}",
                f.severity.id(),
                f.code,
                f.subject,
                f.title
            ));
        }
        lines.extend(diff.changes.iter().cloned());
        let link = format!("{base}/r/{id}");
        out.push_str(&format!(
            "<entry>\n<title>{t}</title>\n<id>{l}</id>\n<link href=\"{l}\"/>\n<updated>{u}</updated>\n<content type=\"text\">{c}</content>\n</entry>\n",
            t = xml(&report.summary.headline),
            l = xml(&link),
            u = rfc3339(*finished),
            c = xml(&lines.join("\n")),
        ));
    }
    out.push_str("</feed>\n");
    out
}
