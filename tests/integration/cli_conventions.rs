//! Issue 17's conventions: config discovery, `validate`, `run --list`, tag exclusion,
//! parse-time value checks, per-command help, colour, quiet, no summary for usage errors.

use crate::support::{kubetest, Run};
use std::path::Path;

/// An environment with two scenarios (one a sentence), a manifest, and a `scenarios/`
/// directory to run commands from.
fn project() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    let w = |p: &str, text: &str| {
        let path = t.path().join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    w(
        "kubetest.yaml",
        "name: conv\ndeploy:\n  manifests: [manifests/]\nscenarios: scenarios/\n",
    );
    w(
        "manifests/app.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata: { name: conv }\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: { name: c, namespace: conv }\n",
    );
    w(
        "scenarios/a.yaml",
        "name: An order is stored, then shipped\ntags: [smoke]\nsteps:\n  - sleep: 1ms\n",
    );
    w(
        "scenarios/b.yaml",
        "name: slow-one\ntags: [slow, smoke]\nsteps:\n  - sleep: 1ms\n",
    );
    t
}

fn run_in(dir: &Path, args: &[&str]) -> Run {
    Run::new(kubetest().current_dir(dir).args(args))
}

fn config_found(r: &Run) -> (String, String) {
    let e = r
        .events
        .iter()
        .find(|e| e["event"] == "config_found")
        .unwrap_or_else(|| panic!("no config_found in {}", r.stdout));
    (
        e["path"].as_str().unwrap().to_owned(),
        e["source"].as_str().unwrap().to_owned(),
    )
}

#[test]
fn the_config_is_found_in_a_parent_directory_and_named() {
    let t = project();
    let r = run_in(
        &t.path().join("scenarios"),
        &["--output", "json", "validate"],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let (path, source) = config_found(&r);
    assert_eq!(source, "search");
    assert_eq!(Path::new(&path), t.path().join("kubetest.yaml"));
    let v = r.events.iter().find(|e| e["event"] == "validated").unwrap();
    assert_eq!(
        (&v["scenarios"], &v["scenario_files"], &v["objects"]),
        (&2.into(), &2.into(), &2.into())
    );
    // Plain output names it too.
    let r = run_in(
        &t.path().join("scenarios"),
        &["--output", "plain", "validate"],
    );
    assert!(
        r.stdout
            .contains("kubetest.yaml (found in this directory or a parent)"),
        "{}",
        r.stdout
    );
}

#[test]
fn kubetest_file_is_used_and_dash_f_wins_over_it() {
    let t = project();
    let elsewhere = tempfile::tempdir().unwrap();
    let cfg = t.path().join("kubetest.yaml");
    let r = Run::new(
        kubetest()
            .current_dir(elsewhere.path())
            .env("KUBETEST_FILE", &cfg)
            .args(["--output", "json", "validate"]),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(config_found(&r).1, "KUBETEST_FILE");
    let r = Run::new(
        kubetest()
            .current_dir(elsewhere.path())
            .env("KUBETEST_FILE", elsewhere.path().join("nope.yaml"))
            .args(["--output", "json", "-f"])
            .arg(&cfg)
            .arg("validate"),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(config_found(&r).1, "--file");
    // KUBETEST_FILE naming a missing file is an error naming it, not a silent search.
    let r = Run::new(
        kubetest()
            .current_dir(t.path())
            .env("KUBETEST_FILE", elsewhere.path().join("nope.yaml"))
            .arg("validate"),
    );
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("nope.yaml"), "{}", r.stderr);
}

#[test]
fn validate_lists_every_error_with_file_line_col_and_touches_nothing() {
    let t = project();
    let w = |p: &str, text: &str| std::fs::write(t.path().join(p), text).unwrap();
    w(
        "scenarios/a.yaml",
        "name: broken\nsteps:\n  - sleep: forever\n",
    );
    w("scenarios/c.yaml", "name: other\nstepz: []\n");
    w(
        "manifests/app.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata: { name: conv }\n---\napiVersion: v1\nmetadata: { name: c }\n",
    );
    w("manifests/bad.yaml", "kind: [unclosed\n");
    let r = run_in(t.path(), &["validate"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    for want in [
        "scenarios/a.yaml:3:",
        "scenarios/c.yaml:2:1:",
        "manifests/app.yaml:5:1: document 2: not a Kubernetes object: no `kind`",
        "manifests/bad.yaml:",
    ] {
        assert!(r.stderr.contains(want), "missing {want}:\n{}", r.stderr);
    }
    assert!(r.stderr.contains("problems found"), "{}", r.stderr);
    assert!(!r.stdout.contains("summary of"), "{}", r.stdout);
    assert!(
        !t.path().join(".kubetest").exists(),
        "validate made .kubetest/"
    );
    // `run` checks the same files first: exit 2, not "no environment is up" (3).
    let r = run_in(t.path(), &["run"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("manifests/app.yaml:5:1"), "{}", r.stderr);
}

#[test]
fn run_list_shows_names_tags_and_files_and_honours_the_filters() {
    let t = project();
    let r = run_in(t.path(), &["run", "--list"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .contains("An order is stored, then shipped  [smoke]"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("scenarios/b.yaml:1"), "{}", r.stdout);
    assert!(r.stdout.ends_with("2 scenarios\n"), "{}", r.stdout);

    let r = run_in(
        t.path(),
        &[
            "run",
            "--list",
            "--output",
            "json",
            "--tag",
            "smoke",
            "--skip-tag",
            "slow",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let list = v["scenarios"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{v}");
    assert_eq!(list[0]["name"], "An order is stored, then shipped");
    assert_eq!(list[0]["tags"], serde_json::json!(["smoke"]));
    let slug = list[0]["namespace_slug"].as_str().unwrap();
    assert!(
        slug.starts_with("an-order-is-stored-then-shipped-"),
        "{slug}"
    );

    // A scenario is named as written, or by its slug.
    let r = run_in(t.path(), &["run", "--list", slug]);
    assert!(r.stdout.contains("An order is stored"), "{}", r.stdout);
    let r = run_in(
        t.path(),
        &["run", "--list", "An order is stored, then shipped"],
    );
    assert!(r.stdout.ends_with("1 scenario\n"), "{}", r.stdout);
}

#[test]
fn bad_values_are_rejected_by_the_parser_before_any_file_is_read() {
    let empty = tempfile::tempdir().unwrap();
    for (args, want) in [
        (&["run", "--shard", "5/4"][..], "--shard"),
        (&["run", "--shard", "0/4"][..], "--shard"),
        (&["run", "--parallel", "0"][..], "--parallel"),
        (
            &["run", "--keep-namespaces=sometimes"][..],
            "--keep-namespaces",
        ),
        (&["--color", "purple", "validate"][..], "--color"),
    ] {
        let r = run_in(empty.path(), args);
        assert_eq!(r.code, 2, "{args:?}");
        assert!(r.stderr.contains(want), "{args:?}: {}", r.stderr);
        assert!(!r.stderr.contains("config file"), "{args:?}: {}", r.stderr);
    }
    let t = project();
    for ok in [
        &["run", "--list", "--keep-namespaces"][..],
        &["run", "--list", "--keep-namespaces=on-failure"][..],
        &["run", "--list", "--shard", "2/2", "--parallel", "3"][..],
    ] {
        let r = run_in(t.path(), ok);
        assert_eq!(r.code, 0, "{ok:?}: {}", r.stderr);
    }
}

#[test]
fn help_shows_only_the_options_a_command_uses() {
    let help = |args: &[&str]| {
        let out = kubetest().args(args).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let completions = help(&["completions", "--help"]);
    for gone in ["--file", "--output", "--engine", "--verbose", "--color"] {
        assert!(!completions.contains(gone), "{gone}:\n{completions}");
    }
    assert!(!help(&["validate", "--help"]).contains("--engine"));
    let up = help(&["up", "--help"]);
    for kept in ["--file", "--output", "--engine", "--color", "--run"] {
        assert!(up.contains(kept), "{kept}:\n{up}");
    }
    let run = help(&["run", "--help"]);
    for kept in ["--list", "--skip-tag", "--keep-namespaces[=<WHEN>]"] {
        assert!(run.contains(kept), "{kept}:\n{run}");
    }
    // Hidden is not refused: `-f` in a shell alias still works with completions.
    let out = kubetest()
        .args(["-f", "x.yaml", "completions", "bash"])
        .output()
        .unwrap();
    assert!(out.status.success());
}

#[test]
fn a_usage_error_prints_the_error_and_no_summary() {
    let t = project();
    let r = run_in(t.path(), &["run", "no-such-scenario"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("no scenario named `no-such-scenario`"),
        "{}",
        r.stderr
    );
    assert!(!r.stdout.contains("summary of"), "{}", r.stdout);
    assert!(!r.stdout.contains("total"), "{}", r.stdout);
}

#[test]
fn color_always_wins_over_no_color_and_never_wins_over_a_terminal() {
    let t = project();
    let r = run_in(
        t.path(),
        &["--color", "always", "--output", "plain", "validate"],
    );
    assert!(r.stdout.contains("\u{1b}["), "{:?}", r.stdout);
    let r = run_in(t.path(), &["--output", "plain", "validate"]);
    assert!(
        !r.stdout.contains("\u{1b}["),
        "NO_COLOR is set: {:?}",
        r.stdout
    );
    let r = run_in(
        t.path(),
        &["--color", "never", "--output", "plain", "validate"],
    );
    assert!(!r.stdout.contains("\u{1b}["), "{:?}", r.stdout);
}

#[test]
fn quiet_validate_prints_nothing_when_all_is_valid() {
    let t = project();
    let r = run_in(t.path(), &["-q", "--output", "plain", "validate"]);
    assert_eq!(r.code, 0);
    assert!(!r.stdout.contains("config:"), "{}", r.stdout);
    assert!(!r.stdout.contains("valid:"), "{}", r.stdout);
}

#[test]
fn quiet_doctor_prints_only_warnings_and_failures() {
    let empty = tempfile::tempdir().unwrap();
    let r = run_in(empty.path(), &["doctor", "-q", "--timeout", "5s"]);
    assert!(r.code == 0 || r.code == 3, "{}", r.stderr);
    let total = r
        .stdout
        .lines()
        .last()
        .unwrap_or_else(|| panic!("no totals line: {}", r.stdout));
    assert!(total.contains(" checks: "), "{}", r.stdout);
    assert!(
        !r.stdout.lines().any(|l| l.starts_with("pass")),
        "{}",
        r.stdout
    );
    let full = run_in(empty.path(), &["doctor", "--timeout", "5s"]);
    let passes = full
        .stdout
        .lines()
        .filter(|l| l.starts_with("pass"))
        .count();
    assert!(passes > 0, "{}", full.stdout);
}

/// The README's quick start: the example validates, needs no host tool but kubetest and the
/// engine (no `run:` steps: nothing like `nc` on the host) and publishes no fixed host port.
#[test]
fn the_quickstart_needs_no_host_tools_and_no_fixed_ports() {
    let root = crate::support::root();
    let ex = root.join("examples/quickstart");
    let r = run_in(&ex.join("scenarios"), &["--output", "json", "validate"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(config_found(&r).1, "search");
    let yaml = |p: &Path| -> serde_yaml::Value {
        serde_yaml::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    };
    for f in std::fs::read_dir(ex.join("scenarios")).unwrap() {
        let s = yaml(&f.unwrap().path());
        for step in s["steps"].as_sequence().unwrap() {
            assert!(step.get("run").is_none(), "a host command: {step:?}");
        }
    }
    let cfg = yaml(&ex.join("kubetest.yaml"));
    for (name, dep) in cfg["dependencies"].as_mapping().unwrap() {
        for p in dep["ports"].as_sequence().into_iter().flatten() {
            let p = p.as_str().unwrap();
            assert!(
                !p.contains(':') || p.starts_with("0:"),
                "{name:?}: fixed host port {p}"
            );
        }
    }
    let kind = std::fs::read_to_string(ex.join("kind-config.yaml")).unwrap();
    assert!(!kind.contains("hostPort"), "{kind}");
}
