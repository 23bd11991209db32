//! The critical path of a recorded command: the chain of tasks that set its length.
//!
//! Method (the "last arriving predecessor" walk used on execution traces): start from the task
//! that ended last; its predecessor is, among the tasks it could have waited for, the one that
//! finished last no later than it started; repeat until no task qualifies. Shortening a task off
//! this chain does not make the command end earlier; shortening one on it may.
//!
//! Which tasks a task could have waited for comes from the recording itself, not from a list of
//! phase dependencies, so it stays true when the pipeline changes (builds ‖ cluster, or a
//! task graph):
//! - a task of the same phase that ended before it started (a dependency it `needs`, or a
//!   build or scenario whose slot it took under a concurrency limit);
//! - a task of another phase whose whole phase had finished when its own phase started: the
//!   pipeline started that phase only after the other one ended, so it waited for it. Phases
//!   that ran side by side (build ‖ cluster, load ‖ deps) never wait for each other.

use super::model::Timeline;
use std::collections::HashMap;

/// Indices into `t.tasks` of the critical path, in time order (first task first).
pub fn critical_path(t: &Timeline) -> Vec<usize> {
    let phase_span: HashMap<_, _> = t
        .phases
        .iter()
        .map(|p| (p.phase, (p.start_ms, p.end_ms)))
        .collect();
    let could_wait_for = |task: usize, before: usize| {
        let (a, b) = (&t.tasks[task], &t.tasks[before]);
        if b.end_ms > a.start_ms || task == before {
            return false;
        }
        if a.phase == b.phase {
            // A zero-length task cannot be both after and before another one.
            return b.start_ms < a.start_ms || b.end_ms < a.end_ms;
        }
        match (phase_span.get(&a.phase), phase_span.get(&b.phase)) {
            (Some((a_start, _)), Some((_, b_end))) => b_end <= a_start,
            // Without phase events, time order is all there is.
            _ => true,
        }
    };
    // The last to end; among equals, the one that started first (it covers more of the end).
    let Some(mut cur) = (0..t.tasks.len()).max_by(|&x, &y| {
        let (a, b) = (&t.tasks[x], &t.tasks[y]);
        a.end_ms.cmp(&b.end_ms).then(b.start_ms.cmp(&a.start_ms))
    }) else {
        return Vec::new();
    };
    let mut path = vec![cur];
    // Each step moves to a task that ends no later than the current one starts, so the walk
    // ends; the bound guards against zero-length tasks all at one instant.
    for _ in 0..t.tasks.len() {
        let prev = (0..t.tasks.len())
            .filter(|&u| could_wait_for(cur, u) && !path.contains(&u))
            .max_by(|&x, &y| {
                let (a, b) = (&t.tasks[x], &t.tasks[y]);
                a.end_ms
                    .cmp(&b.end_ms)
                    .then(a.elapsed_ms().cmp(&b.elapsed_ms()))
                    .then(y.cmp(&x))
            });
        match prev {
            Some(p) => {
                path.push(p);
                cur = p;
            }
            None => break,
        }
    }
    path.reverse();
    path
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Stamped;

    fn timeline(name: &str) -> Timeline {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/events")
            .join(name);
        let evs: Vec<Stamped> = crate::report::read_recording(&path).unwrap();
        Timeline::from_events(&evs)
    }

    fn names(t: &Timeline, path: &[usize]) -> Vec<String> {
        path.iter()
            .map(|&i| format!("{} {}", t.tasks[i].phase.as_str(), t.tasks[i].name))
            .collect()
    }

    #[test]
    fn up_goes_through_the_cluster_not_the_cached_build() {
        let t = timeline("up-ready.jsonl");
        assert_eq!(
            names(&t, &critical_path(&t)),
            [
                "preflight preflight",
                "cluster kind cluster demo",
                "load localhost/demo-app:dev",
                "deploy manifests",
                "ready demo/app=web",
            ]
        );
    }

    #[test]
    fn a_dependency_chain_is_followed_through_needs() {
        let t = timeline("up-deps.jsonl");
        let path = names(&t, &critical_path(&t));
        assert!(path.contains(&"deps postgres".to_owned()), "{path:?}");
        assert!(path.contains(&"deps migrate".to_owned()), "{path:?}");
        // The cache hit that ended long before the slow build is not on it.
        assert!(
            !path.contains(&"build localhost/migrate:dev".to_owned()),
            "{path:?}"
        );
    }

    #[test]
    fn run_ends_with_the_scenario_that_ended_last() {
        let t = timeline("run-eventually.jsonl");
        assert_eq!(names(&t, &critical_path(&t)), ["scenarios web-works"]);
    }

    #[test]
    fn no_tasks_no_path() {
        assert!(critical_path(&Timeline::from_events(&[])).is_empty());
    }
}
