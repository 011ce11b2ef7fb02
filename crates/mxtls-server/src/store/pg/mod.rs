//! What only a PostgreSQL store can do: the cluster's jobs and the per-address session
//! budget, written in PostgreSQL's own SQL (`$N`, `clock_timestamp()`, `FOR UPDATE SKIP
//! LOCKED`, advisory locks, `pg_notify`, the `mxtls_target_*` functions). Reached only
//! through [`Store::postgres`], which a SQLite store answers with `None`: no path from a
//! SQLite store reaches these statements.

pub mod jobs;
pub mod targets;

use super::postgres::Postgres;
use super::{Engine, Store};

/// The capability of a PostgreSQL store.
#[derive(Clone, Copy)]
pub struct Pg<'a> {
    store: &'a Store,
    db: &'a Postgres,
}

impl Store {
    /// The PostgreSQL-only repositories; `None` on SQLite.
    pub fn postgres(&self) -> Option<Pg<'_>> {
        match &self.engine {
            Engine::Postgres(db) => Some(Pg { store: self, db }),
            Engine::Sqlite(_) => None,
        }
    }
}

impl<'a> Pg<'a> {
    /// The cluster's jobs, their events and leases.
    pub fn jobs(self) -> jobs::Jobs<'a> {
        jobs::Jobs { pg: self }
    }

    /// The cluster's per-address session budget.
    pub fn targets(self) -> targets::Targets<'a> {
        targets::Targets { pg: self }
    }

    /// Notifications on `channel` (`LISTEN`), each payload as sent. The connection is
    /// re-made if it breaks, so a listener should still poll now and then: a notification
    /// sent while it was down is lost.
    pub fn listen(self, channel: &'static str) -> tokio::sync::mpsc::UnboundedReceiver<String> {
        self.db.listen(channel)
    }
}
