//! mxtls-server: serves the web app (built by Trunk into `dist/`) with client-side routes, and
//! `/healthz`. The page does the judging itself, with mxtls-core compiled to wasm; the server
//! never sends verdicts.

use std::net::SocketAddr;
use std::path::PathBuf;

use axum::Router;
use axum::routing::get;
use http::{HeaderName, HeaderValue};
use tower_http::services::{ServeDir, ServeFile};
use tower_http::set_header::SetResponseHeaderLayer;

/// What `mxtls serve` was asked to do.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// The built web app (Trunk's `dist/`).
    pub web_dir: PathBuf,
}

/// The application router.
pub fn router(config: &Config) -> Router {
    let index = config.web_dir.join("index.html");
    let static_files = ServeDir::new(&config.web_dir).fallback(ServeFile::new(index));
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
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
}

/// Serves until interrupted (Ctrl-C).
pub async fn serve(config: Config) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    eprintln!("mxtls: serving on http://{}", listener.local_addr()?);
    axum::serve(listener, router(&config))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}
