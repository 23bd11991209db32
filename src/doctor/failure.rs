//! Explains a failed `up`/`run`/`down`: kubetest's own typed errors by their type, others by text.
//!
//! Where kubetest made the error itself, its type says more than its wording (which may
//! change): [`classify_typed`] looks for known error types anywhere in the chain and
//! builds the verdict from the rule table's entry for that cause. Anything else goes
//! through the same text classifier as `doctor --explain` ([`classify`]).

use super::classify::{classify, from_rule, Classification};
use crate::engine::discover::{ExplicitUnanswered, NoEngine};
use crate::engine::EngineBusy;

/// The verdict shown under an infrastructure failure.
pub fn explain_failure(e: &anyhow::Error) -> Classification {
    classify_typed(e).unwrap_or_else(|| classify(&format!("{e:#}")))
}

/// kubetest's own error types: `Some` when a cause in `e`'s chain is one of them — a busy
/// engine, a named endpoint that does not answer, or no engine found by the search.
pub fn classify_typed(e: &anyhow::Error) -> Option<Classification> {
    e.chain().find_map(|cause| {
        if let Some(b) = cause.downcast_ref::<EngineBusy>() {
            return from_rule("kubetest-engine-busy", &[("call", b.call.as_str())]);
        }
        if let Some(x) = cause.downcast_ref::<ExplicitUnanswered>() {
            return no_engine_reasons(&[(x.endpoint.clone(), x.why.clone())]);
        }
        cause
            .downcast_ref::<NoEngine>()
            .and_then(|n| no_engine_reasons(&n.attempts))
    })
}

/// Why no endpoint answered, strongest reason first: a socket this user may not open, then
/// a socket nobody listens on, then only missing sockets. Attempts that timed out or sent no
/// answer leave the cause to the live check (`None`: the text classifier decides).
fn no_engine_reasons(
    attempts: &[(crate::engine::discover::Endpoint, String)],
) -> Option<Classification> {
    // (rule id in rules.yaml, the start of the reason discover.rs gives for that errno)
    const BY_STRENGTH: &[(&str, &str)] = &[
        ("kubetest-endpoint-permission", "permission denied"),
        ("kubetest-endpoint-refused", "connection refused"),
        ("kubetest-endpoint-missing", "no such socket file"),
    ];
    let unix_path = |url: &str| url.strip_prefix("unix://").unwrap_or(url).to_string();
    if attempts.is_empty() {
        return None;
    }
    for (rule, reason) in BY_STRENGTH {
        let found = attempts.iter().find(|(_, why)| why.starts_with(reason));
        let Some((endpoint, _)) = found else { continue };
        let all_missing = attempts.iter().all(|(_, why)| why.starts_with(reason));
        if *rule == "kubetest-endpoint-missing" && !all_missing {
            return None;
        }
        let socket = unix_path(&endpoint.url);
        return from_rule(rule, &[("socket", socket.as_str())]);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::EngineChoice;
    use crate::doctor::classify::Category;
    use crate::engine::discover::Endpoint;

    fn no_engine_error(reasons: &[(&str, &str)]) -> anyhow::Error {
        let attempts = reasons
            .iter()
            .map(|(url, why)| {
                (
                    Endpoint {
                        url: (*url).to_string(),
                        source: "test".to_string(),
                    },
                    (*why).to_string(),
                )
            })
            .collect();
        anyhow::Error::new(NoEngine {
            choice: EngineChoice::Auto,
            attempts,
        })
        .context("cannot build the images")
    }

    #[test]
    fn typed_no_engine_prefers_permission_then_refused_then_missing() {
        let e = no_engine_error(&[
            ("unix:///a.sock", "no such socket file"),
            ("unix:///b.sock", "connection refused (the socket file exists but no engine is listening)"),
            ("unix:///c.sock", "permission denied (add your user to the engine's group, or use the rootless socket)"),
        ]);
        let c = explain_failure(&e);
        assert_eq!(c.category, Category::SocketPermission);
        assert!(c.cause.contains("/c.sock"), "{}", c.cause);

        let e = no_engine_error(&[
            ("unix:///a.sock", "no such socket file"),
            (
                "unix:///b.sock",
                "connection refused (the socket file exists but no engine is listening)",
            ),
        ]);
        let c = explain_failure(&e);
        assert_eq!(c.category, Category::DaemonNotRunning);
        assert!(c.cause.contains("/b.sock"), "{}", c.cause);
        assert_eq!(c.decided_by, Some("engine-endpoints"));

        let e = no_engine_error(&[("unix:///a.sock", "no such socket file")]);
        assert_eq!(explain_failure(&e).category, Category::SocketMissing);
    }

    #[test]
    fn typed_engine_busy_and_explicit_endpoint() {
        let ep = Endpoint {
            url: "unix:///run/podman/podman.sock".into(),
            source: "CONTAINER_HOST".into(),
        };
        let busy = anyhow::Error::new(EngineBusy {
            endpoint: ep.clone(),
            call: "GET /info".into(),
            waited: std::time::Duration::from_secs(300),
            limit: std::time::Duration::from_secs(300),
            last_error: None,
        })
        .context("preflight");
        let c = explain_failure(&busy);
        assert_eq!(c.category, Category::EngineBusy);
        assert!(c.cause.contains("GET /info"), "{}", c.cause);
        assert!(!c
            .fix
            .iter()
            .any(|f| f.contains("machine start") && !f.contains("stop")));

        let dead = anyhow::Error::new(ExplicitUnanswered {
            endpoint: ep,
            why: "connection refused (the socket file exists but no engine is listening)".into(),
        });
        assert_eq!(explain_failure(&dead).category, Category::DaemonNotRunning);
    }

    #[test]
    fn typed_no_engine_leaves_timeouts_to_the_text() {
        // A socket that accepted but did not answer: neither missing nor refused. The type
        // does not decide it; the text classifier gets the whole chain.
        let e = no_engine_error(&[
            ("unix:///a.sock", "no such socket file"),
            (
                "unix:///b.sock",
                "connected, but no answer to GET /_ping within 5s",
            ),
        ]);
        assert!(classify_typed(&e).is_none());
    }

    #[test]
    fn untyped_errors_go_through_the_text_classifier() {
        let e = anyhow::anyhow!(
            "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"
        )
        .context("kind create cluster failed");
        assert!(classify_typed(&e).is_none());
        // The docker CLI's wording leaves socket-missing / daemon-not-running open.
        assert_eq!(explain_failure(&e).category, Category::EngineUnreachable);
    }
}
