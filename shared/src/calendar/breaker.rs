//! A circuit breaker for an external calendar: after `threshold` consecutive failures it
//! opens for `cooldown`, during which calls fail at once (the caller hears the spoken fallback
//! instead of waiting for another timeout). Then one probe at a time is let through; a success
//! closes it, a failure opens it again. Pure state: the clock comes in as an argument.

use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
struct State {
    consecutive_failures: u32,
    open_until: Option<Instant>,
    probe_started: Option<Instant>,
}

#[derive(Debug)]
pub struct CircuitBreaker {
    threshold: u32,
    cooldown: Duration,
    state: Mutex<State>,
}

/// The breaker is open: do not call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Open;

impl CircuitBreaker {
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            cooldown,
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a call may go out now.
    pub fn allow(&self, now: Instant) -> Result<(), Open> {
        let mut state = self.state();
        match state.open_until {
            None => Ok(()),
            Some(until) if now < until => Err(Open),
            Some(_) => {
                // Half open: one probe at a time. A probe that never reports back (its
                // request was cut off) stops counting after one cooldown.
                if state
                    .probe_started
                    .is_some_and(|p| now.duration_since(p) < self.cooldown)
                {
                    return Err(Open);
                }
                state.probe_started = Some(now);
                Ok(())
            }
        }
    }

    pub fn record_success(&self) {
        *self.state() = State::default();
    }

    pub fn record_failure(&self, now: Instant) {
        let mut state = self.state();
        state.consecutive_failures = state.consecutive_failures.saturating_add(1);
        state.probe_started = None;
        if state.consecutive_failures >= self.threshold {
            state.open_until = Some(now + self.cooldown);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COOL: Duration = Duration::from_secs(30);

    #[test]
    fn opens_after_consecutive_failures_only() {
        let b = CircuitBreaker::new(3, COOL);
        let t = Instant::now();
        b.record_failure(t);
        b.record_failure(t);
        b.record_success();
        b.record_failure(t);
        b.record_failure(t);
        assert_eq!(b.allow(t), Ok(()), "a success in between resets the count");
        b.record_failure(t);
        assert_eq!(b.allow(t), Err(Open));
        assert_eq!(b.allow(t + COOL - Duration::from_millis(1)), Err(Open));
    }

    #[test]
    fn one_probe_after_the_cooldown_then_closed_or_open_again() {
        let b = CircuitBreaker::new(1, COOL);
        let t = Instant::now();
        b.record_failure(t);
        let later = t + COOL;
        assert_eq!(b.allow(later), Ok(()), "the probe");
        assert_eq!(b.allow(later), Err(Open), "only one probe at a time");
        b.record_failure(later);
        assert_eq!(b.allow(later + Duration::from_secs(1)), Err(Open));
        let again = later + COOL;
        assert_eq!(b.allow(again), Ok(()));
        b.record_success();
        assert_eq!(b.allow(again), Ok(()));
        assert_eq!(b.allow(again), Ok(()));
    }

    #[test]
    fn a_probe_that_never_reports_back_expires() {
        let b = CircuitBreaker::new(1, COOL);
        let t = Instant::now();
        b.record_failure(t);
        assert_eq!(b.allow(t + COOL), Ok(()));
        assert_eq!(b.allow(t + COOL + COOL / 2), Err(Open));
        assert_eq!(b.allow(t + COOL + COOL), Ok(()));
    }
}
