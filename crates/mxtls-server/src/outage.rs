//! Riding out a store that does not answer for a while (a PostgreSQL restart, a failover):
//! what a cluster worker writes is written again, idempotently, rather than lost.

use std::time::Duration;

use crate::store::Result;

/// A store that does not answer, as a worker meets it: each progress event is written again
/// (it is keyed by job and sequence number, so twice is once), and a job's outcome waits,
/// until the store has been failing for a lease — a restart is over by then, and past it the
/// claim is lost anyway — so that a job that outlives a restart loses no event and is not
/// probed twice.
#[derive(Default)]
pub(crate) struct Outage {
    since: Option<tokio::time::Instant>,
}

impl Outage {
    pub(crate) async fn retried<F, Fut, T>(&mut self, lease: Duration, mut write: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        loop {
            match write().await {
                Ok(v) => {
                    self.since = None;
                    return Ok(v);
                }
                Err(e)
                    if self
                        .since
                        .get_or_insert_with(tokio::time::Instant::now)
                        .elapsed()
                        >= lease =>
                {
                    return Err(e);
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }
}
