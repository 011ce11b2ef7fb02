//! mxtls-server: the web app (built by Trunk into `dist/`) with client-side routes, the JSON
//! API and `/healthz`. The page judges evidence itself, with mxtls-core compiled to wasm; the
//! server sends evidence and progress, never verdicts.
//!
//! API:
//! * `GET /api/check/{domain}` — server-sent events: `progress` (probe events) while the check
//!   runs, then `evidence` (`{"snapshot": id, "evidence": …}`) or `error` (`{"error": …}`).
//! * `GET /api/snapshots/{id}` — a snapshot's evidence; immutable (long cache life, ETag).

pub mod csp;
pub mod snapshots;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderName, HeaderValue};
use snapshots::{SnapshotId, Store};
use tower_http::services::{ServeDir, ServeFile};
use tower_http::set_header::SetResponseHeaderLayer;

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
}

/// Shared state of the handlers.
pub struct App {
    pub store: Store,
    pub probe: mxtls_probe::Config,
}

/// The application router.
pub fn router(config: &Config, app: Arc<App>) -> Router {
    let index = config.web_dir.join("index.html");
    let static_files = ServeDir::new(&config.web_dir).fallback(ServeFile::new(index));
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/api/check/{domain}", get(check))
        .route("/api/snapshots/{id}", get(snapshot))
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
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("x-frame-options"),
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_str(&csp::policy(&config.web_dir))
                .unwrap_or(HeaderValue::from_static("default-src 'self'")),
        ))
}

fn json_error(status: StatusCode, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::json!({ "error": message }).to_string(),
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

async fn check(State(app): State<Arc<App>>, Path(domain): Path<String>) -> Response {
    let domain = match mxtls_core::dns::parse_user_domain(&domain) {
        Ok(d) => d,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, &e),
    };
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Result<Event, Infallible>>();
    tokio::spawn(async move {
        let (progress_tx, mut progress_rx) = tokio::sync::mpsc::unbounded_channel();
        let forward = {
            let tx = tx.clone();
            tokio::spawn(async move {
                while let Some(event) = progress_rx.recv().await {
                    if let Ok(e) = Event::default().event("progress").json_data(&event) {
                        let _ = tx.send(Ok(e));
                    }
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
                    Ok(Ok((id, evidence))) => Event::default().event("evidence").json_data(
                        serde_json::json!({ "snapshot": id.as_str(), "evidence": evidence }),
                    ),
                    _ => Event::default()
                        .event("error")
                        .json_data(serde_json::json!({ "error": "the snapshot store failed" })),
                }
            }
            Err(e) => Event::default()
                .event("error")
                .json_data(serde_json::json!({ "error": e.to_string() })),
        };
        if let Ok(e) = last {
            let _ = tx.send(Ok(e));
        }
    });
    Sse::new(tokio_stream::wrappers::UnboundedReceiverStream::new(rx))
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// Serves until interrupted (Ctrl-C).
pub async fn serve(config: Config) -> std::io::Result<()> {
    let store = Store::open(&config.db).map_err(|e| {
        std::io::Error::other(format!("snapshot store {}: {e}", config.db.display()))
    })?;
    let app = Arc::new(App {
        store,
        probe: config.probe.clone(),
    });
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    eprintln!("mxtls: serving on http://{}", listener.local_addr()?);
    axum::serve(listener, router(&config, app))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}
