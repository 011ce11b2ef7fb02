//! The probe's clock, in the evidence's units: the core never reads a clock, so every time it
//! judges with comes from here (and from the server, which uses the same functions).

use std::time::{Instant, SystemTime};

use mxtls_core::UnixTime;

/// Now, in seconds since the Unix epoch (0 if the system clock is before it).
pub fn unix_now() -> UnixTime {
    UnixTime(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0),
    )
}

/// Milliseconds since `since`, saturating.
pub fn elapsed_ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}
