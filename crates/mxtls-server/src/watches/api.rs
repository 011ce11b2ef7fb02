//! The watch endpoints: `POST /api/watches`, `DELETE /api/watches/{id}`, and the email
//! confirmation (`GET` shows a button, `POST` confirms: a mail scanner that follows links
//! must not confirm for the owner).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mxtls_core::api::{WatchCreated, WatchRequest};

use super::{Target, Watch, random_id, send_confirmation};
use crate::App;
use crate::api::{json_error, store_failed};
use crate::clients::{self, ClientKey};
use crate::notify;

/// The largest request body accepted.
pub const MAX_BODY: usize = 4096;

#[derive(serde::Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

/// `POST /api/watches`.
pub async fn create(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    if clients::cross_site(&headers, host) {
        return json_error(
            StatusCode::FORBIDDEN,
            "watches are made only from this checker's own pages or without a browser",
        );
    }
    if body.len() > MAX_BODY {
        return json_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "the request body is too large",
        );
    }
    let request: WatchRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                &format!("the body must be {{\"domain\": …, \"webhook\" or \"email\": …}}: {e}"),
            );
        }
    };
    let domain = match mxtls_core::names::parse_user_domain(&request.domain) {
        Ok(d) => d,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, &e),
    };
    let allow_private = app.delivery.allow_private_targets;
    let target = match (request.webhook, request.email) {
        (Some(url), None) => {
            let hook = match notify::Webhook::parse(&url) {
                Ok(h) => h,
                Err(e) => return json_error(StatusCode::BAD_REQUEST, &e),
            };
            if let Err(e) = notify::check_webhook(&hook, allow_private).await {
                return json_error(StatusCode::BAD_REQUEST, &format!("the webhook: {e}"));
            }
            Target::Webhook(url)
        }
        (None, Some(email)) => {
            if app.delivery.smtp_relay.is_none() {
                return json_error(
                    StatusCode::BAD_REQUEST,
                    "this server sends no mail (it was started without --smtp-relay); use a webhook",
                );
            }
            if let Err(e) = notify::parse_email(&email, allow_private) {
                return json_error(StatusCode::BAD_REQUEST, &e);
            }
            Target::Email(email)
        }
        _ => {
            return json_error(
                StatusCode::BAD_REQUEST,
                "give exactly one of \"webhook\" and \"email\"",
            );
        }
    };
    let client = ClientKey::of(app.proxies.client(peer.ip(), &headers)).to_string();
    let (Some(id), Some(token)) = (random_id(), random_id()) else {
        return json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "no randomness for a watch id",
        );
    };
    let now = mxtls_probe::clock::unix_now().0;
    let watch = Watch {
        id,
        domain: domain.to_string(),
        token: matches!(target, Target::Email(_)).then_some(token),
        target,
        next_check: now,
        last_snapshot: None,
    };
    let limits = app.watch.clone();
    let (store, w, c) = (&app.store, &watch, &client);
    let added = async {
        if let Target::Email(email) = &w.target
            && store.confirmation_pending(email).await?
        {
            return Ok(Err(
                "a confirmation mail to this address is waiting to be followed; follow it first"
                    .to_owned(),
            ));
        }
        let (by_client, by_domain) = store.watch_counts(c, &w.domain).await?;
        if by_client >= limits.per_client {
            return Ok(Err(format!(
                "you hold {by_client} watches already (at most {})",
                limits.per_client
            )));
        }
        if by_domain >= limits.per_domain {
            return Ok(Err(format!(
                "{} has {by_domain} watches already (at most {})",
                w.domain, limits.per_domain
            )));
        }
        store.add_watch(w, c, now).await.map(Ok)
    }
    .await;
    match added {
        Ok(Ok(())) => {}
        Ok(Err(limit)) => return json_error(StatusCode::TOO_MANY_REQUESTS, &limit),
        Err(e) => return store_failed(&e, "the watch store failed"),
    }
    let state = if watch.token.is_some() {
        if let Err(e) = send_confirmation(&app, &watch).await {
            let _ = app.store.delete_watch(&watch.id).await;
            return json_error(
                StatusCode::BAD_GATEWAY,
                &format!("the confirmation mail could not be sent: {e}"),
            );
        }
        "awaiting-confirmation"
    } else {
        // The first check comes with the watcher's next tick.
        "active"
    };
    (
        StatusCode::CREATED,
        [(header::LOCATION, format!("/api/watches/{}", watch.id))],
        axum::Json(WatchCreated {
            id: watch.id,
            domain: watch.domain,
            state: state.to_owned(),
        }),
    )
        .into_response()
}

/// `DELETE /api/watches/{id}`: 204, or 404 for an unknown id.
pub async fn delete(State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    if !is_id(&id) {
        return json_error(StatusCode::NOT_FOUND, "no such watch");
    }
    match app.store.delete_watch(&id).await {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => json_error(StatusCode::NOT_FOUND, "no such watch"),
        Err(e) => store_failed(&e, "the watch store failed"),
    }
}

fn is_id(text: &str) -> bool {
    text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `GET /api/watches/{id}/confirm?token=…`: a page with the button that confirms.
pub async fn confirm_page(Path(id): Path<String>, Query(q): Query<TokenQuery>) -> Response {
    let token = q.token.unwrap_or_default();
    if !is_id(&id) || !is_id(&token) {
        return page(
            StatusCode::NOT_FOUND,
            "This confirmation link is not valid.",
            None,
        );
    }
    page(
        StatusCode::OK,
        "Confirm that this address may receive mail about the domain's mail security.",
        Some(&format!("/api/watches/{id}/confirm?token={token}")),
    )
}

/// `POST /api/watches/{id}/confirm?token=…`: confirms; the first check follows.
pub async fn confirm(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Query(q): Query<TokenQuery>,
) -> Response {
    let token = q.token.unwrap_or_default();
    if !is_id(&id) || !is_id(&token) {
        return page(
            StatusCode::NOT_FOUND,
            "This confirmation link is not valid.",
            None,
        );
    }
    let now = mxtls_probe::clock::unix_now().0;
    match app.store.confirm_watch(&id, &token, now).await {
        Ok(true) => page(
            StatusCode::OK,
            "Confirmed. The first report is on its way; after that, mail comes only when something changes.",
            None,
        ),
        Ok(false) => page(
            StatusCode::NOT_FOUND,
            "This link is not valid, or the watch was confirmed or ended already.",
            None,
        ),
        _ => page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The watch store failed; try again.",
            None,
        ),
    }
}

/// A minimal page (no script, the server's strict CSP allows a form to itself).
fn page(status: StatusCode, text: &str, form: Option<&str>) -> Response {
    let button = form
        .map(|action| {
            format!(
                "<form method=\"post\" action=\"{}\"><button type=\"submit\">Confirm</button></form>",
                action.replace('&', "&amp;").replace('"', "&quot;")
            )
        })
        .unwrap_or_default();
    let body = format!(
        "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>mxtls watch</title><main><h1>mxtls watch</h1><p>{}</p>{button}</main></html>",
        text.replace('&', "&amp;").replace('<', "&lt;")
    );
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}
