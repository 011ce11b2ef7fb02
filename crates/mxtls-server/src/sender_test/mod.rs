//! The sender test (`mxtls serve --sender-test ZONE`): SMTP receivers for the test domains
//! under a zone the operator delegated to the checker (`receiver`), the tests people start
//! and the connections the receivers saw, kept in the store so that any instance answers
//! for them (`api`), and the look at what the zone publishes before a test blames a sender
//! (`published`). The judgement is the core's (`mxtls_core::sender_test`); this records.
//!
//! Nothing a sender sends is kept: a message is read to its end, counted and dropped. A
//! connection's record (what it negotiated, whether it delivered) lives as long as the test it
//! belongs to is kept ([`KEEP`]), so that its result link keeps working for a week.

pub mod api;
mod published;
pub mod receiver;

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mxtls_core::evidence::UnixTime;
use mxtls_core::names::DnsName;
use mxtls_core::sender_test::published::Problem;
use mxtls_core::sender_test::view::{SenderTest, attribute, is_token, network, token};
use mxtls_core::sender_test::{Case, Connection};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::clock::now_ms;
use crate::params;
use crate::store::{Result, Store, StoreError};

/// How long a test and its connections are kept after it stops listening (its result link).
pub const KEEP: Duration = Duration::from_secs(7 * 24 * 3600);
/// Tests listening at once, across all clients: a bound on the store and on the work of
/// matching connections.
pub const MAX_LIVE_TESTS: i64 = 500;
/// Connections read for one test's view, per key it is read by (its token; each network
/// and EHLO name its named connections came from): a flood from elsewhere cannot push its
/// own connections out of the view.
const MAX_CONNECTIONS_READ: i64 = 500;
/// Networks and EHLO names of one test that unnamed connections are matched by.
const MAX_ANCHORS: usize = 16;

/// What `--sender-test` and its flags set.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The delegated, signed zone the test domains live under.
    pub zone: DnsName,
    /// Where each test domain's receiver listens (the address its MX host has, and the port:
    /// 25 for real senders).
    pub listen: Vec<(Case, SocketAddr)>,
    /// The receivers' certificate chain (valid for `*.ZONE`) and key.
    pub chain: Vec<CertificateDer<'static>>,
    pub key: Arc<PrivateKeyDer<'static>>,
    /// How long the receivers listen for a test after it starts: a sender that defers comes
    /// back within its retry interval (Postfix: 5 minutes at first).
    pub window: Duration,
    /// The address the test domains' MX hosts have in the zone, when it differs from the
    /// listening one (behind NAT); else the listening address.
    pub published: Vec<(Case, IpAddr)>,
}

impl Settings {
    /// The address each case's MX host must have in the zone.
    pub fn published_addresses(&self) -> Vec<(Case, IpAddr)> {
        if !self.published.is_empty() {
            return self.published.clone();
        }
        self.listen.iter().map(|(c, a)| (*c, a.ip())).collect()
    }
}

/// The running sender test: its settings, the store its tests live in, and the last look
/// at what the zone publishes.
pub struct SenderTests {
    pub settings: Settings,
    store: Arc<Store>,
    probe: mxtls_probe::Config,
    published: Mutex<Option<(std::time::Instant, Arc<Vec<Problem>>)>>,
    /// Tests one client may start per minute.
    pub quota: crate::clients::Quota,
}

impl SenderTests {
    pub fn new(settings: Settings, store: Arc<Store>, probe: mxtls_probe::Config) -> SenderTests {
        SenderTests {
            settings,
            store,
            probe,
            published: Mutex::new(None),
            quota: crate::clients::Quota::new(6),
        }
    }

    /// Starts a test: a fresh token, listening from now for the window. `Ok(None)` when too
    /// many tests listen already.
    pub async fn start(&self) -> Result<Option<SenderTest>> {
        let now = now_ms() / 1000;
        self.forget_old(now).await?;
        let live = self
            .store
            .number(
                "SELECT COUNT(*) AS n FROM sender_tests WHERE until_at > ?1",
                params![now],
            )
            .await?;
        if live >= MAX_LIVE_TESTS {
            return Ok(None);
        }
        let mut random = [0u8; 16];
        getrandom::fill(&mut random)
            .map_err(|e| StoreError::failed(format!("no randomness for a token: {e}")))?;
        let token = token(random);
        let until = now + self.settings.window.as_secs() as i64;
        self.store
            .execute(
                "INSERT INTO sender_tests (token, started_at, until_at) VALUES (?1, ?2, ?3)",
                params![token.as_str(), now, until],
            )
            .await?;
        self.view(&token).await
    }

    /// The test `token` with its connections, judged at the server's clock; `None` if there
    /// is no such test (or it has been forgotten).
    pub async fn view(&self, token: &str) -> Result<Option<SenderTest>> {
        if !is_token(token) {
            return Ok(None);
        }
        let Some(row) = self
            .store
            .query_opt(
                "SELECT started_at, until_at FROM sender_tests WHERE token = ?1",
                params![token],
            )
            .await?
        else {
            return Ok(None);
        };
        let (started, until) = (row.int("started_at")?, row.int("until_at")?);
        let mut all = self.read("token = ?1", params![token]).await?;
        let mut networks: Vec<String> = all.iter().map(|c| network(c.source)).collect();
        networks.sort();
        networks.dedup();
        let mut names: Vec<String> = all.iter().filter_map(|c| c.ehlo.clone()).collect();
        names.sort();
        names.dedup();
        for n in networks.iter().take(MAX_ANCHORS) {
            let found = self
                .read(
                    "token IS NULL AND network = ?1 AND at >= ?2 AND at <= ?3",
                    params![n.as_str(), started, until],
                )
                .await?;
            all.extend(found);
        }
        for e in names.iter().take(MAX_ANCHORS) {
            let found = self
                .read(
                    "token IS NULL AND ehlo = ?1 AND at >= ?2 AND at <= ?3",
                    params![e.as_str(), started, until],
                )
                .await?;
            all.extend(found);
        }
        all.sort_by_key(|c| c.at);
        all.dedup();
        let connections = attribute(token, UnixTime(started), UnixTime(until), &all);
        Ok(Some(SenderTest {
            token: token.to_owned(),
            zone: self.settings.zone.clone(),
            started: UnixTime(started),
            until: UnixTime(until),
            now: UnixTime(now_ms() / 1000),
            connections,
            published: self.published_problems().await.as_ref().clone(),
        }))
    }

    /// Whether `address` is `TOKEN@<case's test domain>` of a test that still listens (a
    /// token at another test domain is not taken here: the verdict is this receiver's).
    pub async fn live(&self, address: &str, case: Case) -> Result<bool> {
        let Some((local, domain)) = address.rsplit_once('@') else {
            return Ok(false);
        };
        let Ok(domain) = DnsName::parse(domain) else {
            return Ok(false);
        };
        if !is_token(local) || Case::of(&domain, &self.settings.zone) != Some(case) {
            return Ok(false);
        }
        let now = now_ms() / 1000;
        let n = self
            .store
            .number(
                "SELECT COUNT(*) AS n FROM sender_tests WHERE token = ?1 AND until_at > ?2",
                params![local, now],
            )
            .await?;
        Ok(n > 0)
    }

    /// Connections `WHERE <condition>`, oldest first, at most [`MAX_CONNECTIONS_READ`].
    async fn read(
        &self,
        condition: &str,
        params: Vec<crate::store::Value>,
    ) -> Result<Vec<Connection>> {
        let rows = self
            .store
            .query(
                &format!(
                    "SELECT record FROM sender_test_connections WHERE {condition}
                     ORDER BY at LIMIT {MAX_CONNECTIONS_READ}"
                ),
                params,
            )
            .await?;
        Ok(rows
            .iter()
            .filter_map(|r| r.text("record").ok())
            .filter_map(|t| serde_json::from_str(&t).ok())
            .collect())
    }

    /// Keeps what a receiver saw of one connection. One that named no live token is kept
    /// only while some test listens (only then can it be matched to one): a flood of
    /// connections while no test runs leaves nothing in the store.
    pub async fn record(&self, connection: &Connection) {
        if connection.token.is_none() {
            let listening = self
                .store
                .number(
                    "SELECT COUNT(*) AS n FROM sender_tests WHERE until_at > ?1",
                    params![connection.at.0],
                )
                .await;
            if !matches!(listening, Ok(n) if n > 0) {
                return;
            }
        }
        let Ok(json) = serde_json::to_string(connection) else {
            return;
        };
        let Some(id) = crate::ids::random_id() else {
            return;
        };
        if let Err(e) = self
            .store
            .execute(
                "INSERT INTO sender_test_connections (id, at, token, network, ehlo, record)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    id,
                    connection.at.0,
                    connection.token.clone(),
                    network(connection.source),
                    connection.ehlo.clone(),
                    json
                ],
            )
            .await
        {
            crate::say!("sender test: a connection was not recorded: {e}");
        }
    }

    /// Forgets tests past their keeping time, and connections older than any test kept
    /// (at every start, and every few minutes while the receivers run).
    pub async fn forget_old(&self, now: i64) -> Result<()> {
        let before = now - KEEP.as_secs() as i64;
        self.store
            .execute(
                "DELETE FROM sender_tests WHERE until_at < ?1",
                params![before],
            )
            .await?;
        self.store
            .execute(
                "DELETE FROM sender_test_connections WHERE at < ?1",
                params![before],
            )
            .await?;
        Ok(())
    }

    /// What is wrong with the published test domains, looked at most once a minute.
    pub async fn published_problems(&self) -> Arc<Vec<Problem>> {
        const FRESH: Duration = Duration::from_secs(60);
        if let Ok(cached) = self.published.lock()
            && let Some((at, problems)) = cached.as_ref()
            && at.elapsed() < FRESH
        {
            return problems.clone();
        }
        let problems = Arc::new(published::look(&self.settings, &self.probe).await);
        if let Ok(mut cached) = self.published.lock() {
            *cached = Some((std::time::Instant::now(), problems.clone()));
        }
        problems
    }
}
