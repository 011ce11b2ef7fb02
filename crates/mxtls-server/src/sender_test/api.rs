//! `POST /api/sender-tests` starts a sender test; `GET /api/sender-tests/{token}` answers
//! with its connections so far (the page and `mxtls sender-test --watch` poll it and judge
//! them with the core, as a check's page judges its evidence).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::App;
use crate::api::{json_error, retry_after, store_failed};
use crate::clients::{self, ClientKey};

const NOT_HERE: &str = "this checker does not run the sender test (mxtls serve --sender-test ZONE)";

/// Starts a test, within the client's limit of tests a minute; browsers only from our pages.
pub async fn start(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let Some(tests) = app.sender_test.as_ref() else {
        return json_error(StatusCode::NOT_FOUND, NOT_HERE);
    };
    let host = clients::addressed_host(&app.proxies, peer.ip(), &headers);
    if clients::cross_site(&headers, host) {
        return json_error(
            StatusCode::FORBIDDEN,
            "sender tests start only from this checker's own pages",
        );
    }
    let client = ClientKey::of(app.proxies.client(peer.ip(), &headers));
    if let Err(wait) = tests.quota.check(client) {
        return retry_after(
            StatusCode::TOO_MANY_REQUESTS,
            wait,
            &format!("too many sender tests from your address: try again in {wait} s"),
        );
    }
    match tests.start().await {
        Ok(Some(test)) => {
            tests.quota.spend(client);
            (StatusCode::CREATED, axum::Json(test)).into_response()
        }
        Ok(None) => retry_after(
            StatusCode::SERVICE_UNAVAILABLE,
            60,
            "too many sender tests are running: try again in a minute",
        ),
        Err(e) => store_failed(&e, "the sender test's store failed"),
    }
}

/// A test with its connections so far.
pub async fn show(State(app): State<Arc<App>>, Path(token): Path<String>) -> Response {
    let Some(tests) = app.sender_test.as_ref() else {
        return json_error(StatusCode::NOT_FOUND, NOT_HERE);
    };
    match tests.view(&token).await {
        Ok(Some(test)) => ([(header::CACHE_CONTROL, "no-store")], axum::Json(test)).into_response(),
        Ok(None) => json_error(
            StatusCode::NOT_FOUND,
            "no such sender test: the link is wrong, or the test ended more than a week ago",
        ),
        Err(e) => store_failed(&e, "the sender test's store failed"),
    }
}
