//! The command line: help that teaches, completions, exit codes.

use crate::support::kubetest;

#[test]
fn every_command_help_has_purpose_and_example() {
    for cmd in [
        "up",
        "run",
        "down",
        "gc",
        "doctor",
        "status",
        "logs",
        "validate",
        "completions",
    ] {
        let out = kubetest().args([cmd, "--help"]).output().unwrap();
        assert!(out.status.success(), "{cmd}");
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(
            help.contains("Example:"),
            "{cmd} --help has an example:\n{help}"
        );
        assert!(
            help.lines().next().is_some_and(|l| l.len() > 20),
            "{cmd} --help starts with its purpose"
        );
    }
    let top = kubetest().arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&top.stdout);
    assert!(
        help.contains("Exit codes: 0 ok, 1 scenarios failed, 2 invalid config"),
        "{help}"
    );
}

#[test]
fn completions_for_each_shell() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = kubetest().args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("kubetest"),
            "{shell}"
        );
    }
}

#[test]
fn usage_errors_exit_2() {
    let out = kubetest().args(["up", "--no-such-flag"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = kubetest()
        .args(["--output", "xml", "status"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn doctor_explain_json_and_stdin() {
    let out = kubetest()
        .args(["doctor", "--json", "--explain"])
        .arg("ERROR: failed to create cluster: node(s) already exist for a cluster with the name \"kt\"")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["category"], "kind-node-exists");
    assert_eq!(
        v["matched"],
        "node(s) already exist for a cluster with the name \"kt\""
    );
    assert!(
        v["fix"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "kind delete cluster --name kt"),
        "{v}"
    );
    assert!(v["cause"].as_str().is_some_and(|c| !c.is_empty()));

    use std::io::Write;
    let mut child = kubetest()
        .args(["doctor", "--explain", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"Error: crun: setrlimit `RLIMIT_NOFILE`: Operation not permitted: OCI permission denied\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("category: rlimit-denied\n"), "{text}");
    assert!(text.contains("try: "), "{text}");

    let out = kubetest()
        .args(["doctor", "--explain", "all is well"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("category: unknown\n"));
}

/// `--cluster NAME` (or `KUBETEST_CLUSTER`) naming no `clusters:` entry is a usage error that
/// lists the names; `validate` checks every target; `down` takes the name as `--target`.
#[test]
fn an_unknown_cluster_target_is_a_usage_error_listing_the_names() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("kubetest.yaml"),
        "name: targets\ncluster: { provider: none }\nclusters:\n  ci: { provider: none }\n  nightly: { provider: none }\n",
    )
    .unwrap();
    let run = |args: &[&str], env: Option<&str>| {
        let mut c = kubetest();
        c.current_dir(tmp.path()).env_remove("KUBETEST_CLUSTER");
        if let Some(v) = env {
            c.env("KUBETEST_CLUSTER", v);
        }
        let out = c.args(args).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    for (args, env) in [
        (&["status", "--cluster", "prod"][..], None),
        (&["status"][..], Some("prod")),
        (&["down", "--target", "prod"][..], None),
        (&["run", "--cluster", "prod"][..], None),
    ] {
        let (code, err) = run(args, env);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(
            err.contains("--cluster prod: no such cluster target")
                && err.contains("`ci`, `nightly`"),
            "{args:?}: {err}"
        );
    }
    // A known target is taken (status of an environment never brought up: exit 0).
    let (code, err) = run(&["status", "--cluster", "ci"], None);
    assert_eq!(code, Some(0), "{err}");

    std::fs::write(
        tmp.path().join("kubetest.yaml"),
        "name: targets\nclusters:\n  ci:\n    provider: none\n    context: x\n",
    )
    .unwrap();
    let (code, err) = run(&["validate"], None);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("kubetest.yaml:5:14") && err.contains("clusters.ci.context"),
        "{err}"
    );
}
