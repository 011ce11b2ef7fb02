//! The opt-out list across a cluster: the list an instance reads from its `--never-probe`
//! file is published in the store, and every probing process (each `serve` and `worker`)
//! matches hosts against the store's list as well as its own file. A postmaster who asks
//! one operator is then left alone by every worker, wherever it runs; an edit reaches them
//! within [`REFRESH`].

use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mxtls_core::names::DnsName;
use mxtls_probe::never_probe::{NeverProbe, OptOut};

use crate::clock::now_ms;
use crate::params;
use crate::store::Store;

/// How long the store's list is used before it is read again.
pub const REFRESH: Duration = Duration::from_secs(2);

/// The cluster's list (from the store) beside this process's own (its file, if any).
pub struct SharedOptOut {
    store: Arc<Store>,
    local: Option<Arc<dyn OptOut>>,
    cache: Mutex<Cached>,
}

#[derive(Debug)]
struct Cached {
    read: Option<Instant>,
    list: Arc<NeverProbe>,
    /// The local text last published, so that an unchanged file is not written again.
    published: Option<String>,
}

impl SharedOptOut {
    pub fn new(store: Arc<Store>, local: Option<Arc<dyn OptOut>>) -> SharedOptOut {
        SharedOptOut {
            store,
            local,
            cache: Mutex::new(Cached {
                read: None,
                list: Arc::new(NeverProbe::default()),
                published: None,
            }),
        }
    }

    /// Publishes the local list if it changed, and reads the store's when due: the list
    /// the cluster shares now.
    pub async fn refresh(&self) -> Arc<NeverProbe> {
        let (due, published, list) = match self.cache.lock() {
            Ok(c) => (
                c.read.is_none_or(|t| t.elapsed() >= REFRESH),
                c.published.clone(),
                c.list.clone(),
            ),
            Err(_) => return Arc::new(NeverProbe::default()),
        };
        if !due {
            return list;
        }
        if let Some(local) = self.local.as_ref().and_then(|l| l.local())
            && published.as_deref() != Some(local.text())
        {
            match self.publish(local.text()).await {
                Ok(()) => {
                    if let Ok(mut c) = self.cache.lock() {
                        c.published = Some(local.text().to_owned());
                    }
                }
                Err(e) => crate::say!("--never-probe: not shared with the cluster: {e}"),
            }
        }
        // Time-boxed: a store that does not answer must not hold a check's session up; the
        // last list read stays in force meanwhile.
        let read = tokio::time::timeout(
            REFRESH,
            self.store
                .query_opt("SELECT list FROM never_probe WHERE id = 1", Vec::new()),
        )
        .await
        .unwrap_or_else(|_| Err(crate::store::StoreError::failed("no answer in time")));
        let list = match read {
            Ok(Some(row)) => match row.text("list").map(|t| NeverProbe::parse(&t)) {
                Ok(Ok(list)) => Arc::new(list),
                Ok(Err(e)) => {
                    crate::say!("the cluster's never-probe list does not parse: {e}");
                    list
                }
                Err(e) => {
                    crate::say!("the cluster's never-probe list: {e}");
                    list
                }
            },
            Ok(None) => Arc::new(NeverProbe::default()),
            // The store is away: the last list read stays in force.
            Err(_) => list,
        };
        if let Ok(mut c) = self.cache.lock() {
            c.read = Some(Instant::now());
            c.list = list.clone();
        }
        list
    }

    async fn publish(&self, text: &str) -> Result<(), crate::store::StoreError> {
        self.store
            .execute(
                "INSERT INTO never_probe (id, list, updated_at) VALUES (1, ?1, ?2)
                 ON CONFLICT (id) DO UPDATE SET list = excluded.list,
                     updated_at = excluded.updated_at",
                params![text, now_ms()],
            )
            .await
            .map(|_| ())
    }
}

impl std::fmt::Debug for SharedOptOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedOptOut")
            .field("local", &self.local)
            .finish_non_exhaustive()
    }
}

impl OptOut for SharedOptOut {
    fn opted_out<'a>(
        &'a self,
        host: &'a DnsName,
        ip: IpAddr,
    ) -> Pin<Box<dyn Future<Output = Option<String>> + Send + 'a>> {
        Box::pin(async move {
            if let Some(local) = &self.local
                && let Some(entry) = local.opted_out(host, ip).await
            {
                return Some(entry);
            }
            self.refresh().await.covering(host, ip).map(str::to_owned)
        })
    }
}

/// Keeps the cluster's list up to date with this instance's file, also when it probes
/// nothing itself (`serve --no-probe`).
pub async fn publish_forever(shared: Arc<SharedOptOut>) {
    loop {
        shared.refresh().await;
        tokio::time::sleep(REFRESH).await;
    }
}
