//! Receiving TLS-RPT reports over HTTPS (RFC 8460 §5.4: `rua=https://…/tlsrpt/{domain}`):
//! `POST` with `application/tlsrpt+gzip` or `application/tlsrpt+json`, size-limited, read by
//! the core, accepted only for watched domains (or every domain with
//! `--accept-tls-rpt`), stored beside the snapshots, and — when senders report failures —
//! held against the domain's latest evidence and sent to its watches like any change.

use std::sync::Arc;

use crate::params;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mxtls_core::Evidence;
use mxtls_core::findings::Finding;
use mxtls_core::tls_rpt::report::{self, AggregateReport};
use serde::Serialize;

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

/// At most one report notification per watch in this long: forged reports must not turn a
/// watch into a way to flood its owner's mailbox. Every report is still stored and listed.
pub const NOTIFY_AT_MOST_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

impl Store {
    /// Stores a report once (a sender retrying the same report id is not counted twice);
    /// whether it was new. The domain keeps its newest [`MAX_REPORTS_PER_DOMAIN`].
    pub async fn put_tls_report(
        &self,
        domain: &str,
        r: &AggregateReport,
        now: i64,
    ) -> crate::store::Result<bool> {
        let json = serde_json::to_string(r)
            .map_err(|e| crate::store::StoreError(format!("the report does not serialise: {e}")))?;
        let new = self
            .execute(
                "INSERT INTO tls_reports (domain, organization, report_id, start, received_at, report)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
                params![
                    domain,
                    r.organization.as_str(),
                    r.report_id.as_str(),
                    r.start.0,
                    now,
                    json
                ],
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

    /// The stored reports of `domain`, newest first, at most `limit`.
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
            .filter_map(|r| r.text(0).ok())
            .filter_map(|t| serde_json::from_str(&t).ok())
            .collect())
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
    if let Err(wait) = app.report_quota.check(client) {
        let mut r = json_error(
            StatusCode::TOO_MANY_REQUESTS,
            "too many reports from your address",
        );
        if let Ok(v) = axum::http::HeaderValue::from_str(&wait.to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return r;
    }
    app.report_quota.spend(client);
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
    let parsed = match report::parse_bytes(&body) {
        Ok(r) => r,
        Err(e) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                &format!("not a TLS-RPT report: {e}"),
            );
        }
    };
    if parsed
        .policies
        .iter()
        .any(|p| !p.policy_domain.is_empty() && p.policy_domain != domain.as_str())
    {
        return json_error(
            StatusCode::BAD_REQUEST,
            &format!("the report is about another policy domain than {domain}"),
        );
    }
    let now = mxtls_probe::clock::unix_now().0;
    let new = match app
        .store
        .put_tls_report(domain.as_str(), &parsed, now)
        .await
    {
        Ok(new) => new,
        Err(_) => return json_error(StatusCode::INTERNAL_SERVER_ERROR, "the store failed"),
    };
    app.metrics.tls_report();
    let skipped = parsed.skipped.clone();
    let failed: u64 = parsed.policies.iter().map(|p| p.failed).sum();
    if new && failed > 0 && !watches.is_empty() {
        let app = app.clone();
        tokio::spawn(async move { notify(&app, &parsed, failed, &watches).await });
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
        if !app.report_notices.allow(&w.id) {
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
            text.push_str(&format!(
                "\nHistory: {}\nTo stop these mails: curl -X DELETE {base}/api/watches/{}\n",
                note.history, w.id
            ));
            text
        })
        .await;
        if let Err(e) = sent {
            eprintln!(
                "mxtls: watch {} ({}): report notification not queued: {e}",
                w.id, w.domain
            );
        }
    }
}

/// When each watch was last told of a report (in memory: after a restart the next report is
/// told again, which is harmless).
#[derive(Default)]
pub struct NoticeTimes(std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>);

impl NoticeTimes {
    /// Whether watch `id` may be told now; if so, the time is taken.
    pub fn allow(&self, id: &str) -> bool {
        let now = std::time::Instant::now();
        let mut m = crate::checks::lock(&self.0);
        if m.len() > 100_000 {
            m.retain(|_, t| now.duration_since(*t) < NOTIFY_AT_MOST_EVERY);
        }
        match m.get(id) {
            Some(t) if now.duration_since(*t) < NOTIFY_AT_MOST_EVERY => false,
            _ => {
                m.insert(id.to_owned(), now);
                true
            }
        }
    }
}
