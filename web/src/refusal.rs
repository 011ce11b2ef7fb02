//! A check the server will not start yet: the client's limits (429: too many checks at
//! once, or too many a minute) or a busy checker (503), each with `Retry-After`. Nothing is
//! wrong with the domain, so it is a neutral box, not the red error box: the server's
//! reason, a countdown, and a retry that starts by itself when the wait is over — never
//! earlier than the server said.

use yew::prelude::*;

use crate::net::Failure;
use mxtls_core::present::{Mood, count};

/// A refused start, and when asking again is allowed.
#[derive(Debug, Clone, PartialEq)]
pub struct Deferred {
    /// The server's reason, a clause ("you have started many checks from your address").
    pub reason: String,
    /// When it was refused and when the check may start, on the page's clock (ms).
    pub since_ms: f64,
    pub until_ms: f64,
}

impl Deferred {
    /// The refusal in `failure`, if it is one that passes (429, or 503 with a
    /// `Retry-After`), received at `now_ms`.
    pub fn of(failure: &Failure, now_ms: f64) -> Option<Deferred> {
        let wait = failure.retry_after_s?;
        if !matches!(failure.status, Some(429 | 503)) {
            return None;
        }
        let reason = failure
            .reason
            .clone()
            .unwrap_or_else(|| "the checker cannot start this check now".to_owned());
        Some(Deferred {
            reason,
            since_ms: now_ms,
            // At least a second, whatever the header says: no retry loop without a pause.
            until_ms: now_ms + wait.max(1) as f64 * 1000.0,
        })
    }

    /// Whole seconds still to wait (rounded up: never says 0 while waiting, nor more than
    /// the server asked for).
    pub fn seconds_left(&self, now_ms: f64) -> u64 {
        let left = (self.until_ms - now_ms.max(self.since_ms)).max(0.0);
        (left / 1000.0).ceil() as u64
    }

    /// Whether the wait is over and the check may be asked for again.
    pub fn due(&self, now_ms: f64) -> bool {
        now_ms >= self.until_ms
    }

    /// "You have started many checks from your address; this one can start in 23 s."
    pub fn sentence(&self, now_ms: f64) -> String {
        // ASCII only: the server's words are English, and Unicode's case tables would
        // cost the first load more than this sentence is worth.
        let mut reason = self.reason.clone();
        if let Some(first) = reason.get_mut(..1) {
            first.make_ascii_uppercase();
        }
        if self.due(now_ms) {
            format!("{reason}; starting this check now.")
        } else {
            format!(
                "{reason}; this one can start in {}.",
                count(self.seconds_left(now_ms), "second", "seconds")
            )
        }
    }
}

/// The neutral box of a deferred check, counting down on the page's clock.
pub fn deferred_box(d: &Deferred, now_ms: f64) -> Html {
    html! {
        <section class={classes!("deferred", Mood::Info.id())} id="deferred" aria-labelledby="deferred-h">
            <h2 id="deferred-h">{ "Not started yet" }</h2>
            <p id="deferred-text">{ d.sentence(now_ms) }</p>
            <p class="muted">{ "It starts by itself when the wait is over: keep this page open. Nothing is wrong with the domain." }</p>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(status: u16, retry: Option<u64>) -> Failure {
        Failure {
            status: Some(status),
            message: "you have started many checks from your address (retry in 23 s)".into(),
            retry_after_s: retry,
            reason: Some("you have started many checks from your address".into()),
        }
    }

    #[test]
    fn a_limit_counts_down_and_is_due_only_when_the_wait_is_over() {
        let d = Deferred::of(&refused(429, Some(23)), 1_000.0).expect("a deferral");
        assert_eq!(d.until_ms, 24_000.0);
        assert_eq!(
            d.sentence(1_000.0),
            "You have started many checks from your address; this one can start in 23 seconds."
        );
        assert_eq!(
            d.seconds_left(23_500.0),
            1,
            "rounded up, never 0 while waiting"
        );
        assert_eq!(d.seconds_left(400.0), 23, "a clock read before the refusal");
        assert!(!d.due(23_999.0), "not a millisecond before Retry-After");
        assert!(d.due(24_000.0));
        assert_eq!(
            d.sentence(24_000.0),
            "You have started many checks from your address; starting this check now."
        );
        assert_eq!(
            Deferred::of(&refused(429, Some(1)), 0.0)
                .unwrap()
                .sentence(0.0),
            "You have started many checks from your address; this one can start in 1 second."
        );
    }

    #[test]
    fn only_refusals_that_pass_are_deferred() {
        assert!(Deferred::of(&refused(503, Some(5)), 0.0).is_some());
        // A zero wait still pauses a second.
        assert_eq!(
            Deferred::of(&refused(503, Some(0)), 0.0).unwrap().until_ms,
            1_000.0
        );
        assert_eq!(Deferred::of(&refused(503, None), 0.0), None, "no promise");
        assert_eq!(Deferred::of(&refused(400, Some(5)), 0.0), None);
        assert_eq!(Deferred::of(&refused(403, Some(5)), 0.0), None);
    }
}
