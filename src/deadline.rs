//! Deadlines that saturate instead of panicking when a duration is too large to add to now.

use std::time::Duration;

/// A deadline this far away never arrives in practice (tokio's own "far future" is ~30 years).
pub const NEVER: Duration = Duration::from_secs(86_400 * 365 * 30);

/// `now + d`, or about 30 years from now when `d` would overflow the clock.
pub fn std_after(d: Duration) -> std::time::Instant {
    let now = std::time::Instant::now();
    now.checked_add(d)
        .or_else(|| now.checked_add(NEVER))
        .unwrap_or(now)
}

/// `now + d` on tokio's clock, or about 30 years from now when `d` would overflow it.
pub fn tokio_after(d: Duration) -> tokio::time::Instant {
    let now = tokio::time::Instant::now();
    now.checked_add(d)
        .or_else(|| now.checked_add(NEVER))
        .unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_durations_saturate() {
        let huge = Duration::from_secs(u64::MAX);
        assert!(std_after(huge) > std::time::Instant::now() + Duration::from_secs(86_400));
        assert!(tokio_after(huge) > tokio::time::Instant::now() + Duration::from_secs(86_400));
        let soon = std_after(Duration::from_millis(5));
        assert!(soon <= std::time::Instant::now() + Duration::from_millis(5));
    }
}
