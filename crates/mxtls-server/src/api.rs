//! The API's handlers. Each reads the store or the running checks and answers with the
//! shared contract's types (`mxtls_core::api`); none of them judges evidence, except the
//! badge, which the core renders.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use mxtls_core::Evidence;
use mxtls_core::api::{ApiError, CheckAnswer, StreamEvent};

use crate::App;
use crate::checks::{Frame, Refusal};
use crate::clients::{self, ClientKey};
use crate::runner::{Asker, Refused};
use crate::snapshots::SnapshotId;

/// How often an idle event stream carries a comment: a closed tab is noticed when a write
/// fails, so this bounds how long an abandoned check waits before its grace period starts.
const STREAM_KEEP_ALIVE: Duration = Duration::from_secs(1);

/// `/api/check/<domain>`: the check's events (see the crate's documentation). A recent
/// snapshot is reused; a running check of the domain is joined; otherwise a probe starts,
/// within the client's limits.
pub async fn check(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(domain): Path<String>,
) -> Response {
    let host = clients::addressed_host(&app.proxies, peer.ip(), &headers);
    if clients::cross_site(&headers, host) {
        return json_error(
            StatusCode::FORBIDDEN,
            "checks start only from this checker's own pages (a cross-site request was refused)",
        );
    }
    let domain = match mxtls_core::names::parse_user_domain(&domain) {
        Ok(d) => d,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, &e),
    };

    // A recent check of the same domain is reused: the servers are not probed again.
    if let Ok(Some((id, evidence))) = latest_evidence(&app, &domain).await
        && mxtls_probe::clock::unix_now().0 - evidence.probe.finished_at.0
            < app.limits.reuse.as_secs() as i64
    {
        let answer = StreamEvent::Evidence(Box::new(CheckAnswer {
            snapshot: id.as_str().to_owned(),
            evidence,
            reused: true,
        }));
        let frame = Frame {
            name: answer.name(),
            data: answer.data(),
        };
        let client = app.proxies.client(peer.ip(), &headers).to_string();
        log_check(domain.as_str(), &client, &frame);
        let event = Ok::<_, Infallible>(sse_event(&frame));
        return Sse::new(futures_util::stream::once(async move { event })).into_response();
    }
    let client_ip = app.proxies.client(peer.ip(), &headers).to_string();
    let client = ClientKey::of(app.proxies.client(peer.ip(), &headers));
    let refused = match app
        .runner
        .check(domain.clone(), Asker::Client(client))
        .await
    {
        Ok(frames) => {
            let name = domain.to_string();
            return Sse::new(frames.map(move |f| {
                log_check(&name, &client_ip, &f);
                Ok::<_, Infallible>(sse_event(&f))
            }))
            .keep_alive(KeepAlive::new().interval(STREAM_KEEP_ALIVE))
            .into_response();
        }
        Err(Refused::Limit(r)) => r,
        Err(Refused::ShuttingDown) => {
            return retry_after(
                StatusCode::SERVICE_UNAVAILABLE,
                30,
                "this checker is restarting and takes no new checks",
            );
        }
        Err(Refused::Unavailable(e)) => {
            crate::say!("starting a check of {domain}: {e}");
            return retry_after(
                StatusCode::SERVICE_UNAVAILABLE,
                5,
                "the checker's store is unavailable",
            );
        }
    };
    // Each refusal is a clause the page completes with the wait ("…; this one can start in
    // 23 seconds"); API clients read the wait from `Retry-After`.
    match refused {
        Refusal::ClientBusy => retry_after(
            StatusCode::TOO_MANY_REQUESTS,
            5,
            &format!(
                "you have {} running already",
                mxtls_core::present::count_of(
                    app.limits.per_client_concurrent_checks,
                    "check",
                    "checks"
                )
            ),
        ),
        Refusal::Quota(wait) => retry_after(
            StatusCode::TOO_MANY_REQUESTS,
            wait,
            "you have started many checks",
        ),
        Refusal::Full => retry_after(
            StatusCode::SERVICE_UNAVAILABLE,
            5,
            "the checker is busy with other checks",
        ),
    }
}

/// One event of the check stream, named and serialised by the shared contract.
/// The log's line for a check's end as one client saw it: the snapshot (the check's id),
/// the domain, the client and the outcome. Progress frames are not logged.
fn log_check(domain: &str, client: &str, frame: &Frame) {
    use mxtls_core::api::StreamEventName as N;
    let (msg, outcome, id) = match frame.name {
        N::Progress => return,
        N::Evidence => {
            let id = frame
                .data
                .split_once("\"snapshot\":\"")
                .and_then(|(_, rest)| rest.split('"').next())
                .unwrap_or("");
            let outcome = if frame.data.contains("\"reused\":true") {
                "reused"
            } else {
                "evidence"
            };
            ("check done", outcome.to_owned(), id.to_owned())
        }
        N::Error => (
            "check failed",
            format!(
                "error: {}",
                frame.data.chars().take(200).collect::<String>()
            ),
            String::new(),
        ),
    };
    crate::log::event(
        "info",
        msg,
        &[
            ("check", &id),
            ("domain", domain),
            ("client", client),
            ("outcome", &outcome),
        ],
    );
}

fn sse_event(frame: &Frame) -> Event {
    Event::default()
        .event(frame.name.as_str())
        .data(&frame.data)
}

/// `/api/roots`: the root set, as JSON; stable for the life of the binary.
pub async fn roots() -> Response {
    static ROOTS: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let body = ROOTS.get_or_init(|| {
        serde_json::to_string(&mxtls_core::pkix::RootSet::mozilla()).unwrap_or_default()
    });
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        body.clone(),
    )
        .into_response()
}

/// Why the latest snapshot of a domain is not at hand.
enum LatestError {
    /// The store itself failed.
    Store(crate::store::StoreError),
    /// A snapshot is stored but does not load as evidence.
    Unreadable,
}

/// The latest stored check of `domain`, loaded as evidence.
async fn latest_evidence(
    app: &Arc<App>,
    domain: &mxtls_core::names::DnsName,
) -> Result<Option<(SnapshotId, Evidence)>, LatestError> {
    match app.store.latest(domain.as_str()).await {
        Ok(Some(s)) => Evidence::from_json(&String::from_utf8_lossy(&s.evidence))
            .map(|e| Some((s.id, e)))
            .map_err(|_| LatestError::Unreadable),
        Ok(None) => Ok(None),
        Err(e) => Err(LatestError::Store(e)),
    }
}

/// `/api/domains/<domain>/latest`: `{"snapshot": id, "evidence": …}` or 404.
pub async fn latest(State(app): State<Arc<App>>, Path(domain): Path<String>) -> Response {
    let domain = match mxtls_core::names::parse_user_domain(&domain) {
        Ok(d) => d,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, &e),
    };
    match latest_evidence(&app, &domain).await {
        Ok(Some((id, evidence))) => (
            [(header::CACHE_CONTROL, "no-cache")],
            axum::Json(CheckAnswer {
                snapshot: id.as_str().to_owned(),
                evidence,
                reused: false,
            }),
        )
            .into_response(),
        Ok(None) => json_error(
            StatusCode::NOT_FOUND,
            "this domain has not been checked yet",
        ),
        Err(LatestError::Unreadable) => json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the stored snapshot does not load",
        ),
        Err(LatestError::Store(e)) => store_failed(&e, "the snapshot store failed"),
    }
}

pub fn json_error(status: StatusCode, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::to_string(&ApiError {
            error: message.to_owned(),
        })
        .unwrap_or_default(),
    )
        .into_response()
}

/// `/badge/<domain>.svg`: the latest snapshot of the domain, judged by the core.
pub async fn badge(State(app): State<Arc<App>>, Path(file): Path<String>) -> Response {
    let Some(domain) = file
        .strip_suffix(".svg")
        .and_then(|d| mxtls_core::names::parse_user_domain(d).ok())
    else {
        return json_error(StatusCode::NOT_FOUND, "badges are at /badge/<domain>.svg");
    };
    let evidence = match latest_evidence(&app, &domain).await {
        Ok(found) => found.map(|(_, e)| e),
        Err(LatestError::Unreadable) => None,
        Err(LatestError::Store(e)) => return store_failed(&e, "the snapshot store failed"),
    };
    let report = evidence
        .as_ref()
        .map(|e| mxtls_core::analyse(e, e.probe.finished_at));
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        mxtls_core::render::badge(report.as_ref()),
    )
        .into_response()
}

pub async fn snapshot(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(id) = SnapshotId::parse(&id) else {
        return json_error(StatusCode::BAD_REQUEST, "not a snapshot id");
    };
    let etag = format!("\"{}\"", id.as_str());
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        == Some(etag.as_str())
    {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    match app.store.get(&id).await {
        Ok(Some(s)) => (
            [
                (header::CONTENT_TYPE, "application/json".to_owned()),
                (
                    header::CACHE_CONTROL,
                    "public, max-age=31536000, immutable".to_owned(),
                ),
                (header::ETAG, etag),
            ],
            s.evidence,
        )
            .into_response(),
        Ok(None) => json_error(StatusCode::NOT_FOUND, "no such snapshot"),
        Err(e) => store_failed(&e, "the snapshot store failed"),
    }
}

/// The answer to a store error: 503 with `Retry-After` while the database is unavailable
/// (a restart, a full pool: asking again soon may work), else 500 with `message`.
pub(crate) fn store_failed(e: &crate::store::StoreError, message: &str) -> Response {
    if e.is_unavailable() {
        retry_after(
            StatusCode::SERVICE_UNAVAILABLE,
            5,
            "the store is unavailable; try again in a few seconds",
        )
    } else {
        json_error(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
}

/// A refusal with `Retry-After`.
pub(crate) fn retry_after(status: StatusCode, seconds: u64, message: &str) -> Response {
    let mut r = json_error(status, message);
    if let Ok(v) = HeaderValue::from_str(&seconds.to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}
