//! mxtls-server: the web app (built by Trunk into `dist/`) with client-side routes, the JSON
//! API and `/healthz`. The page judges evidence itself, with mxtls-core compiled to wasm; the
//! server sends evidence and progress, never verdicts.
//!
//! API:
//! * `GET /api/check/{domain}` — server-sent events: `progress` (probe events) while the check
//!   runs, then `evidence` (`{"snapshot": id, "evidence": …}`) or `error` (`{"error": …}`).
//! * `GET /api/snapshots/{id}` — a snapshot's evidence; immutable (long cache life, ETag).
//! * `GET /api/domains/{domain}/latest` — the domain's latest snapshot, for the widget, which
//!   must not probe the servers on every page view of the site it is embedded in.
//! * `GET /api/examples` — domains the home page offers as examples (`--example`).
//! * `GET /api/roots` — the PKIX root set the page judges with (the server's, so browser
//!   and CLI trust the same roots); fetched when a report is first drawn.
//! * `GET /badge/{domain}.svg` — a badge from the domain's latest snapshot.
//! * `GET /api/openapi.json` — this API as OpenAPI 3.1.

pub mod csp;
pub mod snapshots;

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use tokio::sync::Semaphore;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderName, HeaderValue};
use mxtls_core::Evidence;
use mxtls_core::api::{ApiError, CheckAnswer, Examples, StreamEvent};
use snapshots::{SnapshotId, Store};
use tower_http::services::{ServeDir, ServeFile};
use tower_http::set_header::SetResponseHeaderLayer;

/// The OpenAPI document of the API, served at `/api/openapi.json`.
pub const OPENAPI: &str = include_str!("openapi.json");

/// What `mxtls serve` was asked to do.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// The built web app (Trunk's `dist/`).
    pub web_dir: PathBuf,
    /// The SQLite snapshot store.
    pub db: PathBuf,
    /// How checks are run (the target policy stays on unless the test flag says otherwise).
    pub probe: mxtls_probe::Config,
    /// Domains the home page lists as examples (the test world's scenarios in the demo).
    pub examples: Vec<String>,
}

/// How the server protects the servers it probes (and itself).
#[derive(Debug, Clone)]
pub struct Limits {
    /// Checks one client may start per minute.
    pub per_client_per_minute: u32,
    /// Checks running at once, across all clients.
    pub max_concurrent_checks: usize,
    /// A snapshot of the same domain younger than this is served instead of probing again.
    pub reuse: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            per_client_per_minute: 6,
            max_concurrent_checks: 8,
            reuse: Duration::from_secs(60),
        }
    }
}

/// Shared state of the handlers.
pub struct App {
    pub store: Store,
    pub examples: Vec<String>,
    pub probe: mxtls_probe::Config,
    pub limits: Limits,
    clients: Mutex<HashMap<IpAddr, (Instant, u32)>>,
    checks: Arc<Semaphore>,
}

impl App {
    pub fn new(store: Store, probe: mxtls_probe::Config, limits: Limits) -> App {
        let checks = Arc::new(Semaphore::new(limits.max_concurrent_checks));
        App {
            store,
            examples: Vec::new(),
            probe,
            limits,
            clients: Mutex::new(HashMap::new()),
            checks,
        }
    }

    /// Counts a check for `client`; `Err(seconds)` to wait when over the limit. Memory is
    /// bounded: stale windows are dropped whenever the table grows large.
    fn admit(&self, client: IpAddr) -> Result<(), u64> {
        const WINDOW: Duration = Duration::from_secs(60);
        let now = Instant::now();
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if clients.len() > 10_000 {
            clients.retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
        }
        let entry = clients.entry(client).or_insert((now, 0));
        if now.duration_since(entry.0) >= WINDOW {
            *entry = (now, 0);
        }
        if entry.1 >= self.limits.per_client_per_minute {
            return Err(WINDOW
                .saturating_sub(now.duration_since(entry.0))
                .as_secs()
                .max(1));
        }
        entry.1 += 1;
        Ok(())
    }
}

/// The application router.
pub fn router(config: &Config, app: Arc<App>) -> Router {
    let index = config.web_dir.join("index.html");
    // Compressed (brotli or gzip, as the browser accepts); the event stream is not, so its
    // events are never held back in a compressor's buffer.
    let static_files = tower::ServiceBuilder::new()
        .layer(tower_http::compression::CompressionLayer::new())
        .service(ServeDir::new(&config.web_dir).fallback(ServeFile::new(index)));
    let framing = Arc::new(Framing {
        page: header_value(&csp::policy(&config.web_dir, csp::Framing::Deny)),
        widget: header_value(&csp::policy(&config.web_dir, csp::Framing::Anyone)),
    });
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/api/check/{domain}", get(check))
        .route(
            "/api/snapshots/{id}",
            get(snapshot).layer(tower_http::compression::CompressionLayer::new()),
        )
        .route(
            "/api/domains/{domain}/latest",
            get(latest).layer(tower_http::compression::CompressionLayer::new()),
        )
        .route(
            "/api/roots",
            get(roots).layer(tower_http::compression::CompressionLayer::new()),
        )
        .route(
            "/api/examples",
            get(|State(app): State<Arc<App>>| async move {
                axum::Json(Examples {
                    examples: app.examples.clone(),
                })
            }),
        )
        .route("/badge/{file}", get(badge))
        .route(
            "/api/openapi.json",
            get(|| async { ([(header::CONTENT_TYPE, "application/json")], OPENAPI) }),
        )
        .with_state(app)
        .fallback_service(static_files)
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("x-content-type-options"),
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("referrer-policy"),
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(axum::middleware::from_fn(move |req, next| {
            frame_headers(framing.clone(), req, next)
        }))
}

fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or(HeaderValue::from_static("default-src 'none'"))
}

/// The content security policies of ordinary pages and of the frameable widget.
struct Framing {
    page: HeaderValue,
    widget: HeaderValue,
}

/// Only `/widget/…` may be framed by other sites; every other response forbids framing, both
/// by CSP `frame-ancestors` and by `X-Frame-Options` for older browsers.
async fn frame_headers(
    framing: Arc<Framing>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let widget = req.uri().path().starts_with("/widget/");
    let mut response = next.run(req).await;
    let headers = response.headers_mut();
    if widget {
        headers.insert(header::CONTENT_SECURITY_POLICY, framing.widget.clone());
    } else {
        headers.insert(header::CONTENT_SECURITY_POLICY, framing.page.clone());
        headers.insert(
            HeaderName::from_static("x-frame-options"),
            HeaderValue::from_static("DENY"),
        );
    }
    response
}

/// `/api/roots`: the root set, as JSON; stable for the life of the binary.
async fn roots() -> Response {
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
    Store,
    /// A snapshot is stored but does not load as evidence.
    Unreadable,
}

/// The latest stored check of `domain`, loaded as evidence (the store is read off the
/// async threads).
async fn latest_evidence(
    app: &Arc<App>,
    domain: &mxtls_core::names::DnsName,
) -> Result<Option<(SnapshotId, Evidence)>, LatestError> {
    let (app, name) = (app.clone(), domain.to_string());
    match tokio::task::spawn_blocking(move || app.store.latest(&name)).await {
        Ok(Ok(Some(s))) => Evidence::from_json(&String::from_utf8_lossy(&s.evidence))
            .map(|e| Some((s.id, e)))
            .map_err(|_| LatestError::Unreadable),
        Ok(Ok(None)) => Ok(None),
        _ => Err(LatestError::Store),
    }
}

/// `/api/domains/<domain>/latest`: `{"snapshot": id, "evidence": …}` or 404.
async fn latest(State(app): State<Arc<App>>, Path(domain): Path<String>) -> Response {
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
        Err(LatestError::Store) => json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the snapshot store failed",
        ),
    }
}

fn json_error(status: StatusCode, message: &str) -> Response {
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
async fn badge(State(app): State<Arc<App>>, Path(file): Path<String>) -> Response {
    let Some(domain) = file
        .strip_suffix(".svg")
        .and_then(|d| mxtls_core::names::parse_user_domain(d).ok())
    else {
        return json_error(StatusCode::NOT_FOUND, "badges are at /badge/<domain>.svg");
    };
    let evidence = match latest_evidence(&app, &domain).await {
        Ok(found) => found.map(|(_, e)| e),
        Err(LatestError::Unreadable) => None,
        Err(LatestError::Store) => {
            return json_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the snapshot store failed",
            );
        }
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

async fn snapshot(
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
    let found = tokio::task::spawn_blocking(move || app.store.get(&id)).await;
    match found {
        Ok(Ok(Some(s))) => (
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
        Ok(Ok(None)) => json_error(StatusCode::NOT_FOUND, "no such snapshot"),
        _ => json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the snapshot store failed",
        ),
    }
}

fn retry_after(status: StatusCode, seconds: u64, message: &str) -> Response {
    let mut r = json_error(status, message);
    if let Ok(v) = HeaderValue::from_str(&seconds.to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

/// One event of the check stream, named and serialised by the shared contract.
fn sse_event(event: &StreamEvent) -> Event {
    Event::default()
        .event(event.name().as_str())
        .data(event.data())
}

fn sse(rx: tokio::sync::mpsc::UnboundedReceiver<Result<Event, Infallible>>) -> Response {
    Sse::new(tokio_stream::wrappers::UnboundedReceiverStream::new(rx))
        .keep_alive(KeepAlive::default())
        .into_response()
}

async fn check(
    State(app): State<Arc<App>>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Path(domain): Path<String>,
) -> Response {
    let domain = match mxtls_core::names::parse_user_domain(&domain) {
        Ok(d) => d,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, &e),
    };
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Result<Event, Infallible>>();

    // A recent check of the same domain is reused: the servers are not probed again.
    if let Ok(Some((id, evidence))) = latest_evidence(&app, &domain).await
        && mxtls_probe::clock::unix_now().0 - evidence.probe.finished_at.0
            < app.limits.reuse.as_secs() as i64
    {
        let answer = CheckAnswer {
            snapshot: id.as_str().to_owned(),
            evidence,
            reused: true,
        };
        let _ = tx.send(Ok(sse_event(&StreamEvent::Evidence(Box::new(answer)))));
        drop(tx);
        return sse(rx);
    }
    if let Err(wait) = app.admit(client.ip()) {
        return retry_after(
            StatusCode::TOO_MANY_REQUESTS,
            wait,
            "too many checks from your address; try again later",
        );
    }
    let Ok(permit) = app.checks.clone().try_acquire_owned() else {
        return retry_after(
            StatusCode::SERVICE_UNAVAILABLE,
            5,
            "the checker is busy; try again in a few seconds",
        );
    };
    tokio::spawn(async move {
        let _permit = permit;
        let (progress_tx, mut progress_rx) = tokio::sync::mpsc::unbounded_channel();
        let forward = {
            let tx = tx.clone();
            tokio::spawn(async move {
                while let Some(event) = progress_rx.recv().await {
                    let _ = tx.send(Ok(sse_event(&StreamEvent::Progress(event))));
                }
            })
        };
        let result = mxtls_probe::check(&domain, &app.probe, Some(progress_tx)).await;
        let _ = forward.await;
        let last = match result {
            Ok(evidence) => {
                let app2 = app.clone();
                let stored = tokio::task::spawn_blocking(move || {
                    app2.store.put(&evidence).map(|id| (id, evidence))
                })
                .await;
                match stored {
                    Ok(Ok((id, evidence))) => StreamEvent::Evidence(Box::new(CheckAnswer {
                        snapshot: id.as_str().to_owned(),
                        evidence,
                        reused: false,
                    })),
                    _ => StreamEvent::Error(ApiError {
                        error: "the snapshot store failed".into(),
                    }),
                }
            }
            Err(e) => StreamEvent::Error(ApiError {
                error: e.to_string(),
            }),
        };
        let _ = tx.send(Ok(sse_event(&last)));
    });
    sse(rx)
}

/// Serves until interrupted (Ctrl-C).
pub async fn serve(config: Config) -> std::io::Result<()> {
    let store = Store::open(&config.db).map_err(|e| {
        std::io::Error::other(format!("snapshot store {}: {e}", config.db.display()))
    })?;
    let mut app = App::new(store, config.probe.clone(), Limits::default());
    app.examples = config.examples.clone();
    let app = Arc::new(app);
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    eprintln!("mxtls: serving on http://{}", listener.local_addr()?);
    axum::serve(
        listener,
        router(&config, app).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}
