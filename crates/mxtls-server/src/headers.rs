//! The headers every response carries, chosen by the page a path names (parsed as the app
//! parses it, `mxtls_core::route`, never by a raw prefix): the content security policy —
//! frameable only for the widget — and the isolation headers; and the refusal of a request
//! target too long to be one of ours.

use std::sync::Arc;

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mxtls_core::route::Route;

use crate::csp;

/// No URL of ours is longer (a domain is at most 253 characters; percent-encoded Unicode
/// triples a few); a longer one is refused with 414 before any handler runs.
pub const MAX_TARGET: usize = 2048;

/// The policies, computed once at start-up.
pub struct Policies {
    page: HeaderValue,
    widget: HeaderValue,
}

impl Policies {
    /// `index` is the built app's `index.html`, whose inline bootstrap script the CSP allows by
    /// hash.
    pub fn new(index: &str) -> Policies {
        let value = |framing| {
            HeaderValue::from_str(&csp::policy(index, framing))
                .unwrap_or(HeaderValue::from_static("default-src 'none'"))
        };
        Policies {
            page: value(csp::Framing::Deny),
            widget: value(csp::Framing::Anyone),
        }
    }
}

/// Browser features no page of ours uses, switched off for the page and anything it embeds.
const PERMISSIONS: &str = "accelerometer=(), camera=(), geolocation=(), gyroscope=(), \
    magnetometer=(), microphone=(), payment=(), usb=(), browsing-topics=()";

/// Sets the headers; answers 414 for an over-long request target.
pub async fn apply(
    policies: Arc<Policies>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let target_len = request
        .uri()
        .path_and_query()
        .map_or(0, |p| p.as_str().len());
    let path = request.uri().path().to_owned();
    let mut response = if target_len > MAX_TARGET {
        (
            StatusCode::URI_TOO_LONG,
            [(header::CONTENT_TYPE, "application/json")],
            format!("{{\"error\":\"the request target is longer than {MAX_TARGET} bytes\"}}"),
        )
            .into_response()
    } else {
        next.run(request).await
    };
    let widget = matches!(Route::parse(&path), Route::Widget(_));
    // Made to be used by other sites: the widget, the script that places it, the badge.
    let shared = widget || path == "/embed.js" || path.starts_with("/badge/");
    let headers = response.headers_mut();
    let set = |headers: &mut axum::http::HeaderMap, name: &'static str, value: &'static str| {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    };
    if widget {
        headers.insert(header::CONTENT_SECURITY_POLICY, policies.widget.clone());
    } else {
        headers.insert(header::CONTENT_SECURITY_POLICY, policies.page.clone());
        set(headers, "x-frame-options", "DENY");
    }
    set(headers, "x-content-type-options", "nosniff");
    set(headers, "referrer-policy", "no-referrer");
    set(headers, "permissions-policy", PERMISSIONS);
    set(headers, "cross-origin-opener-policy", "same-origin");
    set(
        headers,
        "cross-origin-resource-policy",
        if shared {
            "cross-origin"
        } else {
            "same-origin"
        },
    );
    response
}
