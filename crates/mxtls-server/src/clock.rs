//! The server's wall clock, in the units the store keeps.

/// Milliseconds since the Unix epoch by this process's clock. Leases are timed by the
/// database's clock instead (`cluster`), so that processes with skewed clocks agree on who
/// holds a job; this one times what a single process decides alone.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
