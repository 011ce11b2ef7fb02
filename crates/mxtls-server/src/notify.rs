//! Delivering notifications: a JSON POST to a webhook, a plain-text mail through the relay.
//! Both obey the target policy the probe obeys (no private addresses unless
//! `--allow-private-targets`): a watch must not turn the server into a way to reach the
//! network it runs in. Every delivery has a deadline. A webhook's redirects (301, 302, 303,
//! 307, 308) are followed up to [`MAX_REDIRECTS`] times, each target parsed and checked like
//! the first (http or https only, the same target policy), with the same POST and body.
//! Failures say whether trying again may help ([`Failure::permanent`]), for the outbox.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use http::Uri;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// How long one delivery may take, connection to answer.
pub const DELIVERY_DEADLINE: Duration = Duration::from_secs(15);

/// Redirects a webhook delivery follows before it gives up.
pub const MAX_REDIRECTS: usize = 3;

/// Why a delivery failed, and whether trying again may help (a 5xx, a timeout, a refused
/// connection, a relay's 4xx: yes; a webhook's 4xx other than 408 and 429, a bad redirect,
/// a relay's 5xx: no).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub why: String,
    pub permanent: bool,
}

impl Failure {
    pub fn transient(why: impl Into<String>) -> Failure {
        Failure {
            why: why.into(),
            permanent: false,
        }
    }

    pub fn permanent(why: impl Into<String>) -> Failure {
        Failure {
            why: why.into(),
            permanent: true,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.why)
    }
}

/// The longest webhook URL or mail address accepted.
const MAX_TARGET: usize = 2048;

/// Where notifications may go, and how mail leaves.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// Webhooks and mail domains on non-public addresses are allowed (test worlds only).
    pub allow_private_targets: bool,
    /// The SMTP relay that takes our mail (`--smtp-relay`); `None`: no email watches.
    pub smtp_relay: Option<SocketAddr>,
    /// The sender of our mail.
    pub mail_from: String,
}

impl Default for Delivery {
    fn default() -> Self {
        Delivery {
            allow_private_targets: false,
            smtp_relay: None,
            mail_from: "mxtls@localhost".into(),
        }
    }
}

/// A webhook URL, checked: `http` or `https`, a host, no user info.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub uri: Uri,
    pub https: bool,
    pub host: String,
    pub port: u16,
}

impl Webhook {
    pub fn parse(text: &str) -> Result<Webhook, String> {
        if text.len() > MAX_TARGET {
            return Err("the webhook URL is too long".into());
        }
        let uri: Uri = text.parse().map_err(|_| format!("{text:?} is not a URL"))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err("the webhook must be an http:// or https:// URL".into()),
        };
        let authority = uri.authority().ok_or("the webhook URL has no host")?;
        if authority.as_str().contains('@') {
            return Err("the webhook URL must not carry a user name or password".into());
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        if host.is_empty() {
            return Err("the webhook URL has no host".into());
        }
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        Ok(Webhook {
            uri,
            https,
            host,
            port,
        })
    }
}

/// An email address, checked enough to hand to the relay: one `@`, a domain that is a DNS
/// name (never an address literal, unless private targets are allowed).
pub fn parse_email(text: &str, allow_private: bool) -> Result<Mailbox, String> {
    if text.len() > 254 {
        return Err("the email address is too long".into());
    }
    let (local, domain) = text
        .rsplit_once('@')
        .ok_or_else(|| format!("{text:?} is not an email address"))?;
    if local.is_empty() || local.contains(['<', '>', ' ', '"', '\r', '\n']) {
        return Err(format!("{text:?} is not an email address"));
    }
    if domain.starts_with('[') && !allow_private {
        return Err("mail to an address literal is not sent".into());
    }
    if !domain.starts_with('[') {
        mxtls_core::names::parse_user_domain(domain)
            .map_err(|e| format!("the email address's domain: {e}"))?;
    }
    text.parse::<Mailbox>()
        .map_err(|e| format!("{text:?} is not an email address: {e}"))
}

/// The addresses of `host` that the target policy allows.
async fn allowed_addresses(
    host: &str,
    port: u16,
    allow_private: bool,
) -> Result<Vec<SocketAddr>, String> {
    let resolved: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::time::timeout(DELIVERY_DEADLINE, tokio::net::lookup_host((host, port)))
            .await
            .map_err(|_| format!("{host}: the name lookup timed out"))?
            .map_err(|e| format!("{host}: {e}"))?
            .collect(),
    };
    if resolved.is_empty() {
        return Err(format!("{host} has no address"));
    }
    let allowed: Vec<SocketAddr> = resolved
        .iter()
        .copied()
        .filter(|a| allow_private || mxtls_probe::target::check(a.ip()).is_ok())
        .collect();
    if allowed.is_empty() {
        let why = resolved
            .first()
            .and_then(|a| mxtls_probe::target::check(a.ip()).err())
            .unwrap_or("not a public address");
        return Err(format!("{host} is not a public address ({why})"));
    }
    Ok(allowed)
}

/// Whether the webhook's host may be posted to (checked when the watch is created, and
/// again at each delivery: DNS may change).
pub async fn check_webhook(hook: &Webhook, allow_private: bool) -> Result<(), String> {
    allowed_addresses(&hook.host, hook.port, allow_private)
        .await
        .map(|_| ())
}

/// POSTs `body` (JSON, with `Idempotency-Key: key`) to the webhook, following redirects; a
/// 2xx answer is delivered, anything else a [`Failure`]. The whole exchange, redirects
/// included, has [`DELIVERY_DEADLINE`].
pub async fn post_json(
    hook: &Webhook,
    body: String,
    key: &str,
    allow_private: bool,
) -> Result<(), Failure> {
    tokio::time::timeout(DELIVERY_DEADLINE, follow(hook, body, key, allow_private))
        .await
        .map_err(|_| {
            Failure::transient(format!(
                "the webhook did not answer within {DELIVERY_DEADLINE:?}"
            ))
        })?
}

async fn follow(
    hook: &Webhook,
    body: String,
    key: &str,
    allow_private: bool,
) -> Result<(), Failure> {
    let mut hook = hook.clone();
    for _ in 0..=MAX_REDIRECTS {
        let (status, location) = post_inner(&hook, body.clone(), key, allow_private)
            .await
            .map_err(Failure::transient)?;
        match status {
            200..=299 => return Ok(()),
            301 | 302 | 303 | 307 | 308 => {
                let location = location.ok_or_else(|| {
                    Failure::permanent(format!("the webhook answered {status} without a Location"))
                })?;
                hook = redirect_target(&hook, &location).map_err(|e| {
                    Failure::permanent(format!("the webhook redirected ({status}): {e}"))
                })?;
            }
            408 | 429 => return Err(Failure::transient(format!("the webhook answered {status}"))),
            400..=499 => return Err(Failure::permanent(format!("the webhook answered {status}"))),
            _ => return Err(Failure::transient(format!("the webhook answered {status}"))),
        }
    }
    Err(Failure::permanent(format!(
        "the webhook redirected more than {MAX_REDIRECTS} times"
    )))
}

/// Where a redirect's `Location` points, relative to `from`: parsed as a webhook of its own
/// (so only http and https, a host, no user info).
fn redirect_target(from: &Webhook, location: &str) -> Result<Webhook, String> {
    let location = location.trim();
    let scheme = if from.https { "https" } else { "http" };
    let authority = from
        .uri
        .authority()
        .map(|a| a.as_str().to_owned())
        .unwrap_or_default();
    let absolute = if location.contains("://") {
        location.to_owned()
    } else if let Some(rest) = location.strip_prefix("//") {
        format!("{scheme}://{rest}")
    } else if location.starts_with('/') {
        format!("{scheme}://{authority}{location}")
    } else {
        let path = from.uri.path();
        let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
        let dir = if dir.is_empty() { "/" } else { dir };
        format!("{scheme}://{authority}{dir}{location}")
    };
    Webhook::parse(&absolute)
}

/// One POST: the answer's status and `Location`, or why there was none.
async fn post_inner(
    hook: &Webhook,
    body: String,
    key: &str,
    allow_private: bool,
) -> Result<(u16, Option<String>), String> {
    // Connect to an address we checked, so a name cannot resolve to another one in between.
    let addrs = allowed_addresses(&hook.host, hook.port, allow_private).await?;
    let mut last = String::new();
    let mut tcp = None;
    for a in addrs {
        match tokio::net::TcpStream::connect(a).await {
            Ok(s) => {
                tcp = Some(s);
                break;
            }
            Err(e) => last = format!("could not connect to the webhook: {e}"),
        }
    }
    let tcp = tcp.ok_or(last)?;
    let path = hook
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".into());
    let host_header = hook
        .uri
        .authority()
        .map(|a| a.as_str().to_owned())
        .unwrap_or_default();
    let request = http::Request::post(path)
        .header(http::header::HOST, host_header)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(
            http::header::USER_AGENT,
            concat!("mxtls/", env!("CARGO_PKG_VERSION")),
        )
        .header("idempotency-key", key)
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let (status, location, _) = exchange(hook, tcp, request, 64 * 1024).await?;
    Ok((status, location))
}

/// `GET url` (http or https, the platform's roots; no target policy: the caller names a
/// server it chose, as `mxtls sender-test --watch --server URL` does): the status and at most
/// `max` bytes of the body, within `limit`.
pub async fn get(
    url: &str,
    max: usize,
    limit: std::time::Duration,
) -> Result<(u16, Vec<u8>), String> {
    call(http::Method::GET, url, String::new(), max, limit).await
}

/// `POST url` with a JSON `body`, as [`get`].
pub async fn post(
    url: &str,
    body: String,
    max: usize,
    limit: std::time::Duration,
) -> Result<(u16, Vec<u8>), String> {
    call(http::Method::POST, url, body, max, limit).await
}

async fn call(
    method: http::Method,
    url: &str,
    body: String,
    max: usize,
    limit: std::time::Duration,
) -> Result<(u16, Vec<u8>), String> {
    let target = Webhook::parse(url)?;
    let run = async {
        let tcp = tokio::net::TcpStream::connect((target.host.as_str(), target.port))
            .await
            .map_err(|e| format!("could not connect to {}: {e}", target.host))?;
        let path = target
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| "/".into());
        let host_header = target
            .uri
            .authority()
            .map(|a| a.as_str().to_owned())
            .unwrap_or_default();
        let request = http::Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::HOST, host_header)
            .header(http::header::ACCEPT, "application/json")
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(
                http::header::USER_AGENT,
                concat!("mxtls/", env!("CARGO_PKG_VERSION")),
            )
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let (status, _, body) = exchange(&target, tcp, request, max).await?;
        Ok((status, body))
    };
    tokio::time::timeout(limit, run)
        .await
        .map_err(|_| format!("{url} did not answer within {limit:?}"))?
}

/// One request on `tcp` (in TLS for https): status, `Location`, at most `max` body bytes.
async fn exchange(
    target: &Webhook,
    tcp: tokio::net::TcpStream,
    request: http::Request<Full<Bytes>>,
    max: usize,
) -> Result<(u16, Option<String>, Vec<u8>), String> {
    if target.https {
        let config = tls_config();
        let name = rustls_pki_types::ServerName::try_from(target.host.clone())
            .map_err(|e| format!("{}: {e}", target.host))?;
        let tls = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS with {}: {e}", target.host))?;
        send(hyper_util::rt::TokioIo::new(tls), request, max).await
    } else {
        send(hyper_util::rt::TokioIo::new(tcp), request, max).await
    }
}

async fn send<IO>(
    io: IO,
    request: http::Request<Full<Bytes>>,
    max: usize,
) -> Result<(u16, Option<String>, Vec<u8>), String>
where
    IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| e.to_string())?;
    let driver = tokio::spawn(conn);
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string());
    let status = match response {
        Ok(r) => {
            let status = r.status().as_u16();
            let location = r
                .headers()
                .get(http::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .filter(|l| l.len() <= MAX_TARGET)
                .map(str::to_owned);
            // A bounded body (read whole, so the connection ends cleanly).
            let body = http_body_util::Limited::new(r.into_body(), max)
                .collect()
                .await
                .map(|b| b.to_bytes().to_vec())
                .unwrap_or_default();
            Ok((status, location, body))
        }
        Err(e) => Err(e),
    };
    driver.abort();
    status
}

fn tls_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: std::sync::OnceLock<Arc<rustls::ClientConfig>> = std::sync::OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            Arc::new(
                rustls::ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .map(|b| b.with_root_certificates(roots).with_no_client_auth())
                    .unwrap_or_else(|_| {
                        rustls::ClientConfig::builder()
                            .with_root_certificates(rustls::RootCertStore::empty())
                            .with_no_client_auth()
                    }),
            )
        })
        .clone()
}

/// Sends a plain-text mail through the relay, with `message_id` (`<…@…>`) when given: a
/// retried notice keeps its Message-ID, so a mailbox can tell it is the same mail.
pub async fn mail(
    delivery: &Delivery,
    to: &str,
    subject: &str,
    text: String,
    message_id: Option<String>,
) -> Result<(), Failure> {
    let relay = delivery
        .smtp_relay
        .ok_or_else(|| Failure::permanent("no --smtp-relay is configured"))?;
    let to = parse_email(to, delivery.allow_private_targets).map_err(Failure::permanent)?;
    let from: Mailbox = delivery
        .mail_from
        .parse()
        .map_err(|e| Failure::permanent(format!("--mail-from {:?}: {e}", delivery.mail_from)))?;
    // Plain 7bit where the text allows (RFC 5322 lines up to 998 characters): links stay
    // whole for people who read the raw mail; quoted-printable otherwise.
    let text = text.replace("\r\n", "\n").replace('\n', "\r\n");
    let body = if text.is_ascii() && !text.contains('\0') && text.lines().all(|l| l.len() <= 998) {
        Body::dangerous_pre_encoded(text.into_bytes(), ContentTransferEncoding::SevenBit)
    } else {
        Body::new(text)
    };
    let message = Message::builder()
        .from(from)
        .to(to)
        .subject(subject)
        .message_id(message_id)
        .header(ContentType::TEXT_PLAIN)
        .body(body)
        .map_err(|e| Failure::permanent(e.to_string()))?;
    // The relay is ours (a local MTA, which does TLS onwards); we hand it mail in the clear.
    let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(relay.ip().to_string())
        .port(relay.port())
        .timeout(Some(DELIVERY_DEADLINE))
        .build();
    match tokio::time::timeout(DELIVERY_DEADLINE * 2, transport.send(message)).await {
        Err(_) => Err(Failure::transient(
            "the relay did not take the mail in time",
        )),
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(Failure {
            why: format!("the relay refused the mail: {e}"),
            permanent: e.is_permanent(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhooks_must_be_http_urls_without_credentials() {
        assert!(Webhook::parse("https://hooks.example/x?y=1").is_ok());
        let h = Webhook::parse("http://[::1]:8080/hook").expect("v6 literal");
        assert_eq!((h.host.as_str(), h.port, h.https), ("::1", 8080, false));
        assert!(Webhook::parse("ftp://example.org/").is_err());
        assert!(Webhook::parse("https://user:pw@example.org/").is_err());
        assert!(Webhook::parse("/relative").is_err());
    }

    #[test]
    fn redirects_resolve_against_the_hook_and_stay_http() {
        let from = Webhook::parse("http://hooks.example:8080/a/hook?x=1").expect("parses");
        let to = |l: &str| redirect_target(&from, l).map(|h| h.uri.to_string());
        assert_eq!(
            to("/moved").as_deref(),
            Ok("http://hooks.example:8080/moved")
        );
        assert_eq!(
            to("other").as_deref(),
            Ok("http://hooks.example:8080/a/other")
        );
        assert_eq!(
            to("//elsewhere.example/h").as_deref(),
            Ok("http://elsewhere.example/h")
        );
        assert_eq!(
            to("https://x.example/h").as_deref(),
            Ok("https://x.example/h")
        );
        assert!(to("ftp://x.example/h").is_err());
        assert!(to("file:///etc/passwd").is_err());
        assert!(to("https://user:pw@x.example/").is_err());
    }

    #[test]
    fn email_domains_are_names_not_literals() {
        assert!(parse_email("owner@example.org", false).is_ok());
        assert!(parse_email("owner@[10.0.0.1]", false).is_err());
        assert!(parse_email("no-at-sign", false).is_err());
        assert!(parse_email("a@b@", false).is_err());
    }

    #[tokio::test]
    async fn private_webhook_hosts_are_refused_unless_allowed() {
        let hook = Webhook::parse("http://127.0.0.1:9/hook").expect("parses");
        let refused = check_webhook(&hook, false).await.expect_err("loopback");
        assert!(refused.contains("not a public address"), "{refused}");
        assert!(check_webhook(&hook, true).await.is_ok());
    }
}
