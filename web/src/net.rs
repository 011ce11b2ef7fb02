//! The page's only I/O: `fetch` to our own origin, JSON bodies and a streamed event body.

use js_sys::{Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortSignal, ReadableStreamDefaultReader, RequestInit, Response};

use mxtls_core::api::sse;

/// Why a request gave no usable answer, in words for the page.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub status: Option<u16>,
    pub message: String,
    /// The server's `Retry-After` (seconds) on a refusal: when asking again may work.
    pub retry_after_s: Option<u64>,
    /// The server's own words (the API's error body), without the retry note of `message`.
    pub reason: Option<String>,
}

impl Failure {
    fn network(e: JsValue) -> Failure {
        let detail = e
            .dyn_ref::<js_sys::Error>()
            .map(|e| String::from(e.message()))
            .unwrap_or_default();
        Failure::local(format!("the checker could not be reached ({detail})"))
    }
}

impl Failure {
    /// A failure on this side of the connection: no status, no server words.
    fn local(message: String) -> Failure {
        Failure {
            status: None,
            message,
            retry_after_s: None,
            reason: None,
        }
    }
}

async fn fetch(url: &str, signal: Option<&AbortSignal>) -> Result<Response, Failure> {
    let window = web_sys::window().ok_or_else(|| Failure::network(JsValue::NULL))?;
    let init = RequestInit::new();
    init.set_signal(signal);
    let response = JsFuture::from(window.fetch_with_str_and_init(url, &init))
        .await
        .map_err(Failure::network)?;
    Ok(response.unchecked_into())
}

async fn text(response: &Response) -> Result<String, Failure> {
    let promise = response.text().map_err(Failure::network)?;
    let text = JsFuture::from(promise).await.map_err(Failure::network)?;
    Ok(text.as_string().unwrap_or_default())
}

/// Turns a non-2xx answer into its message: the API's `{"error": …}` plus, for 429 and
/// 503, when to retry.
async fn refusal(response: &Response) -> Failure {
    let status = response.status();
    let body = text(response).await.unwrap_or_default();
    let reason = mxtls_core::api::from_json::<mxtls_core::api::ApiError>(&body)
        .map(|e| e.error)
        .ok();
    let mut message = reason
        .clone()
        .unwrap_or_else(|| format!("the server answered {status}"));
    // Seconds only (the server never sends a date); anything else is no promise.
    let retry_after_s = response
        .headers()
        .get("retry-after")
        .ok()
        .flatten()
        .and_then(|v| v.trim().parse::<u64>().ok());
    if let Some(wait) = retry_after_s {
        message.push_str(&format!(" (retry in {wait} s)"));
    }
    Failure {
        status: Some(status),
        message,
        retry_after_s,
        reason,
    }
}

/// GETs `url` with `Authorization: Bearer token` (an operator's API token, for batches);
/// the body of a 2xx answer.
pub async fn get_authorized(url: &str, token: &str) -> Result<String, Failure> {
    let window = web_sys::window().ok_or_else(|| Failure::network(JsValue::NULL))?;
    let headers = web_sys::Headers::new().map_err(Failure::network)?;
    headers
        .append("Authorization", &format!("Bearer {token}"))
        .map_err(Failure::network)?;
    let init = RequestInit::new();
    init.set_headers(&headers);
    let response: Response = JsFuture::from(window.fetch_with_str_and_init(url, &init))
        .await
        .map_err(Failure::network)?
        .unchecked_into();
    if !response.ok() {
        return Err(refusal(&response).await);
    }
    text(&response).await
}

/// This tab's stored value of `key` (`sessionStorage`: gone when the tab closes).
pub fn session_get(key: &str) -> Option<String> {
    web_sys::window()?
        .session_storage()
        .ok()??
        .get_item(key)
        .ok()?
}

/// Keeps `value` under `key` for this tab; `None` forgets it.
pub fn session_set(key: &str, value: Option<&str>) {
    if let Some(s) = web_sys::window().and_then(|w| w.session_storage().ok().flatten()) {
        let _ = match value {
            Some(v) => s.set_item(key, v),
            None => s.remove_item(key),
        };
    }
}

/// GETs `url`; the body of a 2xx answer.
pub async fn get_text(url: &str) -> Result<String, Failure> {
    let response = fetch(url, None).await?;
    if !response.ok() {
        return Err(refusal(&response).await);
    }
    text(&response).await
}

/// GETs a `text/event-stream` and hands each event to `on_event` as it arrives; returns
/// when the server ends the stream (or `signal` aborts it).
pub async fn stream_events(
    url: &str,
    signal: &AbortSignal,
    mut on_event: impl FnMut(sse::Message),
) -> Result<(), Failure> {
    let response = fetch(url, Some(signal)).await?;
    if !response.ok() {
        return Err(refusal(&response).await);
    }
    let body = response
        .body()
        .ok_or_else(|| Failure::local("the server's answer has no body".into()))?;
    let reader = ReadableStreamDefaultReader::new(&body).map_err(Failure::network)?;
    let mut parser = sse::Parser::default();
    loop {
        let chunk = JsFuture::from(reader.read())
            .await
            .map_err(Failure::network)?;
        let done = Reflect::get(&chunk, &"done".into())
            .ok()
            .and_then(|d| d.as_bool())
            .unwrap_or(true);
        if done {
            return Ok(());
        }
        let value = Reflect::get(&chunk, &"value".into()).map_err(Failure::network)?;
        let bytes = Uint8Array::new(&value).to_vec();
        for message in parser.push(&bytes).map_err(Failure::local)? {
            on_event(message);
        }
    }
}

/// Copies `text` to the clipboard (the async Clipboard API; only in secure contexts).
pub async fn copy(text: &str) -> bool {
    let Some(window) = web_sys::window() else {
        return false;
    };
    let clipboard = Reflect::get(&window.navigator(), &"clipboard".into()).ok();
    let write = clipboard
        .as_ref()
        .and_then(|c| Reflect::get(c, &"writeText".into()).ok())
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
    match (clipboard, write) {
        (Some(c), Some(f)) => match f.call1(&c, &JsValue::from_str(text)) {
            Ok(p) => JsFuture::from(js_sys::Promise::from(p)).await.is_ok(),
            Err(_) => false,
        },
        _ => false,
    }
}

/// The page's origin, e.g. `https://mxtls.example`.
pub fn origin() -> String {
    web_sys::window()
        .and_then(|w| w.location().origin().ok())
        .unwrap_or_default()
}

/// Seconds since the Unix epoch, from the browser's clock (the core never reads a clock).
pub fn now() -> i64 {
    (js_sys::Date::now() / 1000.0) as i64
}

/// Milliseconds since the Unix epoch, for the live progress's timer.
pub fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// Calls `tick` every `ms` milliseconds until the returned guard is dropped.
pub fn every(ms: i32, tick: impl Fn() + 'static) -> Option<Interval> {
    use wasm_bindgen::JsCast;
    let window = web_sys::window()?;
    let closure = wasm_bindgen::closure::Closure::<dyn Fn()>::new(tick);
    let id = window
        .set_interval_with_callback_and_timeout_and_arguments_0(
            closure.as_ref().unchecked_ref(),
            ms,
        )
        .ok()?;
    Some(Interval {
        id,
        _closure: closure,
    })
}

/// A running interval; dropping it stops it.
pub struct Interval {
    id: i32,
    _closure: wasm_bindgen::closure::Closure<dyn Fn()>,
}

impl Drop for Interval {
    fn drop(&mut self) {
        if let Some(w) = web_sys::window() {
            w.clear_interval_with_handle(self.id);
        }
    }
}

thread_local! {
    static ROOTS: std::cell::RefCell<Option<std::rc::Rc<mxtls_core::pkix::RootSet>>> =
        const { std::cell::RefCell::new(None) };
}

/// The PKIX root set to judge with, fetched from the server once per page load.
pub async fn roots() -> Result<std::rc::Rc<mxtls_core::pkix::RootSet>, Failure> {
    if let Some(r) = ROOTS.with(|r| r.borrow().clone()) {
        return Ok(r);
    }
    let text = get_text("/api/roots").await?;
    let set: mxtls_core::pkix::RootSet = mxtls_core::api::from_json(&text)
        .map_err(|e| Failure::local(format!("the root set from the server does not load: {e}")))?;
    let set = std::rc::Rc::new(set);
    ROOTS.with(|r| *r.borrow_mut() = Some(set.clone()));
    Ok(set)
}

/// The horizon the page asks for: `?horizon=DAYS` (0–3650), else the defaults.
pub fn horizon() -> mxtls_core::Horizon {
    web_sys::window()
        .and_then(|w| w.location().search().ok())
        .and_then(|q| {
            q.trim_start_matches('?')
                .split('&')
                .find_map(|kv| kv.strip_prefix("horizon="))
                .and_then(|v| v.parse::<u32>().ok())
        })
        .filter(|d| *d <= 3650)
        .map(|days| mxtls_core::Horizon::Days { days })
        .unwrap_or_default()
}

/// A Unicode domain in A-label form by the browser's own UTS #46 (its URL parser), for
/// `mxtls_core::names`: the page then carries no IDNA tables. Anything that would make the
/// URL parser read more than a host (a port, a path, user info, an escape) is refused here.
pub fn domain_to_ascii(text: &str) -> Option<String> {
    if text.is_empty() || text.contains(['/', '?', '#', '@', ':', '[', ']', '\\', '%', ' ']) {
        return None;
    }
    let url = web_sys::Url::new(&format!("http://{text}/")).ok()?;
    let host = url.hostname();
    (!host.is_empty()).then_some(host)
}
