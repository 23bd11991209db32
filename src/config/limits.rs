//! The ranges durations, ports and status codes are checked against where they are used, so
//! no value that passes validation can make a timer or a clock panic.

use super::values::Duration;
use std::time::Duration as Std;

/// Longest wait, timeout or sleep kubetest accepts anywhere: a day.
const DAY: Std = Std::from_secs(86_400);
/// Shortest retry interval: a zero interval would spin (tokio panics on it).
const TICK: Std = Std::from_millis(10);

/// An inclusive range of durations one key accepts.
#[derive(Debug, Clone, Copy)]
pub struct DurationRange {
    pub min: Std,
    pub max: Std,
}

pub const HEALTH_INTERVAL: DurationRange = DurationRange {
    min: TICK,
    max: Std::from_secs(600),
};
pub const TIMEOUT: DurationRange = DurationRange {
    min: TICK,
    max: DAY,
};
pub const WAIT_OR_SLEEP: DurationRange = DurationRange {
    min: Std::ZERO,
    max: DAY,
};
pub const RETRY_INTERVAL: DurationRange = DurationRange {
    min: TICK,
    max: Std::from_secs(3_600),
};

/// Ports a probe or a port-forward connects to.
pub const PORTS: std::ops::RangeInclusive<u16> = 1..=65535;
/// HTTP status codes (RFC 9110 §15: three digits, classes 1xx to 5xx).
pub const HTTP_STATUS: std::ops::RangeInclusive<u16> = 100..=599;

impl DurationRange {
    /// `None` when `d` is within the range, else the expectation to show.
    pub fn check(&self, d: Duration) -> Option<String> {
        (d.get() < self.min || d.get() > self.max).then(|| {
            format!(
                "a duration from {} to {}",
                Duration(self.min),
                Duration(self.max)
            )
        })
    }
}

/// A duration for a message: as written when reasonable, else only "more than 1000 days".
pub fn shown(d: Duration) -> String {
    if d.get() > Std::from_secs(1000 * 86_400) {
        "more than 1000 days".to_owned()
    } else {
        format!("`{d}`")
    }
}

/// `None` when `n` is within `range`, else the expectation to show.
pub fn check_number(n: u16, range: &std::ops::RangeInclusive<u16>, what: &str) -> Option<String> {
    (!range.contains(&n)).then(|| format!("{what} from {} to {}", range.start(), range.end()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_inclusive_and_say_what_they_accept() {
        assert_eq!(HEALTH_INTERVAL.check(Duration::from_millis(10)), None);
        assert_eq!(
            HEALTH_INTERVAL.check(Duration::from_secs(0)).as_deref(),
            Some("a duration from 10ms to 10m")
        );
        assert!(TIMEOUT.check(Duration(Std::from_secs(u64::MAX))).is_some());
        assert_eq!(WAIT_OR_SLEEP.check(Duration::from_secs(0)), None);
        assert_eq!(
            check_number(999, &HTTP_STATUS, "an HTTP status").as_deref(),
            Some("an HTTP status from 100 to 599")
        );
        assert_eq!(
            check_number(0, &PORTS, "a port"),
            Some("a port from 1 to 65535".into())
        );
    }
}
