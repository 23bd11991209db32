//! What kubetest keeps private, through the binary: `.kubetest/` and its files are the owner's
//! alone, secret-looking env values never reach output or bundles, and a captured value
//! reaches a `shell: true` command as data, never as shell code.

use crate::support::{kubetest, Run};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// An environment brought `up` (no cluster, no engine) with one scenario file.
fn environment(scenario: &str) -> tempfile::TempDir {
    crate::scenarios::environment(&[("s.yaml", scenario)])
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn state_and_bundles_are_private_and_secrets_are_masked_everywhere() {
    let tmp = environment(
        "name: leaky\nsteps:\n  - run:\n      command: [sh, -c, 'echo \"connecting with $DB_PASSWORD to postgres://app:$DB_PASSWORD@db\"; exit 3']\n      env: { DB_PASSWORD: hunter22-pw }\n",
    );
    let dir = tmp.path();
    let junit = dir.join("junit.xml");
    let r = Run::new(
        kubetest()
            .current_dir(dir)
            .args(["run", "--output", "json", "--junit"])
            .arg(&junit),
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    let everything = format!(
        "{}{}{}",
        r.stdout,
        r.stderr,
        std::fs::read_to_string(&junit).unwrap()
    );
    assert!(
        everything.contains("connecting with ****** to postgres://app:******@db"),
        "{everything}"
    );

    let state_dir = dir.join(".kubetest");
    assert_eq!(mode(&state_dir), 0o700);
    assert_eq!(mode(&state_dir.join("state.json")), 0o600);
    assert_eq!(mode(&state_dir.join("lock")), 0o600);
    let bundle_files = files(&state_dir.join("artifacts"));
    assert!(!bundle_files.is_empty());
    for f in &bundle_files {
        assert_eq!(mode(f), 0o600, "{}", f.display());
        assert_eq!(mode(f.parent().unwrap()), 0o700, "{}", f.display());
        let text = std::fs::read_to_string(f).unwrap();
        assert!(!text.contains("hunter22-pw"), "{}:\n{text}", f.display());
    }
    assert!(
        !everything.contains("hunter22-pw"),
        "the password leaked:\n{everything}"
    );
}

#[test]
fn a_captured_value_reaches_a_shell_command_as_data() {
    // The value comes from a command's JSON output, as it would from an HTTP response.
    let hostile = r#"x $(touch pwned1) `touch pwned2`; touch pwned3 ' " \"#;
    let json = serde_json::json!({ "v": hostile }).to_string();
    let tmp = environment(&format!(
        "name: hostile\nsteps:\n  - run: {{ command: [printf, '%s', {json:?}] }}\n    capture: {{ v: .json.v }}\n  - run: {{ shell: true, command: ['printf \"%s\\n\" {{{{ v }}}} > plain.txt; printf \"%s\\n\" \"{{{{ v }}}}\" > double.txt; printf \"%s\\n\" ''{{{{ v }}}}'' > single.txt'] }}\n"
    ));
    let dir = tmp.path();
    let r = Run::new(
        kubetest()
            .current_dir(dir)
            .args(["run", "--output", "json"]),
    );
    // Run from the environment's directory: the shell writes there.
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    for f in ["pwned1", "pwned2", "pwned3"] {
        assert!(!dir.join(f).exists(), "{f}: the value ran as shell code");
    }
    for f in ["plain.txt", "double.txt", "single.txt"] {
        let got = std::fs::read_to_string(dir.join(f)).unwrap();
        assert_eq!(got.trim_end(), hostile, "{f}");
    }
}
