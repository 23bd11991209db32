//! engine-endpoints: every socket/variable kubetest would try, which answer, and as what.

use super::context::{choice_allows, chosen, explicit, Context, Probed};
use super::result::{CheckResult, Findings};
use crate::config::EngineChoice;
use crate::doctor::rules::CHECK_ENGINE_ENDPOINTS;
use crate::engine::EndpointError;
use std::net::IpAddr;

pub async fn check(ctx: &Context) -> CheckResult {
    let probed = ctx.endpoints().await;
    let localhost = tokio::net::lookup_host("localhost:0")
        .await
        .map(|addrs| addrs.map(|a| a.ip()).collect::<Vec<_>>())
        .map_err(|e| e.to_string());
    judge(probed, ctx.choice(), &localhost, cfg!(target_os = "linux"))
}

/// Judge the probed endpoints (in candidate order) and how `localhost` resolves, the way
/// `up` chooses: a named endpoint alone, else the first that answers (or is busy).
pub fn judge(
    probed: &[Probed],
    choice: EngineChoice,
    localhost: &Result<Vec<IpAddr>, String>,
    linux: bool,
) -> CheckResult {
    let mut f = Findings::new(CHECK_ENGINE_ENDPOINTS);
    for p in probed {
        let said = match &p.answer {
            Ok(e) if choice_allows(choice, e.kind) => e.describe(),
            Ok(e) => format!(
                "{} — not used: the config asks for `engine: {}`",
                e.describe(),
                choice_name(choice)
            ),
            Err(EndpointError::Busy(b)) => format!(
                "busy: answers GET /_ping, but {} got no answer in {} s",
                b.call,
                b.waited.as_secs()
            ),
            Err(why) => why.to_string(),
        };
        f.see(format!("{} {}: {said}", p.endpoint.source, p.endpoint.url));
    }
    match localhost {
        Ok(ips) => f.see(format!(
            "localhost resolves to {}",
            ips.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
        )),
        Err(e) => f.warn(
            format!("`localhost` does not resolve ({e}); clients cannot reach ports forwarded from a podman machine"),
            ["grep -n localhost /etc/hosts", "podman system connection list"],
        ),
    }
    let named = explicit(probed, choice);
    let used = chosen(probed, choice);
    // Named endpoints kubetest will not use (a second variable) still deserve a word.
    for p in probed {
        let var = p.endpoint.source.as_str();
        if !matches!(var, "CONTAINER_HOST" | "DOCKER_HOST") || named == Some(p) {
            continue;
        }
        if let Err(why) = &p.answer {
            f.warn(
                format!("{var}={} does not answer: {why}", p.endpoint.url),
                [
                    format!("unset {var}    # or start the engine it points at"),
                    "kubetest doctor".to_owned(),
                ],
            );
        }
    }
    let answering = probed.iter().filter(|p| p.answer.is_ok()).count();
    match used {
        Some(p) => match &p.answer {
            Ok(e) if choice_allows(choice, e.kind) => f.finish(format!(
                "using {} at {} ({}); {answering} of {} endpoints answer",
                e.describe(),
                p.endpoint.url,
                p.endpoint.source,
                probed.len()
            )),
            Err(EndpointError::Busy(b)) => {
                f.fail(
                    format!(
                        "the engine at {} ({}) is busy, not stopped: it answers GET /_ping, but {} got no answer in {} s",
                        p.endpoint.url,
                        p.endpoint.source,
                        b.call,
                        b.waited.as_secs()
                    ),
                    [
                        "# let its current work finish, then: kubetest doctor".to_owned(),
                        "# or wait longer: kubetest doctor --timeout 5m; `engine: {kind: …, timeout: 10m}` for up/down".to_owned(),
                        if linux {
                            "sudo systemctl restart docker    # or podman.socket; only if it stays this slow".to_owned()
                        } else {
                            "podman machine stop && podman machine start    # only if it stays this slow".to_owned()
                        },
                    ],
                );
                f.finish("")
            }
            other => {
                let why = match other {
                    Ok(e) => format!(
                        "it answers as {}, but the config asks for `engine: {}`",
                        e.kind.as_str(),
                        choice_name(choice)
                    ),
                    Err(w) => format!("it does not answer: {w}"),
                };
                f.fail(
                    format!(
                        "{} names {} and {why}; kubetest uses only the endpoint you name and tries no other",
                        p.endpoint.source, p.endpoint.url
                    ),
                    [
                        format!(
                            "# start the engine at {}, point {} at one that runs, or remove it",
                            p.endpoint.url, p.endpoint.source
                        ),
                        "kubetest doctor".to_owned(),
                    ],
                );
                f.finish("")
            }
        },
        None => {
            let denied = probed.iter().any(
                |p| matches!(&p.answer, Err(w) if w.to_string().starts_with("permission denied")),
            );
            let mut fix: Vec<String> = Vec::new();
            if denied {
                fix.push("sudo usermod -aG docker $USER && newgrp docker".into());
            }
            if linux {
                fix.extend([
                    "systemctl --user enable --now podman.socket     # rootless Podman".into(),
                    "sudo systemctl enable --now podman.socket       # rootful Podman".into(),
                    "sudo systemctl start docker                     # Docker".into(),
                ]);
            } else {
                fix.extend(["podman machine start".into(), "podman machine list".into()]);
            }
            let what = match choice {
                EngineChoice::Auto => "no container engine answered".to_owned(),
                c => format!(
                    "no {} engine answered (`engine: {}`)",
                    choice_name(c),
                    choice_name(c)
                ),
            };
            let what = if denied {
                format!("{what}; a socket exists but permission to it is denied")
            } else {
                what
            };
            f.fail(what, fix);
            f.finish("")
        }
    }
}

fn choice_name(c: EngineChoice) -> &'static str {
    match c {
        EngineChoice::Auto => "auto",
        EngineChoice::Docker => "docker",
        EngineChoice::Podman => "podman",
    }
}

#[cfg(test)]
mod tests {
    use super::super::context::EngineFacts;
    use super::super::result::Status;
    use super::*;
    use crate::engine::{Endpoint, EngineKind};

    fn probed(url: &str, source: &str, answer: Result<EngineFacts, &str>) -> Probed {
        Probed {
            endpoint: Endpoint {
                url: url.into(),
                source: source.into(),
            },
            answer: answer.map_err(|w| EndpointError::NotAnswering(w.to_owned())),
        }
    }

    fn facts(kind: EngineKind, version: &str) -> EngineFacts {
        EngineFacts {
            kind,
            version: version.into(),
            api_version: "1.41".into(),
            os: "linux".into(),
            arch: "amd64".into(),
            rootless: false,
        }
    }

    fn local() -> Result<Vec<IpAddr>, String> {
        Ok(vec!["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()])
    }

    #[test]
    fn both_engines_answer() {
        let p = [
            probed(
                "unix:///run/podman/podman.sock",
                "CONTAINER_HOST",
                Ok(facts(EngineKind::Podman, "4.3.1")),
            ),
            probed(
                "unix:///run/dockerd-test.sock",
                "DOCKER_HOST",
                Ok(facts(EngineKind::Docker, "20.10.24+dfsg1")),
            ),
            probed(
                "unix:///var/run/docker.sock",
                "docker socket",
                Err("no such socket file"),
            ),
        ];
        let r = judge(&p, EngineChoice::Auto, &local(), true);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(
            r.summary,
            "using podman 4.3.1 (API 1.41, linux/amd64, rootful) at unix:///run/podman/podman.sock (CONTAINER_HOST); 2 of 3 endpoints answer"
        );
        assert_eq!(r.evidence[1], "DOCKER_HOST unix:///run/dockerd-test.sock: docker 20.10.24+dfsg1 (API 1.41, linux/amd64, rootful)");
        assert_eq!(r.evidence[3], "localhost resolves to 127.0.0.1, ::1");
        // `engine: docker` skips the Podman answer.
        let r = judge(&p, EngineChoice::Docker, &local(), true);
        assert!(
            r.summary.starts_with("using docker 20.10.24+dfsg1"),
            "{}",
            r.summary
        );
        assert!(r.evidence[0].ends_with("not used: the config asks for `engine: docker`"));
    }

    #[test]
    fn a_dead_named_endpoint_fails_a_second_one_warns() {
        // Explicit means explicit: `up` would not fall through to the rootful socket.
        let p = [
            probed(
                "tcp://127.0.0.1:2375",
                "DOCKER_HOST",
                Err("connection refused (the socket file exists but no engine is listening)"),
            ),
            probed(
                "unix:///run/podman/podman.sock",
                "rootful podman socket",
                Ok(facts(EngineKind::Podman, "4.3.1")),
            ),
        ];
        let r = judge(&p, EngineChoice::Auto, &local(), true);
        assert_eq!(r.status, Status::Fail);
        assert!(
            r.summary.starts_with(
                "DOCKER_HOST names tcp://127.0.0.1:2375 and it does not answer: connection refused"
            ),
            "{}",
            r.summary
        );
        assert!(r.summary.contains("tries no other"), "{}", r.summary);
        // CONTAINER_HOST is the one used; a dead DOCKER_HOST beside it is a warning.
        let p = [
            probed(
                "unix:///run/podman/podman.sock",
                "CONTAINER_HOST",
                Ok(facts(EngineKind::Podman, "4.3.1")),
            ),
            probed(
                "tcp://127.0.0.1:2375",
                "DOCKER_HOST",
                Err("connection refused (the socket file exists but no engine is listening)"),
            ),
        ];
        let r = judge(&p, EngineChoice::Auto, &local(), true);
        assert_eq!(r.status, Status::Warn);
        assert!(
            r.summary
                .starts_with("DOCKER_HOST=tcp://127.0.0.1:2375 does not answer"),
            "{}",
            r.summary
        );
        assert!(r.fix[0].starts_with("unset DOCKER_HOST"));
    }

    #[test]
    fn a_busy_engine_is_busy_not_stopped() {
        let ep = Endpoint {
            url: "unix:///run/podman/podman.sock".into(),
            source: "rootful podman socket".into(),
        };
        let busy = EndpointError::Busy(crate::engine::EngineBusy {
            endpoint: ep.clone(),
            call: "GET /info".into(),
            waited: std::time::Duration::from_secs(15),
            limit: std::time::Duration::from_secs(15),
            last_error: None,
        });
        let p = [
            Probed {
                endpoint: ep,
                answer: Err(busy),
            },
            probed(
                "unix:///var/run/docker.sock",
                "docker socket",
                Ok(facts(EngineKind::Docker, "20.10.24")),
            ),
        ];
        let r = judge(&p, EngineChoice::Auto, &local(), true);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert!(
            r.summary.contains("is busy, not stopped")
                && r.summary.contains("GET /info got no answer in 15 s"),
            "{}",
            r.summary
        );
        assert!(
            r.evidence[0].contains("busy: answers GET /_ping"),
            "{:?}",
            r.evidence
        );
        assert!(
            !r.fix.iter().any(|f| f.contains("enable --now")),
            "{:?}",
            r.fix
        );
    }

    #[test]
    fn nothing_answering_fails() {
        let p = [probed("unix:///var/run/docker.sock", "docker socket", Err("permission denied (add your user to the engine's group, or use the rootless socket)"))];
        let r = judge(&p, EngineChoice::Auto, &Err("no such host".into()), false);
        assert_eq!(r.status, Status::Fail);
        assert!(
            r.summary
                .starts_with("no container engine answered; a socket exists but permission"),
            "{}",
            r.summary
        );
        assert!(
            r.summary.contains("`localhost` does not resolve"),
            "{}",
            r.summary
        );
        assert!(r.fix.iter().any(|f| f.contains("usermod -aG docker")));
        assert!(r.fix.contains(&"podman machine start".to_owned()));
    }
}
