//! `POST /api/batches`, `GET /api/batches/{id}`, `GET /api/batches/{id}/results`
//! (`?format=jsonl`, the default, or `csv`) and `GET /api/batches/{id}/portfolio` (the
//! portfolio page's data, `mxtls_core::batch::portfolio::Answer`), for operators with an API token
//! (`Authorization: Bearer TOKEN`, tokens from `--batch-token NAME=TOKEN`). A batch is its
//! operator's: another token gets 404, as for a batch that does not exist.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::App;
use crate::api::{json_error, store_failed};

/// The body limit of `POST /api/batches`: 100,000 domains of any length fit.
pub const MAX_BODY: usize = 32 << 20;

/// The operator a request's token names, if it names one.
fn operator(app: &App, headers: &HeaderMap) -> Option<String> {
    let given = headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")?
        .trim();
    app.batch_tokens
        .iter()
        .find(|(_, token)| same(token.as_bytes(), given.as_bytes()))
        .map(|(name, _)| name.clone())
}

/// Equal, in a time that does not depend on where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn refuse(app: &App, headers: &HeaderMap) -> Result<String, Box<Response>> {
    if app.batch_tokens.is_empty() {
        return Err(Box::new(json_error(
            StatusCode::NOT_FOUND,
            "this checker takes no batches (mxtls serve --batch-token NAME=TOKEN)",
        )));
    }
    operator(app, headers).ok_or_else(|| {
        let mut r = json_error(
            StatusCode::UNAUTHORIZED,
            "batches need an operator's API token: Authorization: Bearer TOKEN",
        );
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
        Box::new(r)
    })
}

pub async fn create(State(app): State<Arc<App>>, headers: HeaderMap, body: String) -> Response {
    let operator = match refuse(&app, &headers) {
        Ok(o) => o,
        Err(r) => return *r,
    };
    let new: super::NewBatch = match serde_json::from_str(&body) {
        Ok(n) => n,
        Err(e) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                &format!("the body must be {{\"name\": …, \"domains\": […]}}: {e}"),
            );
        }
    };
    match super::create(&app.store, &operator, new).await {
        Ok(p) => (StatusCode::CREATED, axum::Json(p)).into_response(),
        Err(super::CreateError::Invalid(why)) => json_error(StatusCode::BAD_REQUEST, &why),
        Err(super::CreateError::Store(e)) => store_failed(&e, "the batch store failed"),
    }
}

/// The batch `id` if it is the operator's.
async fn owned(app: &App, headers: &HeaderMap, id: &str) -> Result<super::Progress, Box<Response>> {
    let operator = refuse(app, headers)?;
    match super::progress(&app.store, id).await {
        Ok(Some(p)) if p.operator == operator => Ok(p),
        Ok(_) => Err(Box::new(json_error(StatusCode::NOT_FOUND, "no such batch"))),
        Err(e) => Err(Box::new(store_failed(&e, "the batch store failed"))),
    }
}

pub async fn show(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    match owned(&app, &headers, &id).await {
        Ok(p) => ([(header::CACHE_CONTROL, "no-store")], axum::Json(p)).into_response(),
        Err(r) => *r,
    }
}

#[derive(serde::Deserialize)]
pub struct Format {
    format: Option<String>,
}

pub async fn results(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(format): Query<Format>,
) -> Response {
    if let Err(r) = owned(&app, &headers, &id).await {
        return *r;
    }
    let rows = match super::rows(&app.store, &id).await {
        Ok(r) => r,
        Err(e) => return store_failed(&e, "the batch store failed"),
    };
    match format.format.as_deref().unwrap_or("jsonl") {
        "csv" => {
            let mut body = format!("{}\r\n", mxtls_core::batch::CSV_HEADER);
            for row in &rows {
                body.push_str(&mxtls_core::batch::csv(row));
                body.push_str("\r\n");
            }
            ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], body).into_response()
        }
        "jsonl" => {
            let mut body = String::new();
            for row in &rows {
                body.push_str(&serde_json::to_string(row).unwrap_or_default());
                body.push('\n');
            }
            ([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response()
        }
        other => json_error(
            StatusCode::BAD_REQUEST,
            &format!("format {other:?}: jsonl or csv"),
        ),
    }
}

pub async fn portfolio(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let batch = match owned(&app, &headers, &id).await {
        Ok(p) => p,
        Err(r) => return *r,
    };
    match super::portfolio(&app.store, &batch).await {
        Ok(body) => (
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            body,
        )
            .into_response(),
        Err(e) => store_failed(&e, "the batch store failed"),
    }
}
