//! The command line: help that teaches, completions, exit codes.

use crate::support::kubetest;

#[test]
fn every_command_help_has_purpose_and_example() {
    for cmd in [
        "up",
        "run",
        "down",
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
