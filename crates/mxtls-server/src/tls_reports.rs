//! Receiving TLS-RPT reports over HTTPS (RFC 8460 §5.4: `rua=https://…/tlsrpt/{domain}`):
//! `POST` with `application/tlsrpt+gzip` or `application/tlsrpt+json`, size-limited, read by
//! the core one at a time (`reading`), accepted only for watched domains (or every domain with
//! `--accept-tls-rpt`), stored beside the snapshots in a bounded form (`bounded`), and — when
//! senders report failures — held against the domain's latest evidence and sent to its watches
//! like any change.

use std::sync::Arc;

use crate::params;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mxtls_core::Evidence;
use mxtls_core::findings::Finding;
use mxtls_core::tls_rpt::report::AggregateReport;
use serde::Serialize;

pub mod bounded;
mod reading;

use crate::App;
use crate::api::json_error;
use crate::snapshots::Store;
use crate::watches::Watch;

/// The largest report body accepted, compressed or not (a day of a big sender's reports
/// for one domain is a few kilobytes).
pub const MAX_BODY: usize = 1024 * 1024;

/// Reports kept per domain (the oldest go first): reports are unauthenticated (RFC 8460
/// §7), so anyone can post them; this bounds what they can store.
pub const MAX_REPORTS_PER_DOMAIN: i64 = 1000;

/// Reports one client may post per minute (a real sender posts one per domain a day).
pub const REPORTS_PER_CLIENT_PER_MINUTE: u32 = 10;

/// The window [`REPORTS_PER_CLIENT_PER_MINUTE`] is counted over, in seconds.
const REPORT_WINDOW_SECONDS: i64 = 60;

/// At most one report notification per watch in this long: forged reports must not turn a
/// watch into a way to flood its owner's mailbox. Every report is still stored and listed.
pub const NOTIFY_AT_MOST_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

impl Store {
    /// Stores a report once, in its bounded form ([`bounded`]) under its organisation and
    /// [`bounded::key`] (a sender retrying the same report is not counted twice, and reports
    /// without a `report-id` are told apart by content); whether it was new. The domain keeps
    /// its newest [`MAX_REPORTS_PER_DOMAIN`].
    pub async fn put_tls_report(
        &self,
        domain: &str,
        r: &AggregateReport,
        now: i64,
    ) -> crate::store::Result<bool> {
        let key = bounded::key(r);
        let text = bounded::bounded(r, &key).map_err(crate::store::StoreError::Failed)?;
        self.put_stored_tls_report(domain, &r.organization, r.start.0, &key, text, now)
            .await
    }

    /// [`Store::put_tls_report`] for a report already in its stored form (`stored`, under
    /// `key`, of `organization`, starting at `start`).
    pub async fn put_stored_tls_report(
        &self,
        domain: &str,
        organization: &str,
        start: i64,
        key: &str,
        stored: String,
        now: i64,
    ) -> crate::store::Result<bool> {
        let new = self
            .execute(
                "INSERT INTO tls_reports (domain, organization, report_id, start, received_at, report)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
                params![domain, bounded::cut(organization), key, start, now, stored],
            )
            .await?
            > 0;
        self.execute(
            "DELETE FROM tls_reports WHERE domain = ?1 AND (organization, report_id) NOT IN
             (SELECT organization, report_id FROM tls_reports WHERE domain = ?1
              ORDER BY received_at DESC, organization, report_id LIMIT ?2)",
            params![domain, MAX_REPORTS_PER_DOMAIN],
        )
        .await?;
        Ok(new)
    }

    /// The stored reports of `domain`, newest first, at most `limit`, as the bounded form
    /// keeps them (no contact, `mx-host` or free text of failure details).
    pub async fn tls_reports(
        &self,
        domain: &str,
        limit: usize,
    ) -> crate::store::Result<Vec<AggregateReport>> {
        let rows = self
            .query(
                "SELECT report FROM tls_reports WHERE domain = ?1 ORDER BY start DESC LIMIT ?2",
                params![domain, limit as i64],
            )
            .await?;
        Ok(rows
            .iter()
            .filter_map(|r| r.text("report").ok())
            .filter_map(|t| bounded::read(&t))
            .collect())
    }

    /// Counts a report post of `client` at `now` (seconds) in the store, so that every
    /// instance of a cluster counts the same posts; `Ok(Err(seconds to wait))` when the
    /// client has posted [`REPORTS_PER_CLIENT_PER_MINUTE`] in the last minute. The post is
    /// recorded first and taken back when over the limit: two instances counting at once
    /// may both refuse, never both admit past the limit.
    pub async fn spend_report_post(
        &self,
        client: &str,
        now: i64,
    ) -> crate::store::Result<Result<(), u64>> {
        let window = REPORT_WINDOW_SECONDS;
        self.execute(
            "DELETE FROM report_posts WHERE posted_at <= ?1",
            params![now - window],
        )
        .await?;
        let id = crate::ids::random_id()
            .ok_or_else(|| crate::store::StoreError::failed("no randomness from the OS"))?;
        self.execute(
            "INSERT INTO report_posts (id, client, posted_at) VALUES (?1, ?2, ?3)",
            params![id.as_str(), client, now],
        )
        .await?;
        let row = self
            .query_opt(
                "SELECT COUNT(*) AS posts, MIN(posted_at) AS oldest FROM report_posts
                 WHERE client = ?1 AND posted_at > ?2",
                params![client, now - window],
            )
            .await?;
        let (posts, oldest) = match row {
            Some(r) => (r.int("posts")?, r.opt_int("oldest")?.unwrap_or(now)),
            None => (0, now),
        };
        if posts <= i64::from(REPORTS_PER_CLIENT_PER_MINUTE) {
            return Ok(Ok(()));
        }
        self.execute("DELETE FROM report_posts WHERE id = ?1", params![id])
            .await?;
        Ok(Err((oldest + window - now).max(1) as u64))
    }

    /// Whether watch `id` may be told of a report at `now` (seconds): at most once per
    /// [`NOTIFY_AT_MOST_EVERY`], counted in the store so that it holds across the instances
    /// of a cluster and across restarts. Taking the time is one statement (an upsert that
    /// changes the row only when the last notice is old enough), so two instances cannot
    /// both take it.
    pub async fn claim_report_notice(&self, id: &str, now: i64) -> crate::store::Result<bool> {
        let every = NOTIFY_AT_MOST_EVERY.as_secs() as i64;
        self.execute(
            "DELETE FROM report_notices WHERE notified_at <= ?1",
            params![now - every],
        )
        .await?;
        let taken = self
            .execute(
                "INSERT INTO report_notices (watch, notified_at) VALUES (?1, ?2)
                 ON CONFLICT (watch) DO UPDATE SET notified_at = ?2
                 WHERE report_notices.notified_at <= ?3",
                params![id, now, now - every],
            )
            .await?;
        Ok(taken > 0)
    }
}

/// What a webhook receives when senders report failures.
#[derive(Serialize)]
struct ReportNotification<'a> {
    domain: &'a str,
    kind: &'static str,
    organization: &'a str,
    report_id: &'a str,
    start: String,
    end: String,
    failed_sessions: u64,
    findings: &'a [Finding],
    history: String,
    watch: &'a str,
    unsubscribe: String,
}

/// `POST /tlsrpt/{domain}`.
pub async fn receive(
    State(app): State<Arc<App>>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    Path(domain): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let client = crate::clients::ClientKey::of(app.proxies.client(peer.ip(), &headers));
    let now = mxtls_probe::clock::unix_now().0;
    match app.store.spend_report_post(&client.to_string(), now).await {
        Ok(Ok(())) => {}
        Ok(Err(wait)) => {
            let mut r = json_error(
                StatusCode::TOO_MANY_REQUESTS,
                "too many reports from your address",
            );
            if let Ok(v) = axum::http::HeaderValue::from_str(&wait.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return r;
        }
        Err(_) => return json_error(StatusCode::INTERNAL_SERVER_ERROR, "the store failed"),
    }
    let domain = match mxtls_core::names::parse_user_domain(&domain) {
        Ok(d) => d,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, &e),
    };
    let kind = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or(v).trim().to_ascii_lowercase())
        .unwrap_or_default();
    if kind != "application/tlsrpt+gzip" && kind != "application/tlsrpt+json" {
        return json_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send application/tlsrpt+gzip or application/tlsrpt+json (RFC 8460 §5.4)",
        );
    }
    if body.len() > MAX_BODY {
        return json_error(StatusCode::PAYLOAD_TOO_LARGE, "the report is too large");
    }
    let watches = match app.store.domain_watches(domain.as_str()).await {
        Ok(w) => w,
        Err(_) => return json_error(StatusCode::INTERNAL_SERVER_ERROR, "the store failed"),
    };
    if watches.is_empty() && !app.accept_tls_rpt_for_all {
        return json_error(
            StatusCode::NOT_FOUND,
            "reports are taken only for watched domains",
        );
    }
    let received = match reading::receive(body, domain.as_str()).await {
        Ok(r) => r,
        Err(reading::Refused::Invalid(e)) => return json_error(StatusCode::BAD_REQUEST, &e),
        Err(reading::Refused::Busy) => {
            let mut r = json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "other reports are being read; try again shortly",
            );
            r.headers_mut().insert(
                header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("10"),
            );
            return r;
        }
    };
    let reading::Received {
        key,
        stored,
        report: kept,
        failed,
    } = received;
    let new = match app
        .store
        .put_stored_tls_report(
            domain.as_str(),
            &kept.organization,
            kept.start.0,
            &key,
            stored,
            now,
        )
        .await
    {
        Ok(new) => new,
        Err(_) => return json_error(StatusCode::INTERNAL_SERVER_ERROR, "the store failed"),
    };
    app.metrics.tls_report();
    let skipped = kept.skipped.clone();
    if new && failed > 0 && !watches.is_empty() {
        let app = app.clone();
        tokio::spawn(async move { notify(&app, &kept, failed, &watches).await });
    }
    (
        StatusCode::CREATED,
        axum::Json(serde_json::json!({ "stored": new, "skipped": skipped })),
    )
        .into_response()
}

/// Holds the report against the latest evidence and tells every watch.
async fn notify(app: &Arc<App>, r: &AggregateReport, failed: u64, watches: &[Watch]) {
    let Some(domain) = watches.first().map(|w| w.domain.clone()) else {
        return;
    };
    let Ok(Some(snap)) = app.store.latest(&domain).await else {
        return;
    };
    let Ok(evidence) = Evidence::from_json(&String::from_utf8_lossy(&snap.evidence)) else {
        return;
    };
    let judged = mxtls_core::analyse(&evidence, evidence.probe.finished_at);
    let findings = mxtls_core::analysis::judge_reports(std::slice::from_ref(r), &evidence, &judged);
    let base = app.public_url.trim_end_matches('/');
    for w in watches {
        let now = mxtls_probe::clock::unix_now().0;
        if !matches!(app.store.claim_report_notice(&w.id, now).await, Ok(true)) {
            continue;
        }
        let note = ReportNotification {
            domain: &w.domain,
            kind: "tls-rpt",
            organization: &r.organization,
            report_id: &r.report_id,
            start: r.start.to_string(),
            end: r.end.to_string(),
            failed_sessions: failed,
            findings: &findings,
            history: crate::watches::history_url(base, &w.domain),
            watch: &w.id,
            unsubscribe: crate::watches::page::unsubscribe_url(base, &w.id),
        };
        let subject = format!("mxtls: {}: senders report TLS failures", w.domain);
        let sent = crate::watches::send(app, w, &note, &subject, || {
            let mut text = format!(
                "{} reported {failed} failed TLS sessions with {} ({} to {}).\n\n",
                r.organization, w.domain, note.start, note.end
            );
            for f in &findings {
                text.push_str(&format!(
                    "{} {} ({}): {}\n  {}\n",
                    f.severity.id().to_ascii_uppercase(),
                    f.code,
                    f.subject,
                    f.title,
                    f.explanation
                ));
            }
            text.push_str(&format!("\nHistory: {}\n", note.history));
            text.push_str(&crate::watches::stop_text(base, &w.id));
            text
        })
        .await;
        if let Err(e) = sent {
            crate::say!(
                "watch {} ({}): report notification not queued: {e}",
                w.id,
                w.domain
            );
        }
    }
}
