//! The outbox: every notice a watch is owed (a change, the first check, senders' TLS-RPT
//! failures) is a row of the store, written in the same transaction that records what it
//! tells, and delivered from there — so a notice survives a crash between deciding and
//! sending, a receiver that is down gets it later, and nothing is sent twice by us.
//!
//! Each row has an idempotency key, unique in the table (`ON CONFLICT DO NOTHING`): a
//! watch's notice after snapshot S is `<watch>-after-<S>`, its first `<watch>-first`, so two
//! instances that both judged the same change write one row. The key travels with the
//! notice (`Idempotency-Key` and `idempotency_key` for webhooks, the Message-ID for mail):
//! a delivery cut off after the receiver took it is retried, and the receiver can tell.
//!
//! The delivery loop takes due rows with a conditional claim (`claimed_by`, `claimed_until`:
//! of several instances on one PostgreSQL one wins each row), delivers each in a bounded
//! set of its own (a silent receiver holds only its own delivery slot, never a check), and
//! marks it delivered, or due again after a back-off (10 s, 30 s, 2 min, 10 min, 30 min,
//! then hourly, from [`WatchLimits::retry_first`]), or given up — at once for a webhook's
//! 4xx (but 408 and 429) or a relay's 5xx, else after [`WatchLimits::give_up_after`]. A
//! watch's notices go out in order: a later one waits while an earlier one is pending.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use sha2::Digest;

use super::{Target, Watch, WatchLimits, random_id};
use crate::App;
use crate::notify::{self, Failure};
use crate::params;
use crate::snapshots::Store;
use crate::store::{FromRow, Result as StoreResult, Step};

/// Multiples of [`WatchLimits::retry_first`] between attempts: 10 s, 30 s, 2 min, 10 min,
/// 30 min, then an hour, with the default of 10 s.
const BACKOFF: [u32; 6] = [1, 3, 12, 60, 180, 360];

/// How long a claimed row is ours: longer than any one delivery may take.
const CLAIM: Duration = Duration::from_secs(120);

/// How long delivered and given-up notices are kept (the history shows given-up ones this
/// long). Dropping them cannot let a notice be written twice: a change's key names the
/// snapshot before it, which the watch has moved past, and a TLS-RPT report is stored once.
const KEEP: Duration = Duration::from_secs(30 * 24 * 3600);

/// A notice to write: what, for whom, under which key.
#[derive(Debug, Clone)]
pub struct Notice {
    pub key: String,
    pub watch: String,
    pub domain: String,
    /// `first`, `change` or `tls-rpt`.
    pub kind: String,
    pub subject: String,
    /// The webhook's JSON body, or the mail's text.
    pub payload: String,
}

impl Notice {
    /// The notice of `note` for `w`: its JSON with `idempotency_key` for a webhook, else
    /// `text()` for a mail.
    pub fn new<N: Serialize>(
        w: &Watch,
        kind: &str,
        key: String,
        subject: &str,
        note: &N,
        text: impl FnOnce() -> String,
    ) -> Result<Notice, String> {
        let payload = match &w.target {
            Target::Webhook(_) => {
                let mut json = serde_json::to_value(note).map_err(|e| e.to_string())?;
                if let Some(object) = json.as_object_mut() {
                    object.insert("idempotency_key".into(), key.clone().into());
                }
                json.to_string()
            }
            Target::Email(_) => text(),
        };
        Ok(Notice {
            key,
            watch: w.id.clone(),
            domain: w.domain.clone(),
            kind: kind.to_owned(),
            subject: subject.to_owned(),
            payload,
        })
    }

    /// The statement that writes it (nothing when its key is written already).
    pub fn insert(&self, now_ms: i64) -> Step {
        Step {
            sql: "INSERT INTO outbox (key, watch, domain, kind, subject, payload, state,
                  next_attempt_at, created_at)
                  VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7, ?7) ON CONFLICT DO NOTHING"
                .into(),
            params: params![
                self.key.as_str(),
                self.watch.as_str(),
                self.domain.as_str(),
                self.kind.as_str(),
                self.subject.as_str(),
                self.payload.as_str(),
                now_ms
            ],
            must_change: false,
        }
    }
}

/// The key of a watch's notice after `previous` (its first when `None`).
pub fn change_key(watch: &str, previous: Option<&str>) -> String {
    match previous {
        Some(p) => format!("{watch}-after-{p}"),
        None => format!("{watch}-first"),
    }
}

/// The key of a notice known by its content (a TLS-RPT report's): the same report told
/// twice is one notice.
pub fn content_key(watch: &str, what: &str, content: &str) -> String {
    let digest = sha2::Sha256::digest(content.as_bytes());
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("{watch}-{what}-{hex}")
}

/// A due row, with where it goes.
struct Due {
    key: String,
    watch: String,
    domain: String,
    subject: String,
    payload: String,
    attempts: i64,
    created_at: i64,
    target: Target,
}

/// A notice that was given up, for the domain's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GivenUp {
    pub kind: String,
    /// Unix seconds.
    pub created_at: i64,
    pub given_up_at: i64,
    pub attempts: i64,
    /// Why, in words that name no target ([`public_reason`]).
    pub error: String,
}

/// The last error of a notice as anyone reading the domain's history may see it: the
/// answer's status, or the kind of failure — never the webhook's host, path or address,
/// which belong to whoever made the watch.
pub fn public_reason(error: &str) -> String {
    if let Some(status) = error.strip_prefix("the webhook answered ") {
        let status: String = status.chars().take_while(char::is_ascii_digit).collect();
        return format!("the webhook answered {status}");
    }
    let reason = if error.contains("redirect") {
        "the webhook's redirect was not followed"
    } else if error.contains("relay") {
        "the mail relay did not take the mail"
    } else if error.contains("did not answer") || error.contains("in time") {
        "the webhook did not answer in time"
    } else if error.contains("not a public address") {
        "the webhook's address is not allowed"
    } else if error.contains("connect") {
        "the webhook could not be reached"
    } else {
        "the delivery failed"
    };
    reason.to_owned()
}

/// What the outbox holds for one watch, oldest first: (key, kind, state, attempts).
pub type WatchNotices = Vec<(String, String, String, i64)>;

impl Store {
    /// Writes `notice` unless its key is written; whether it was new.
    pub async fn enqueue(&self, notice: &Notice, now_ms: i64) -> StoreResult<bool> {
        let step = notice.insert(now_ms);
        Ok(self.execute(&step.sql, step.params).await? > 0)
    }

    /// Due rows nobody holds, each the oldest pending one of its watch (so a watch's
    /// notices go out in order), soonest first.
    async fn due_notices(&self, now_ms: i64, limit: usize) -> StoreResult<Vec<Due>> {
        let rows = self
            .query(
                "SELECT o.key AS key, o.watch AS watch, o.domain AS domain, o.subject AS subject,
                        o.payload AS payload, o.attempts AS attempts, o.created_at AS created_at,
                        w.webhook AS webhook, w.email AS email
                 FROM outbox o JOIN watches w ON w.id = o.watch
                 WHERE o.state = 'pending' AND o.next_attempt_at <= ?1 AND o.claimed_until <= ?1
                   AND NOT EXISTS (SELECT 1 FROM outbox e WHERE e.watch = o.watch
                       AND e.state = 'pending' AND (e.created_at, e.key) < (o.created_at, o.key))
                 ORDER BY o.next_attempt_at LIMIT ?2",
                params![now_ms, limit as i64],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Due {
                    key: r.text("key")?,
                    watch: r.text("watch")?,
                    domain: r.text("domain")?,
                    subject: r.text("subject")?,
                    payload: r.text("payload")?,
                    attempts: r.int("attempts")?,
                    created_at: r.int("created_at")?,
                    target: Target::from_row(r)?,
                })
            })
            .collect()
    }

    /// Takes a due row for one delivery attempt; `false` when another instance took it.
    async fn claim_notice(&self, key: &str, me: &str, now_ms: i64) -> StoreResult<bool> {
        Ok(self
            .execute(
                "UPDATE outbox SET claimed_by = ?2, claimed_until = ?4, attempts = attempts + 1
                 WHERE key = ?1 AND state = 'pending' AND claimed_until <= ?3
                   AND next_attempt_at <= ?3",
                params![key, me, now_ms, now_ms + CLAIM.as_millis() as i64],
            )
            .await?
            > 0)
    }

    /// Records an attempt's outcome: `state` with `next_attempt_at` and the error, if any.
    async fn notice_tried(
        &self,
        key: &str,
        me: &str,
        state: &str,
        next_ms: i64,
        error: Option<&str>,
        now_ms: i64,
    ) -> StoreResult<()> {
        self.execute(
            "UPDATE outbox SET state = ?3, next_attempt_at = ?4, last_error = ?5, claimed_by = NULL,
                 claimed_until = 0, done_at = ?6
             WHERE key = ?1 AND claimed_by = ?2",
            params![
                key,
                me,
                state,
                next_ms,
                error,
                (state != "pending").then_some(now_ms)
            ],
        )
        .await?;
        Ok(())
    }

    /// Forgets notices delivered or given up before `before_ms`.
    async fn prune_notices(&self, before_ms: i64) -> StoreResult<u64> {
        self.execute(
            "DELETE FROM outbox WHERE state <> 'pending' AND done_at < ?1",
            params![before_ms],
        )
        .await
    }

    /// Notices not yet delivered (due or waiting for their next attempt), for `/metrics`.
    pub async fn pending_notices(&self) -> StoreResult<i64> {
        self.number(
            "SELECT COUNT(*) FROM outbox WHERE state = 'pending'",
            params![],
        )
        .await
    }

    /// The notices of `domain` that were given up, newest first.
    pub async fn given_up_notices(&self, domain: &str, limit: usize) -> StoreResult<Vec<GivenUp>> {
        self.query(
            "SELECT kind, created_at, COALESCE(done_at, 0) AS done_at, attempts,
                    COALESCE(last_error, '') AS last_error
             FROM outbox WHERE domain = ?1 AND state = 'given_up'
             ORDER BY created_at DESC LIMIT ?2",
            params![domain, limit as i64],
        )
        .await?
        .iter()
        .map(|r| {
            Ok(GivenUp {
                kind: r.text("kind")?,
                created_at: r.int("created_at")? / 1000,
                given_up_at: r.int("done_at")? / 1000,
                attempts: r.int("attempts")?,
                error: public_reason(&r.text("last_error")?),
            })
        })
        .collect()
    }

    /// Every notice of watch `id`, oldest first: what tests and operators read.
    pub async fn watch_notices(&self, id: &str) -> StoreResult<WatchNotices> {
        self.query(
            "SELECT key, kind, state, attempts FROM outbox WHERE watch = ?1
             ORDER BY created_at, key",
            params![id],
        )
        .await?
        .iter()
        .map(|r| {
            Ok((
                r.text("key")?,
                r.text("kind")?,
                r.text("state")?,
                r.int("attempts")?,
            ))
        })
        .collect()
    }
}

/// Unix milliseconds now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The wait before attempt `attempts + 1`, after `attempts` failed.
pub fn backoff(limits: &WatchLimits, attempts: i64) -> Duration {
    let step = (attempts.max(1) as usize - 1).min(BACKOFF.len() - 1);
    limits.retry_first * BACKOFF[step]
}

/// Delivers due notices for the life of the server, `limits.deliveries` at a time.
pub async fn deliver_forever(app: Arc<App>) {
    let me = random_id().unwrap_or_else(|| format!("pid-{}", std::process::id()));
    let slots = Arc::new(tokio::sync::Semaphore::new(app.watch.deliveries.max(1)));
    let tick = app
        .watch
        .retry_first
        .clamp(Duration::from_millis(50), Duration::from_secs(1));
    let mut pruned: Option<std::time::Instant> = None;
    loop {
        if pruned.is_none_or(|p| p.elapsed() >= Duration::from_secs(3600)) {
            pruned = Some(std::time::Instant::now());
            let _ = app
                .store
                .prune_notices(now_ms() - KEEP.as_millis() as i64)
                .await;
        }
        let free = slots.available_permits();
        if free > 0 {
            let now = now_ms();
            if let Ok(due) = app.store.due_notices(now, free).await {
                for d in due {
                    if !matches!(app.store.claim_notice(&d.key, &me, now).await, Ok(true)) {
                        continue;
                    }
                    let Ok(slot) = slots.clone().acquire_owned().await else {
                        return;
                    };
                    let (app, me) = (app.clone(), me.clone());
                    tokio::spawn(async move {
                        attempt(&app, &me, d).await;
                        drop(slot);
                    });
                }
            }
        }
        if let Ok(n) = app.store.pending_notices().await {
            app.metrics.notices_pending(n.max(0) as u64);
        }
        tokio::time::sleep(tick).await;
    }
}

/// One delivery attempt of a claimed row, and its outcome recorded.
async fn attempt(app: &App, me: &str, d: Due) {
    let attempts = d.attempts + 1;
    // A per-delivery deadline beyond the transports' own: a slot always comes back.
    let sent = tokio::time::timeout(
        notify::DELIVERY_DEADLINE * 2 + Duration::from_secs(5),
        async {
            match &d.target {
                Target::Webhook(url) => {
                    let hook = notify::Webhook::parse(url).map_err(Failure::permanent)?;
                    notify::post_json(
                        &hook,
                        d.payload.clone(),
                        &d.key,
                        app.delivery.allow_private_targets,
                    )
                    .await
                }
                Target::Email(to) => {
                    notify::mail(
                        &app.delivery,
                        to,
                        &d.subject,
                        d.payload.clone(),
                        Some(message_id(&d.key, &app.public_url)),
                    )
                    .await
                }
            }
        },
    )
    .await
    .unwrap_or_else(|_| Err(Failure::transient("the delivery did not end in time")));
    let now = now_ms();
    let (state, next, error) = match &sent {
        Ok(()) => {
            app.metrics.notice_delivered();
            ("delivered", now, None)
        }
        Err(f)
            if f.permanent || now - d.created_at >= app.watch.give_up_after.as_millis() as i64 =>
        {
            app.metrics.notice_given_up();
            crate::say!(
                "watch {} ({}): notice {} given up after {attempts} attempts: {f}",
                d.watch,
                d.domain,
                d.key
            );
            ("given_up", now, Some(f.why.as_str()))
        }
        Err(f) => {
            app.metrics.notice_retried();
            let wait = backoff(&app.watch, attempts).as_millis() as i64;
            ("pending", now + wait, Some(f.why.as_str()))
        }
    };
    if let Err(e) = app
        .store
        .notice_tried(&d.key, me, state, next, error, now)
        .await
    {
        // The claim runs out and the row is tried again: at least once, never lost.
        crate::say!("notice {}: the outcome was not stored: {e}", d.key);
    }
}

/// A stable Message-ID for a notice: its key at the server's host.
fn message_id(key: &str, public_url: &str) -> String {
    let host = public_url
        .split("://")
        .nth(1)
        .unwrap_or(public_url)
        .split(['/', ':'])
        .next()
        .filter(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        })
        .unwrap_or("mxtls.invalid");
    format!("<{key}@{host}>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let limits = WatchLimits::default();
        let waits: Vec<u64> = (1..=8).map(|n| backoff(&limits, n).as_secs()).collect();
        assert_eq!(waits, [10, 30, 120, 600, 1800, 3600, 3600, 3600]);
    }

    #[test]
    fn keys_are_stable_and_message_ids_well_formed() {
        assert_eq!(change_key("w", None), "w-first");
        assert_eq!(change_key("w", Some("s1")), "w-after-s1");
        assert_eq!(
            content_key("w", "report", "x"),
            content_key("w", "report", "x")
        );
        assert_ne!(
            content_key("w", "report", "x"),
            content_key("w", "report", "y")
        );
        assert_eq!(
            message_id("k-1", "https://checker.test:8443/x"),
            "<k-1@checker.test>"
        );
        assert_eq!(message_id("k", "weird url"), "<k@mxtls.invalid>");
    }

    #[test]
    fn public_reasons_name_no_target() {
        for (error, public) in [
            ("the webhook answered 404", "the webhook answered 404"),
            (
                "could not connect to the webhook: Connection refused (os error 111)",
                "the webhook could not be reached",
            ),
            (
                "hooks.example is not a public address (private)",
                "the webhook's address is not allowed",
            ),
            (
                "the webhook redirected (302): \"ftp://secret.example/x\" is not a URL",
                "the webhook's redirect was not followed",
            ),
            (
                "the relay refused the mail: permanent error (550)",
                "the mail relay did not take the mail",
            ),
            (
                "TLS with secret.example: bad certificate",
                "the delivery failed",
            ),
        ] {
            assert_eq!(public_reason(error), public, "{error}");
        }
    }
}
