//! `/healthz`: whether this instance can do its work. On PostgreSQL that depends on the
//! store, which instances share and which can go away (a restart, a failover): the answer is
//! 200 `ok` only when the store answered a trivial query within [`ANSWER_WITHIN`], else 503
//! with the reason, so a load balancer stops sending checks that would only get a 503. The
//! answer is kept for [`KEPT_FOR`], so probes of `/healthz` — however many — ask the
//! database at most once a second. A SQLite store is this process's own file: `ok`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tokio::time::Instant;

use crate::App;

/// How long the store may take to answer before the instance is called unhealthy.
pub const ANSWER_WITHIN: Duration = Duration::from_secs(1);

/// How long an answer is reused.
pub const KEPT_FOR: Duration = Duration::from_secs(1);

/// The last answer and when it was found.
#[derive(Default)]
pub struct Health {
    last: tokio::sync::Mutex<Option<(Instant, Result<(), String>)>>,
}

impl Health {
    /// The store's health, asked at most once per [`KEPT_FOR`] (concurrent callers wait for
    /// the one question in flight and share its answer).
    pub async fn store(&self, store: &crate::snapshots::Store) -> Result<(), String> {
        if store.engine() == "sqlite" {
            return Ok(());
        }
        let mut last = self.last.lock().await;
        if let Some((at, answer)) = &*last
            && at.elapsed() < KEPT_FOR
        {
            return answer.clone();
        }
        let answer =
            match tokio::time::timeout(ANSWER_WITHIN, store.number("SELECT 1", crate::params![]))
                .await
            {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(format!("the store does not answer: {e}")),
                Err(_) => Err(format!(
                    "the store did not answer within {} ms",
                    ANSWER_WITHIN.as_millis()
                )),
            };
        *last = Some((Instant::now(), answer.clone()));
        answer
    }
}

/// `GET /healthz`: `ok`, or 503 with why not.
pub async fn healthz(State(app): State<Arc<App>>) -> Response {
    match app.health.store(&app.store).await {
        Ok(()) => "ok\n".into_response(),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")).into_response(),
    }
}
