//! Slower or faster than the previous recording of the same command and environment.

use super::model::Timeline;
use crate::events::Phase;
use std::collections::HashMap;

/// How a duration compares with the same task's in the previous recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Slower,
    Faster,
    /// Within the noise: less than [`NOISE_MS`] or [`NOISE_PERCENT`] apart.
    Same,
}

/// Differences below this many milliseconds are noise.
pub const NOISE_MS: u64 = 100;
/// Differences below this share of the previous duration are noise.
pub const NOISE_PERCENT: u64 = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delta {
    pub before_ms: u64,
    pub now_ms: u64,
}

impl Delta {
    pub fn change(&self) -> Change {
        let diff = self.now_ms.abs_diff(self.before_ms);
        if diff < NOISE_MS || diff * 100 < self.before_ms * NOISE_PERCENT {
            Change::Same
        } else if self.now_ms > self.before_ms {
            Change::Slower
        } else {
            Change::Faster
        }
    }

    /// `now - before`, in milliseconds.
    pub fn diff_ms(&self) -> i64 {
        self.now_ms as i64 - self.before_ms as i64
    }
}

/// The previous recording's durations, looked up by task and phase.
pub struct Comparison {
    pub previous_started_unix_ms: u64,
    pub total: Delta,
    tasks: HashMap<(Phase, String), u64>,
    phases: HashMap<Phase, u64>,
}

impl Comparison {
    pub fn new(now: &Timeline, before: &Timeline) -> Self {
        let mut tasks = HashMap::new();
        for t in &before.tasks {
            // A task that ran twice (a name reused) compares with its first run.
            tasks
                .entry((t.phase, t.name.clone()))
                .or_insert(t.elapsed_ms());
        }
        Comparison {
            previous_started_unix_ms: before.started_unix_ms,
            total: Delta {
                before_ms: before.total_ms,
                now_ms: now.total_ms,
            },
            tasks,
            phases: before
                .phases
                .iter()
                .map(|p| (p.phase, p.elapsed_ms()))
                .collect(),
        }
    }

    /// The task's change, when the previous recording has it.
    pub fn task(&self, phase: Phase, name: &str, now_ms: u64) -> Option<Delta> {
        self.tasks
            .get(&(phase, name.to_owned()))
            .map(|&before_ms| Delta { before_ms, now_ms })
    }

    pub fn phase(&self, phase: Phase, now_ms: u64) -> Option<Delta> {
        self.phases
            .get(&phase)
            .map(|&before_ms| Delta { before_ms, now_ms })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_is_neither_slower_nor_faster() {
        let d = |before_ms, now_ms| Delta { before_ms, now_ms }.change();
        assert_eq!(d(1000, 1050), Change::Same);
        assert_eq!(d(10_000, 10_900), Change::Same);
        assert_eq!(d(10_000, 11_100), Change::Slower);
        assert_eq!(d(1000, 800), Change::Faster);
        assert_eq!(d(0, 99), Change::Same);
        assert_eq!(d(0, 150), Change::Slower);
    }
}
