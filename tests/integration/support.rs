//! Shared helpers of the integration tests.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The crate root (tests run with it as the working directory).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The kubetest binary built for these tests.
pub fn kubetest() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kubetest"));
    c.env_remove("KUBETEST_OUTPUT")
        .env_remove("CI")
        .env("NO_COLOR", "1");
    c
}

/// Compare `actual` with the file at `path`; with `KUBETEST_BLESS=1` write it instead.
pub fn assert_golden(path: &Path, actual: &str) {
    if std::env::var_os("KUBETEST_BLESS").is_some() {
        std::fs::write(path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!(
            "missing golden file {} ({e}); run with KUBETEST_BLESS=1",
            path.display()
        )
    });
    assert_eq!(actual, expected, "output differs from {}", path.display());
}
