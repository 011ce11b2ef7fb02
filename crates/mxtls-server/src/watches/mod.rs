//! Watched domains: stored in the snapshot store (so they survive a restart), re-checked
//! every interval with jitter, a few at a time, through the same running-checks hub as
//! people's checks (so a watch never probes a domain someone is checking already), and told
//! what changed: after the first check and on every change of status or findings. What is
//! to be told goes into the store's outbox with the check's result, in one transaction
//! (`outbox`), and is delivered from there, so it is neither lost nor told twice.
//!
//! Email is double opt-in: a new email watch gets one confirmation mail and nothing else
//! until its link is followed. A watch's id is its only key (128 random bits): whoever holds
//! it may end the watch.

pub mod api;
pub mod outbox;
pub mod page;

use std::collections::HashSet;
use std::hash::{BuildHasher, Hasher};

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::params;
use crate::store::{FromRow, Result as StoreResult, Row};

use mxtls_core::report::{FindingChange, ReportDiff};
use mxtls_core::{Evidence, Report};
use serde::Serialize;

use crate::App;
use crate::checks::lock;
use crate::notify;
use crate::runner::Asker;
use crate::snapshots::{SnapshotId, Store};

/// What the watcher does, and how much.
#[derive(Debug, Clone)]
pub struct WatchLimits {
    /// How often each watched domain is checked again (± a tenth, at random).
    pub interval: Duration,
    /// Watched domains checked at once.
    pub concurrent: usize,
    /// Watches one client may hold.
    pub per_client: usize,
    /// Watches of one domain (one probe serves them all; this bounds the mail and posts).
    pub per_domain: usize,
    /// Notices delivered at once (each holds its slot at most one delivery deadline).
    pub deliveries: usize,
    /// The first wait before a failed notice is tried again (then longer: `outbox`).
    pub retry_first: Duration,
    /// How long a notice is tried before it is given up.
    pub give_up_after: Duration,
}

impl Default for WatchLimits {
    fn default() -> Self {
        WatchLimits {
            interval: Duration::from_secs(6 * 3600),
            concurrent: 2,
            per_client: 10,
            per_domain: 20,
            deliveries: 16,
            retry_first: Duration::from_secs(10),
            give_up_after: Duration::from_secs(24 * 3600),
        }
    }
}

/// Where a watch's notifications go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Webhook(String),
    Email(String),
}

/// One watch, as stored.
#[derive(Debug, Clone)]
pub struct Watch {
    pub id: String,
    pub domain: String,
    pub target: Target,
    /// `None` once confirmed (webhooks need no confirmation).
    pub token: Option<String>,
    pub next_check: i64,
    pub last_snapshot: Option<String>,
}

impl FromRow for Target {
    /// The `webhook` and `email` columns of a watch, one of them set.
    fn from_row(row: &Row) -> StoreResult<Target> {
        Ok(match (row.opt_text("webhook")?, row.opt_text("email")?) {
            (Some(w), _) => Target::Webhook(w),
            (None, e) => Target::Email(e.unwrap_or_default()),
        })
    }
}

impl FromRow for Watch {
    /// A row of [`WATCH_COLUMNS`].
    fn from_row(row: &Row) -> StoreResult<Watch> {
        Ok(Watch {
            id: row.text("id")?,
            domain: row.text("domain")?,
            target: Target::from_row(row)?,
            token: row.opt_text("token")?,
            next_check: row.int("next_check")?,
            last_snapshot: row.opt_text("last_snapshot")?,
        })
    }
}

const WATCH_COLUMNS: &str = "id, domain, webhook, email, token, next_check, last_snapshot";

pub use crate::ids::random_id;

impl Store {
    /// Adds a watch; `token` set for email (awaiting confirmation).
    pub async fn add_watch(&self, w: &Watch, client: &str, now: i64) -> StoreResult<()> {
        let (webhook, email) = match &w.target {
            Target::Webhook(u) => (Some(u.as_str()), None),
            Target::Email(e) => (None, Some(e.as_str())),
        };
        self.execute(
            "INSERT INTO watches (id, domain, webhook, email, client, token, created_at, next_check)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                w.id.as_str(),
                w.domain.as_str(),
                webhook,
                email,
                client,
                w.token.clone(),
                now,
                w.next_check
            ],
        )
        .await?;
        Ok(())
    }

    pub async fn watch(&self, id: &str) -> StoreResult<Option<Watch>> {
        self.query_opt(
            &format!("SELECT {WATCH_COLUMNS} FROM watches WHERE id = ?1"),
            params![id],
        )
        .await?
        .as_ref()
        .map(Watch::from_row)
        .transpose()
    }

    /// Ends a watch, and its notices not yet delivered; whether it existed.
    pub async fn delete_watch(&self, id: &str) -> StoreResult<bool> {
        let step = |sql: &str, must_change| crate::store::Step {
            sql: sql.into(),
            params: params![id],
            must_change,
        };
        self.atomically(vec![
            step("DELETE FROM watches WHERE id = ?1", true),
            step(
                "DELETE FROM outbox WHERE watch = ?1 AND state = 'pending'",
                false,
            ),
        ])
        .await
    }

    /// Confirms an email watch if `token` is its token; it is checked at once.
    pub async fn confirm_watch(&self, id: &str, token: &str, now: i64) -> StoreResult<bool> {
        Ok(self
            .execute(
                "UPDATE watches SET token = NULL, next_check = ?3 WHERE id = ?1 AND token = ?2",
                params![id, token, now],
            )
            .await?
            > 0)
    }

    pub async fn watch_counts(&self, client: &str, domain: &str) -> StoreResult<(usize, usize)> {
        let count = |sql: &'static str, arg: &str| self.number(sql, params![arg]);
        Ok((
            count("SELECT COUNT(*) FROM watches WHERE client = ?1", client)
                .await?
                .max(0) as usize,
            count("SELECT COUNT(*) FROM watches WHERE domain = ?1", domain)
                .await?
                .max(0) as usize,
        ))
    }

    /// Whether a confirmation mail to `email` is still waiting to be followed: one at a time
    /// per address, so watches cannot be used to flood a mailbox with confirmation mail.
    pub async fn confirmation_pending(&self, email: &str) -> StoreResult<bool> {
        let row = self
            .query_opt(
                "SELECT 1 FROM watches WHERE token IS NOT NULL AND lower(email) = lower(?1) LIMIT 1",
                params![email],
            )
            .await?;
        Ok(row.is_some())
    }

    /// The confirmed watches of `domain`.
    pub async fn domain_watches(&self, domain: &str) -> StoreResult<Vec<Watch>> {
        self.query(
            &format!("SELECT {WATCH_COLUMNS} FROM watches WHERE token IS NULL AND domain = ?1"),
            params![domain],
        )
        .await?
        .iter()
        .map(Watch::from_row)
        .collect()
    }

    /// Confirmed watches due by `now`, soonest first.
    pub async fn due_watches(&self, now: i64) -> StoreResult<Vec<Watch>> {
        self.query(
            &format!(
                "SELECT {WATCH_COLUMNS} FROM watches WHERE token IS NULL AND next_check <= ?1
                 ORDER BY next_check LIMIT 1000"
            ),
            params![now],
        )
        .await?
        .iter()
        .map(Watch::from_row)
        .collect()
    }

    /// Records a watch's check unconditionally (no notice): see [`Store::record_check`].
    pub async fn watch_checked(
        &self,
        id: &str,
        snapshot: &str,
        state: u8,
        next_check: i64,
    ) -> StoreResult<()> {
        self.execute(
            "UPDATE watches SET last_snapshot = ?2, last_state = ?3, next_check = ?4 WHERE id = ?1",
            params![id, snapshot, i64::from(state), next_check],
        )
        .await?;
        Ok(())
    }

    /// Records a watch's check — if its last snapshot is still `previous` (no other instance
    /// recorded one in between) — and writes `notice` to the outbox in the same transaction:
    /// whether it was recorded. What a watch was told is therefore what the store says it
    /// saw; a restart or a second instance cannot tell it again.
    pub async fn record_check(
        &self,
        w: &Watch,
        snapshot: &str,
        state: u8,
        next_check: i64,
        notice: Option<&outbox::Notice>,
    ) -> StoreResult<bool> {
        let mut steps = vec![crate::store::Step {
            sql: "UPDATE watches SET last_snapshot = ?2, last_state = ?3, next_check = ?4
                  WHERE id = ?1 AND COALESCE(last_snapshot, '') = ?5"
                .into(),
            params: params![
                w.id.as_str(),
                snapshot,
                i64::from(state),
                next_check,
                w.last_snapshot.clone().unwrap_or_default()
            ],
            must_change: true,
        }];
        if let Some(n) = notice {
            steps.push(n.insert(outbox::now_ms()));
        }
        self.atomically(steps).await
    }

    /// Takes a due watch for one re-check: moves its next check from `seen` (as read) to
    /// `until`; `false` when another instance took it first.
    pub async fn claim_watch(&self, id: &str, seen: i64, until: i64) -> StoreResult<bool> {
        Ok(self
            .execute(
                "UPDATE watches SET next_check = ?3 WHERE id = ?1 AND next_check = ?2",
                params![id, seen, until],
            )
            .await?
            > 0)
    }

    /// Put off a watch whose check could not run (the checker was busy).
    pub async fn watch_later(&self, id: &str, next_check: i64) -> StoreResult<()> {
        self.execute(
            "UPDATE watches SET next_check = ?2 WHERE id = ?1",
            params![id, next_check],
        )
        .await?;
        Ok(())
    }

    /// Every watched domain with the plugin state of its latest check (3: not checked yet),
    /// and how many watches there are: for `/metrics`.
    pub async fn watched_states(&self) -> StoreResult<(usize, Vec<(String, u8)>)> {
        let total = self
            .number("SELECT COUNT(*) FROM watches", params![])
            .await?
            .max(0) as usize;
        let rows = self
            .query(
                "SELECT domain, MAX(COALESCE(last_state, 3)) AS state FROM watches WHERE token IS NULL
                 GROUP BY domain ORDER BY domain",
                params![],
            )
            .await?;
        let states = rows
            .iter()
            .map(|r| Ok((r.text("domain")?, r.int("state")?.clamp(0, 3) as u8)))
            .collect::<StoreResult<_>>()?;
        Ok((total, states))
    }
}

/// The next check time: `interval` from `now`, ± a tenth at random, so that watches made
/// together do not probe together forever.
pub fn next_time(now: i64, interval: Duration) -> i64 {
    let secs = interval.as_secs().max(1) as i64;
    let spread = (secs / 10).max(1);
    let r = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    now + secs - spread + (r % (2 * spread as u64 + 1)) as i64
}

/// What a webhook receives.
#[derive(Debug, Serialize)]
pub struct Notification<'a> {
    pub domain: &'a str,
    /// The report's one-line answer.
    pub answer: &'a str,
    /// `ok`, `warning`, `critical`, `unknown` (the monitoring-plugin state).
    pub state: &'a str,
    /// The first notification of this watch: every finding is "added".
    pub first: bool,
    pub added: &'a [FindingChange],
    pub removed: &'a [FindingChange],
    /// What the servers present and DNS publishes that changed, in words.
    pub changes: &'a [String],
    pub snapshot: String,
    pub previous: Option<String>,
    pub history: String,
    pub watch: &'a str,
    /// The page that ends the watch (a button: `GET` changes nothing, `POST` ends it).
    pub unsubscribe: String,
}

/// The running watcher: the scheduler loop and what is being checked now.
pub struct Watcher {
    in_flight: Mutex<HashSet<String>>,
    slots: Arc<tokio::sync::Semaphore>,
}

impl Watcher {
    pub fn new(limits: &WatchLimits) -> Arc<Watcher> {
        Arc::new(Watcher {
            in_flight: Mutex::new(HashSet::new()),
            slots: Arc::new(tokio::sync::Semaphore::new(limits.concurrent.max(1))),
        })
    }

    /// Runs the schedule for the life of the server.
    pub async fn run(self: Arc<Watcher>, app: Arc<App>) {
        let tick = (app.watch.interval / 8).clamp(Duration::from_secs(1), Duration::from_secs(30));
        loop {
            self.clone().tick(&app).await;
            tokio::time::sleep(tick).await;
        }
    }

    /// Starts the checks of every due domain not already being checked.
    pub async fn tick(self: Arc<Watcher>, app: &Arc<App>) {
        let now = mxtls_probe::clock::unix_now().0;
        let Ok(due) = app.store.due_watches(now).await else {
            return;
        };
        let mut domains: Vec<String> = due.iter().map(|w| w.domain.clone()).collect();
        domains.sort();
        domains.dedup();
        for domain in domains {
            if !lock(&self.in_flight).insert(domain.clone()) {
                continue;
            }
            let (watcher, app) = (self.clone(), app.clone());
            tokio::spawn(async move {
                let Ok(_slot) = watcher.slots.clone().acquire_owned().await else {
                    return;
                };
                recheck(&app, &domain).await;
                lock(&watcher.in_flight).remove(&domain);
            });
        }
    }
}

/// Checks `domain` once for all its due watches, then tells each what changed.
async fn recheck(app: &Arc<App>, domain: &str) {
    let Ok(name) = mxtls_core::names::parse_user_domain(domain) else {
        return;
    };
    let now = mxtls_probe::clock::unix_now().0;
    let candidates: Vec<Watch> = match app.store.due_watches(now).await {
        Ok(w) => w
            .into_iter()
            .filter(|w| w.domain == name.as_str())
            .collect(),
        Err(_) => return,
    };
    // Claimed before they are checked, so that of the instances of a cluster (each with its
    // watcher) one re-checks each watch: the others find it claimed.
    let claimed_until = now + (app.watch.interval.as_secs() as i64 / 10).clamp(30, 3600);
    let mut due = Vec::new();
    for w in candidates {
        if let Ok(true) = app
            .store
            .claim_watch(&w.id, w.next_check, claimed_until)
            .await
        {
            due.push(w);
        }
    }
    if due.is_empty() {
        return;
    }
    let answer = match app.runner.check(name.clone(), Asker::Schedule).await {
        Ok(frames) => crate::runner::last_answer(frames).await,
        Err(refused) => Err(format!("not started: {refused:?}")),
    };
    let answer = match answer {
        Ok(a) => a,
        Err(why) => {
            crate::say!(
                "watched {domain}: the re-check gave no evidence ({why}); trying again later"
            );
            None
        }
    };
    let Some(answer) = answer else {
        // Busy, or the check failed to start: try again in a while, not at once.
        let later = now + (app.watch.interval.as_secs() as i64 / 10).clamp(30, 3600);
        for w in &due {
            let _ = app.store.watch_later(&w.id, later).await;
        }
        app.metrics.watch_check_failed();
        return;
    };
    let report = mxtls_core::analyse(&answer.evidence, answer.evidence.probe.finished_at);
    let state = mxtls_core::present::plugin_state(&report);
    for w in due {
        let previous = match &w.last_snapshot {
            Some(id) => load_report(app, id).await,
            None => None,
        };
        // The first notice is the one after no snapshot: decided by what the store holds.
        let first = w.last_snapshot.is_none();
        let diff = mxtls_core::analysis::diff(previous.as_ref(), &report);
        let notice = if first || !diff.is_empty() {
            match notice(app, &w, &report, &diff, &answer.snapshot, first) {
                Ok(n) => Some(n),
                Err(e) => {
                    crate::say!("watch {} ({}): no notice: {e}", w.id, w.domain);
                    None
                }
            }
        } else {
            None
        };
        let next = next_time(now, app.watch.interval);
        match app
            .store
            .record_check(&w, &answer.snapshot, state.code(), next, notice.as_ref())
            .await
        {
            Ok(true) => {}
            Ok(false) => crate::say!(
                "watch {} ({}): another instance recorded a check first; this one is dropped",
                w.id,
                w.domain
            ),
            Err(e) => crate::say!(
                "watch {} ({}): the check was not recorded: {e}",
                w.id,
                w.domain
            ),
        }
    }
}

/// The evidence a check's stream ends with, or the error it ends with.
async fn load_report(app: &Arc<App>, id: &str) -> Option<Report> {
    let id = SnapshotId::parse(id)?;
    let snap = app.store.get(&id).await.ok()??;
    let evidence = Evidence::from_json(&String::from_utf8_lossy(&snap.evidence)).ok()?;
    Some(mxtls_core::analyse(&evidence, evidence.probe.finished_at))
}

/// The notice of a check for `w`: its first, or what changed since its last snapshot.
fn notice(
    app: &Arc<App>,
    w: &Watch,
    report: &Report,
    diff: &ReportDiff,
    snapshot: &str,
    first: bool,
) -> Result<outbox::Notice, String> {
    let base = app.public_url.trim_end_matches('/');
    let state = mxtls_core::present::plugin_state(report)
        .label()
        .to_ascii_lowercase();
    let note = Notification {
        domain: &w.domain,
        answer: &report.summary.headline,
        state: &state,
        first,
        added: &diff.added,
        removed: &diff.removed,
        changes: &diff.changes,
        snapshot: format!("{base}/r/{snapshot}"),
        previous: w.last_snapshot.as_ref().map(|p| format!("{base}/r/{p}")),
        history: history_url(base, &w.domain),
        watch: &w.id,
        unsubscribe: page::unsubscribe_url(base, &w.id),
    };
    let subject = format!("mxtls: {}: {}", w.domain, headline_word(&state));
    let kind = if first { "first" } else { "change" };
    let key = outbox::change_key(&w.id, w.last_snapshot.as_deref());
    outbox::Notice::new(w, kind, key, &subject, &note, || mail_text(&note, base))
}

/// Queues one notice for a watch's target (the outbox delivers it): `note` as JSON to a
/// webhook, or `subject` and `text()` as a plain-text mail. Its key is its content's, so
/// the same notice queued twice is sent once.
pub(crate) async fn send<N: Serialize>(
    app: &App,
    w: &Watch,
    note: &N,
    subject: &str,
    text: impl FnOnce() -> String,
) -> Result<(), String> {
    let json = serde_json::to_value(note).map_err(|e| e.to_string())?;
    let kind = json
        .get("kind")
        .and_then(|k| k.as_str())
        .unwrap_or("notice")
        .to_owned();
    let key = outbox::content_key(&w.id, &kind, &json.to_string());
    let notice = outbox::Notice::new(w, &kind, key, subject, &json, text)?;
    app.store
        .enqueue(&notice, outbox::now_ms())
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// The history page of `domain` on this server, for links in notifications and feeds.
pub(crate) fn history_url(base: &str, domain: &str) -> String {
    format!("{base}/d/{}", mxtls_core::route::percent_encode(domain))
}

fn headline_word(state: &str) -> &'static str {
    match state {
        "ok" => "all good",
        "warning" => "needs attention",
        "critical" => "mail at risk",
        _ => "not tested",
    }
}

/// The plain-text mail of a notification.
pub fn mail_text(n: &Notification<'_>, base: &str) -> String {
    let mut out = format!("{}\n\n{}\n", n.domain, n.answer);
    let list = |out: &mut String, what: &str, items: &[FindingChange]| {
        if !items.is_empty() {
            out.push_str(&format!("\n{what}:\n"));
            for f in items {
                out.push_str(&format!(
                    "  {} {} ({}): {}\n",
                    f.severity.id().to_ascii_uppercase(),
                    f.code,
                    f.subject,
                    f.title
                ));
            }
        }
    };
    if n.first {
        list(&mut out, "Findings (first check of this watch)", n.added);
    } else {
        list(&mut out, "New findings", n.added);
        list(&mut out, "Gone", n.removed);
    }
    if !n.changes.is_empty() {
        out.push_str("\nChanged:\n");
        for c in n.changes {
            out.push_str(&format!("  {c}\n"));
        }
    }
    out.push_str(&format!("\nThe report: {}\n", n.snapshot));
    if let Some(p) = &n.previous {
        out.push_str(&format!("The one before: {p}\n"));
    }
    out.push_str(&format!("History: {}\n", n.history));
    out.push_str(&stop_text(base, n.watch));
    out
}

/// The end of every notice mail: how to stop them, without and with a terminal.
pub fn stop_text(base: &str, id: &str) -> String {
    format!(
        "\nTo stop these mails, open this link and press the button:\n  {}\n\
         (or: curl -X DELETE {base}/api/watches/{id})\n",
        page::unsubscribe_url(base, id)
    )
}

/// The confirmation mail of a new email watch.
pub fn confirmation_text(domain: &str, link: &str, base: &str, id: &str) -> String {
    format!(
        "Someone (we hope you) asked {base} to tell this address when mail security of {domain} changes.\n\n\
         To confirm, open this link and press the button:\n\n  {link}\n\n\
         Nothing else will be sent unless you do. To refuse for good, open this link and press the button:\n\n  {}\n",
        page::unsubscribe_url(base, id)
    )
}

/// Sends the confirmation mail of a new email watch.
pub async fn send_confirmation(app: &App, w: &Watch) -> Result<(), String> {
    let (Target::Email(to), Some(token)) = (&w.target, &w.token) else {
        return Ok(());
    };
    let base = app.public_url.trim_end_matches('/');
    let link = format!("{base}/api/watches/{}/confirm?token={token}", w.id);
    let text = confirmation_text(&w.domain, &link, base, &w.id);
    notify::mail(
        &app.delivery,
        to,
        &format!("mxtls: confirm watching {}", w.domain),
        text,
        None,
    )
    .await
    .map_err(|f| f.why)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_times_spread_around_the_interval() {
        let interval = Duration::from_secs(1000);
        let times: Vec<i64> = (0..50).map(|_| next_time(0, interval)).collect();
        assert!(times.iter().all(|t| (900..=1100).contains(t)), "{times:?}");
        let mut distinct = times.clone();
        distinct.sort();
        distinct.dedup();
        assert!(distinct.len() > 10, "jittered: {distinct:?}");
    }

    #[test]
    fn ids_are_32_hex_digits_and_differ() {
        let (a, b) = (random_id().expect("random"), random_id().expect("random"));
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
