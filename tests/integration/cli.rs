//! The command line: help that teaches, completions, exit codes.

use crate::support::kubetest;

#[test]
fn every_command_help_has_purpose_and_example() {
    for cmd in ["up", "run", "down", "doctor", "status", "completions"] {
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
