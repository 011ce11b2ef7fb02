//! The watch endpoints: `POST /api/watches` (and [`make`], which the watch page's form shares),
//! `DELETE /api/watches/{id}`, and the email confirmation (`GET` shows a button, `POST` confirms: a mail scanner that follows links
//! must not confirm for the owner).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Extension;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mxtls_core::api::{WatchCreated, WatchRequest};

use super::page::Style;
use super::{Target, Watch, random_id, send_confirmation};
use crate::App;
use crate::api::{json_error, retry_after, store_failed};
use crate::clients::{self, ClientKey};
use crate::notify;

/// The largest request body accepted.
pub const MAX_BODY: usize = 4096;

#[derive(serde::Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

/// Why a watch was not made: the status to answer and the words, for JSON or a page.
#[derive(Debug)]
pub struct Refusal {
    pub status: StatusCode,
    pub why: String,
    /// Seconds to wait before trying again (a store that does not answer).
    pub retry_after: Option<u64>,
}

fn refuse(status: StatusCode, why: impl Into<String>) -> Refusal {
    Refusal {
        status,
        why: why.into(),
        retry_after: None,
    }
}

/// What a new watch's maker is told: the watch, and whether a confirmation mail went out.
pub type Made = WatchCreated;

/// `POST /api/watches`.
pub async fn create(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let made = async {
        admit(&headers, body.len())?;
        let request: WatchRequest = serde_json::from_slice(&body).map_err(|e| {
            refuse(
                StatusCode::BAD_REQUEST,
                format!("the body must be {{\"domain\": …, \"webhook\" or \"email\": …}}: {e}"),
            )
        })?;
        make(&app, peer, &headers, request).await
    }
    .await;
    match made {
        Ok(created) => (
            StatusCode::CREATED,
            [(header::LOCATION, format!("/api/watches/{}", created.id))],
            axum::Json(created),
        )
            .into_response(),
        Err(r) => match r.retry_after {
            Some(seconds) => retry_after(r.status, seconds, &r.why),
            None => json_error(r.status, &r.why),
        },
    }
}

/// What every way of making a watch checks before it reads the request: that a browser asks
/// from our own pages (a form on another site must not sign its visitors up), and the size.
pub fn admit(headers: &HeaderMap, body_len: usize) -> Result<(), Refusal> {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    if clients::cross_site(headers, host) {
        return Err(refuse(
            StatusCode::FORBIDDEN,
            "watches are made only from this checker's own pages or without a browser",
        ));
    }
    if body_len > MAX_BODY {
        return Err(refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            "the request body is too large",
        ));
    }
    Ok(())
}

/// Makes a watch — `POST /api/watches` and the watch page's form alike: the target checked,
/// the client's and the domain's quotas, the one pending confirmation per address, and for
/// email the confirmation mail (double opt-in).
pub async fn make(
    app: &Arc<App>,
    peer: SocketAddr,
    headers: &HeaderMap,
    request: WatchRequest,
) -> Result<Made, Refusal> {
    let bad = |why: String| refuse(StatusCode::BAD_REQUEST, why);
    let domain = mxtls_core::names::parse_user_domain(&request.domain).map_err(bad)?;
    let allow_private = app.delivery.allow_private_targets;
    let target = match (request.webhook, request.email) {
        (Some(url), None) => {
            let hook = notify::Webhook::parse(&url).map_err(bad)?;
            notify::check_webhook(&hook, allow_private)
                .await
                .map_err(|e| bad(format!("the webhook: {e}")))?;
            Target::Webhook(url)
        }
        (None, Some(email)) => {
            if app.delivery.smtp_relay.is_none() {
                return Err(bad(
                    "this server sends no mail (it was started without --smtp-relay); use a webhook"
                        .into(),
                ));
            }
            notify::parse_email(&email, allow_private).map_err(bad)?;
            Target::Email(email)
        }
        _ => return Err(bad("give exactly one of \"webhook\" and \"email\"".into())),
    };
    let client = ClientKey::of(app.proxies.client(peer.ip(), headers)).to_string();
    let (Some(id), Some(token)) = (random_id(), random_id()) else {
        return Err(refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            "no randomness for a watch id",
        ));
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
        Ok(Err(limit)) => return Err(refuse(StatusCode::TOO_MANY_REQUESTS, limit)),
        Err(e) if e.is_unavailable() => {
            return Err(Refusal {
                retry_after: Some(5),
                ..refuse(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the store is unavailable; try again in a few seconds",
                )
            });
        }
        Err(_) => {
            return Err(refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the watch store failed",
            ));
        }
    }
    let state = if watch.token.is_some() {
        if let Err(e) = send_confirmation(app, &watch).await {
            let _ = app.store.delete_watch(&watch.id).await;
            return Err(refuse(
                StatusCode::BAD_GATEWAY,
                format!("the confirmation mail could not be sent: {e}"),
            ));
        }
        "awaiting-confirmation"
    } else {
        // The first check comes with the watcher's next tick.
        "active"
    };
    Ok(WatchCreated {
        id: watch.id,
        domain: watch.domain,
        state: state.to_owned(),
    })
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

pub(crate) fn is_id(text: &str) -> bool {
    text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `GET /api/watches/{id}/confirm?token=…`: a page with the button that confirms.
pub async fn confirm_page(
    Extension(style): Extension<Style>,
    Path(id): Path<String>,
    Query(q): Query<TokenQuery>,
) -> Response {
    let token = q.token.unwrap_or_default();
    if !is_id(&id) || !is_id(&token) {
        return page(
            &style,
            StatusCode::NOT_FOUND,
            "This confirmation link is not valid.",
            None,
        );
    }
    page(
        &style,
        StatusCode::OK,
        "Confirm that this address may receive mail about the domain's mail security.",
        Some(&format!("/api/watches/{id}/confirm?token={token}")),
    )
}

/// `POST /api/watches/{id}/confirm?token=…`: confirms; the first check follows.
pub async fn confirm(
    State(app): State<Arc<App>>,
    Extension(style): Extension<Style>,
    Path(id): Path<String>,
    Query(q): Query<TokenQuery>,
) -> Response {
    let token = q.token.unwrap_or_default();
    if !is_id(&id) || !is_id(&token) {
        return page(
            &style,
            StatusCode::NOT_FOUND,
            "This confirmation link is not valid.",
            None,
        );
    }
    let now = mxtls_probe::clock::unix_now().0;
    match app.store.confirm_watch(&id, &token, now).await {
        Ok(true) => page(
            &style,
            StatusCode::OK,
            "Confirmed. The first report is on its way; after that, mail comes only when something changes. Every mail carries a link that ends the watch.",
            None,
        ),
        Ok(false) => page(
            &style,
            StatusCode::NOT_FOUND,
            "This link is not valid, or the watch was confirmed or ended already.",
            None,
        ),
        _ => page(
            &style,
            StatusCode::INTERNAL_SERVER_ERROR,
            "The watch store failed; try again.",
            None,
        ),
    }
}

/// A confirmation page (no script; the page CSP allows a form posting to its own origin).
fn page(style: &Style, status: StatusCode, text: &str, form: Option<&str>) -> Response {
    super::page::notice(
        style,
        status,
        "Confirm the watch",
        text,
        form.map(|action| (action, "Confirm")),
    )
}
