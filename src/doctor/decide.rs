//! Settles a family verdict with the live result of the check that tells its members apart.
//!
//! `doctor --explain TEXT --live` runs the check a verdict names. For a family verdict
//! (`engine-unreachable`: the text cannot say whether the socket is missing, refused, denied
//! or the engine too slow) the `engine-endpoints` check's line for the socket the text names
//! says which it is on this machine now. Only a line for that very socket decides, and only
//! for a category the verdict left open; otherwise the family stands.

use super::checks::CheckResult;
use super::classify::{Category, Classification};
use super::rules::CHECK_ENGINE_ENDPOINTS;

/// The start of each unanswered endpoint's reason in the engine-endpoints check (the
/// wording of `src/engine/discover.rs`, as `doctor::failure` also reads it), and the member
/// category it means.
const REASONS: &[(&str, Category)] = &[
    ("no such socket file", Category::SocketMissing),
    ("connection refused", Category::DaemonNotRunning),
    ("permission denied", Category::SocketPermission),
    ("busy: answers GET /_ping", Category::EngineBusy),
];

/// The unix socket paths a text names (`unix:///x.sock`, `dial unix /x.sock`, a bare
/// `/…/docker.sock`), without trailing punctuation.
fn socket_paths(text: &str) -> Vec<String> {
    text.split(|c: char| c.is_whitespace() || c == '"' || c == '\'')
        .filter_map(|word| {
            let word = word.strip_prefix("unix://").unwrap_or(word);
            let word = word.trim_end_matches(['.', ',', ':', ';', '?', ')']);
            (word.starts_with('/') && word.ends_with(".sock")).then(|| word.to_string())
        })
        .collect()
}

/// `c` settled by `live`, or `c` unchanged when the live result does not decide it.
pub fn settle(mut c: Classification, live: &CheckResult, text: &str) -> Classification {
    if !c.category.is_family() || live.id != CHECK_ENGINE_ENDPOINTS {
        return c;
    }
    let sockets = socket_paths(text);
    let decided = live.evidence.iter().find_map(|line| {
        // Evidence lines read `<source> unix://<path>: <what it said>`.
        let (head, said) = line.split_once(": ")?;
        let probed = head.rsplit(' ').next()?.strip_prefix("unix://")?;
        if !sockets.iter().any(|s| s == probed) {
            return None;
        }
        REASONS
            .iter()
            .find(|(start, _)| said.starts_with(start))
            .map(|(_, category)| (*category, line.clone()))
    });
    if let Some((category, line)) = decided {
        if c.candidates.contains(&category) {
            c.cause = format!(
                "{} On this machine the `{CHECK_ENGINE_ENDPOINTS}` check decides it: {line}",
                c.cause
            );
            c.category = category;
            c.decided_live = Some(line);
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::checks::Status;
    use crate::doctor::classify::classify;

    fn endpoints(evidence: &[&str]) -> CheckResult {
        CheckResult {
            id: CHECK_ENGINE_ENDPOINTS,
            status: Status::Fail,
            summary: "no engine answers".to_string(),
            evidence: evidence.iter().map(|s| s.to_string()).collect(),
            fix: Vec::new(),
            elapsed_ms: 1,
        }
    }

    const CLI: &str =
        "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?";

    #[test]
    fn paths_are_found_in_their_usual_shapes() {
        assert_eq!(socket_paths(CLI), ["/var/run/docker.sock"]);
        assert_eq!(
            socket_paths("dial unix /run/user/1000/podman/podman.sock: connect: refused"),
            ["/run/user/1000/podman/podman.sock"]
        );
    }

    #[test]
    fn the_line_for_the_named_socket_decides() {
        let missing =
            endpoints(&["docker socket unix:///var/run/docker.sock: no such socket file"]);
        let c = settle(classify(CLI), &missing, CLI);
        assert_eq!(c.category, Category::SocketMissing);
        assert!(c
            .decided_live
            .as_deref()
            .unwrap()
            .contains("no such socket file"));
        assert!(c.cause.contains("decides it"), "{}", c.cause);

        let refused = endpoints(&[
            "docker socket unix:///var/run/docker.sock: connection refused (the socket file exists but no engine is listening)",
        ]);
        assert_eq!(
            settle(classify(CLI), &refused, CLI).category,
            Category::DaemonNotRunning
        );
    }

    #[test]
    fn other_sockets_answers_and_closed_candidates_do_not_decide() {
        // A line for another socket says nothing about the one in the text.
        let other = endpoints(&["DOCKER_HOST unix:///tmp/x.sock: no such socket file"]);
        assert_eq!(
            settle(classify(CLI), &other, CLI).category,
            Category::EngineUnreachable
        );
        // It answers now: the failure was elsewhere or passed; the family stands.
        let answers = endpoints(&[
            "docker socket unix:///var/run/docker.sock: docker 20.10.24 (API 1.41, linux/amd64, rootful)",
        ]);
        let c = settle(classify(CLI), &answers, CLI);
        assert_eq!(c.category, Category::EngineUnreachable);
        assert!(c.decided_live.is_none());
        // The docker CLI's sentence leaves only missing/refused open: a denied socket does
        // not turn it into socket-permission (the CLI says "permission denied" itself).
        let denied = endpoints(&["docker socket unix:///var/run/docker.sock: permission denied (add your user to the engine's group, or use the rootless socket)"]);
        assert_eq!(
            settle(classify(CLI), &denied, CLI).category,
            Category::EngineUnreachable
        );
    }

    #[test]
    fn confident_verdicts_are_left_alone() {
        let text = "dial unix /var/run/docker.sock: connect: no such file or directory";
        let refused =
            endpoints(&["docker socket unix:///var/run/docker.sock: connection refused (x)"]);
        assert_eq!(
            settle(classify(text), &refused, text).category,
            Category::SocketMissing
        );
    }
}
