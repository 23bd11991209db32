//! The `needs` DAG as a scheduler: which dependencies may start now, given those finished.
//!
//! Not level by level: a dependency becomes ready the moment its last need is done, whatever
//! else is still starting.

use std::collections::{BTreeSet, HashMap};

#[derive(Debug, Clone)]
pub struct Schedule {
    /// In plan (start) order: name → what it needs.
    order: Vec<(String, Vec<String>)>,
    started: BTreeSet<String>,
    done: BTreeSet<String>,
}

impl Schedule {
    pub fn new<'a>(deps: impl IntoIterator<Item = (&'a str, &'a [String])>) -> Self {
        Self {
            order: deps
                .into_iter()
                .map(|(n, needs)| (n.to_owned(), needs.to_vec()))
                .collect(),
            started: BTreeSet::new(),
            done: BTreeSet::new(),
        }
    }

    /// Dependencies not started yet whose needs are all done, in plan order, at most `limit`;
    /// they count as started from now on.
    pub fn take_ready(&mut self, limit: usize) -> Vec<String> {
        let mut out = Vec::new();
        for (name, needs) in &self.order {
            if out.len() >= limit {
                break;
            }
            if !self.started.contains(name) && needs.iter().all(|n| self.done.contains(n)) {
                out.push(name.clone());
            }
        }
        self.started.extend(out.iter().cloned());
        out
    }

    pub fn finish(&mut self, name: &str) {
        self.done.insert(name.to_owned());
    }

    /// Everything was started and finished.
    pub fn complete(&self) -> bool {
        self.done.len() == self.order.len()
    }

    /// The dependencies each one needs, for callers that check what a finished need did.
    pub fn needs(&self) -> HashMap<&str, &[String]> {
        self.order
            .iter()
            .map(|(n, needs)| (n.as_str(), needs.as_slice()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(deps: &[(&str, &[&str])]) -> Schedule {
        let owned: Vec<(String, Vec<String>)> = deps
            .iter()
            .map(|(n, needs)| (n.to_string(), needs.iter().map(|s| s.to_string()).collect()))
            .collect();
        Schedule::new(owned.iter().map(|(n, v)| (n.as_str(), v.as_slice())))
    }

    #[test]
    fn independent_start_together_and_dependants_wait_only_for_their_needs() {
        // postgres → migrate → app; redis → app; cache alone; slow → report
        let mut s = schedule(&[
            ("postgres", &[]),
            ("redis", &[]),
            ("cache", &[]),
            ("slow", &[]),
            ("migrate", &["postgres"]),
            ("app", &["migrate", "redis"]),
            ("report", &["slow"]),
        ]);
        assert_eq!(s.take_ready(10), ["postgres", "redis", "cache", "slow"]);
        assert!(
            s.take_ready(10).is_empty(),
            "nothing new until one finishes"
        );
        s.finish("postgres");
        assert_eq!(s.take_ready(10), ["migrate"], "not waiting for `slow`");
        s.finish("migrate");
        assert!(s.take_ready(10).is_empty(), "app still needs redis");
        s.finish("redis");
        assert_eq!(s.take_ready(10), ["app"]);
        for n in ["cache", "app", "slow"] {
            s.finish(n);
        }
        assert_eq!(s.take_ready(10), ["report"]);
        assert!(!s.complete());
        s.finish("report");
        assert!(s.complete());
    }

    #[test]
    fn limit_bounds_how_many_start_at_once() {
        let mut s = schedule(&[("a", &[]), ("b", &[]), ("c", &[])]);
        assert_eq!(s.take_ready(2), ["a", "b"]);
        assert_eq!(s.take_ready(1), ["c"]);
        assert_eq!(s.needs()["a"].len(), 0);
    }
}
