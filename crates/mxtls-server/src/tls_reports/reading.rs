//! Reading a posted report, one at a time, on a thread of its own. The core inflates a
//! report to at most [`report::MAX_REPORT_BYTES`] and reads it as a JSON tree several times
//! that size (a 14 MB report peaks near 130 MB); the whole report lives only on this thread,
//! which hands back the bounded form. So posts at once cost one report's reading, not one
//! each — and one thread's allocator arena, which keeps what a reading freed for the next,
//! instead of one arena per worker thread each holding a large report's worth.

use std::sync::Mutex;
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::time::Duration;

use mxtls_core::tls_rpt::report::{self, AggregateReport};

use super::bounded;

/// Posts waiting for the reader at most (each holds its body, at most 1 MB); more are told
/// to come back (503).
const QUEUE: usize = 32;

/// How long a post waits for its report to be read.
pub const READ_WAIT: Duration = Duration::from_secs(30);

/// A report read and reduced: what is stored and what the answer and the watches are told.
pub struct Received {
    /// The key beside the organisation ([`bounded::key`]).
    pub key: String,
    /// The stored form ([`bounded::bounded`]).
    pub stored: String,
    /// The stored form read back: what the notification judges, as the history would.
    pub report: AggregateReport,
    /// Failed sessions over every policy of the whole report.
    pub failed: u64,
}

/// Why a post was not read.
pub enum Refused {
    /// Not a report, or not about the domain: the words for the sender (400).
    Invalid(String),
    /// The reader is busy or gone (503).
    Busy,
}

type Job = (
    axum::body::Bytes,
    String,
    tokio::sync::oneshot::Sender<Result<Received, String>>,
);

fn reader() -> Option<SyncSender<Job>> {
    static READER: Mutex<Option<SyncSender<Job>>> = Mutex::new(None);
    let mut slot = READER.lock().unwrap_or_else(|p| p.into_inner());
    if slot.is_none() {
        let (tx, rx) = sync_channel::<Job>(QUEUE);
        std::thread::Builder::new()
            .name("mxtls-tls-rpt".into())
            .spawn(move || {
                for (body, domain, reply) in rx {
                    // A bug in reading must not take the reader down for every later post.
                    let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        read(&body, &domain)
                    }))
                    .unwrap_or_else(|_| Err("reading the report failed".into()));
                    drop(body);
                    let _ = reply.send(read);
                }
            })
            .ok()?;
        *slot = Some(tx);
    }
    slot.clone()
}

/// Reads `body` as a report about `domain` and reduces it to its stored form.
fn read(body: &[u8], domain: &str) -> Result<Received, String> {
    let full = report::parse_bytes(body).map_err(|e| format!("not a TLS-RPT report: {e}"))?;
    if full
        .policies
        .iter()
        .any(|p| !p.policy_domain.is_empty() && p.policy_domain != domain)
    {
        return Err(format!(
            "the report is about another policy domain than {domain}"
        ));
    }
    let key = bounded::key(&full);
    let stored = bounded::bounded(&full, &key)?;
    let failed = full
        .policies
        .iter()
        .fold(0u64, |n, p| n.saturating_add(p.failed));
    drop(full);
    let report = bounded::read(&stored).ok_or("the stored form does not read back")?;
    Ok(Received {
        key,
        stored,
        report,
        failed,
    })
}

/// Reads a posted report about `domain` on the reader thread.
pub async fn receive(body: axum::body::Bytes, domain: &str) -> Result<Received, Refused> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let sender = reader().ok_or(Refused::Busy)?;
    match sender.try_send((body, domain.to_owned(), tx)) {
        Ok(()) => {}
        Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => return Err(Refused::Busy),
    }
    match tokio::time::timeout(READ_WAIT, rx).await {
        Ok(Ok(Ok(r))) => Ok(r),
        Ok(Ok(Err(e))) => Err(Refused::Invalid(e)),
        _ => Err(Refused::Busy),
    }
}
