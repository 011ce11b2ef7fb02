//! Accepting HTTP connections without letting a client hold the server: a deadline for the
//! whole request head (not reset by each byte a slow client trickles in) that also closes an
//! idle keep-alive connection, a cap on the head's size, and connection caps — overall and
//! per client — from a file-descriptor budget kept apart from the probe's own sockets.
//!
//! HTTP/1.1 only: behind a reverse proxy that is what arrives, and a public checker on its own
//! gains nothing from HTTP/2 that is worth its extra attack surface.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

use crate::clients::{ClientKey, TrustedProxies};

/// How connections are bounded.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// The request head must arrive whole within this, counted from the connection's start
    /// or the end of the previous response; an idle keep-alive connection is closed after it.
    pub head_timeout: Duration,
    /// The request head's size cap (hyper answers 431 above it).
    pub max_head_bytes: usize,
    /// Connections open at once (see [`connection_budget`]).
    pub max_connections: usize,
    /// Connections open at once from one client ([`ClientKey`]); trusted proxies are exempt,
    /// as they carry everyone.
    pub per_client_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            head_timeout: Duration::from_secs(10),
            max_head_bytes: 16 * 1024,
            max_connections: connection_budget(),
            per_client_connections: 16,
        }
    }
}

/// File descriptors kept for everything but client connections: the probe's sockets (its
/// process-wide cap), the DNS clients of running checks, the snapshot store, the listener.
const RESERVED_FDS: u64 = mxtls_probe::check::MAX_CONNECTIONS as u64 + 256;

/// Client connections the process can afford: its open-files limit (raised to the hard
/// limit) minus what the probe and the rest need, at most 4096, at least 16.
pub fn connection_budget() -> usize {
    let files = raise_open_files();
    files.saturating_sub(RESERVED_FDS).clamp(16, 4096) as usize
}

/// Raises the soft open-files limit to the hard one; returns the limit in force.
fn raise_open_files() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit are given a valid pointer to a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 1024;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    limit.rlim_cur
}

/// Open connections per client.
#[derive(Default)]
struct PerClient(Mutex<HashMap<ClientKey, usize>>);

impl PerClient {
    fn enter(self: &Arc<Self>, key: ClientKey, cap: usize) -> Option<ClientSlot> {
        let mut open = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(key).or_insert(0);
        if *n >= cap {
            return None;
        }
        *n += 1;
        Some(ClientSlot {
            table: self.clone(),
            key,
        })
    }
}

struct ClientSlot {
    table: Arc<PerClient>,
    key: ClientKey,
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut open = self.table.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// The connections still open once [`serve`] stopped accepting: what a graceful stop waits
/// for (a stream delivering a check's last events), within a bound.
pub struct Open {
    all: Arc<Semaphore>,
    max: usize,
}

impl Open {
    /// Waits until every connection has closed, or `within` has passed; whether they did.
    pub async fn closed(&self, within: Duration) -> bool {
        let max = u32::try_from(self.max).unwrap_or(u32::MAX);
        tokio::time::timeout(within, self.all.acquire_many(max))
            .await
            .is_ok_and(|p| p.is_ok())
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then stops accepting and
/// returns what is still open. A connection over a cap is closed at once, before anything
/// is read from it.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    proxies: TrustedProxies,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<Open> {
    let all = Arc::new(Semaphore::new(limits.max_connections));
    let per_client = Arc::new(PerClient::default());
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.head_timeout)
        .max_buf_size(limits.max_head_bytes.max(8192))
        .max_header_size(limits.max_head_bytes);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before accept: wait a
                    // moment instead of spinning, and go on.
                    crate::say!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => {
                return Ok(Open {
                    all,
                    max: limits.max_connections,
                });
            }
        };
        let Ok(permit) = all.clone().try_acquire_owned() else {
            continue; // dropping the stream closes it
        };
        let slot = if proxies.trusts(peer.ip()) {
            None
        } else {
            match per_client.enter(ClientKey::of(peer.ip()), limits.per_client_connections) {
                Some(slot) => Some(slot),
                None => continue,
            }
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let http = http.clone();
        tokio::spawn(async move {
            let _held = (permit, slot);
            let service = hyper::service::service_fn(move |mut request| {
                request.extensions_mut().insert(ConnectInfo(peer));
                router.clone().oneshot(request)
            });
            // Errors here are the client's (a timeout, a reset, a malformed head): the
            // connection is closed either way.
            let _ = http.serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

/// The start-up line: where the server listens and how connections are bounded.
pub fn describe(addr: SocketAddr, limits: &ConnectionLimits) -> String {
    format!(
        "serving on http://{addr} (up to {} connections, {} per client; request heads within {} s)",
        limits.max_connections,
        limits.per_client_connections,
        limits.head_timeout.as_secs()
    )
}
