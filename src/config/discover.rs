//! Which `kubetest.yaml` a command uses: `-f`, else `KUBETEST_FILE`, else the first one found
//! walking up from the current directory (as cargo finds `Cargo.toml`).

use std::path::{Path, PathBuf};

/// The file name looked for in the current directory and its parents.
pub const FILE_NAME: &str = "kubetest.yaml";

/// The environment variable naming the config file when `-f` is not given.
pub const ENV_VAR: &str = "KUBETEST_FILE";

/// Where the config path came from (shown by the reporters and in `config_found`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    /// `-f/--file`.
    Flag,
    /// The `KUBETEST_FILE` environment variable.
    Env,
    /// Found in the current directory or one of its parents.
    Search,
    /// Nothing found: the default name in the current directory (loading it says "not found").
    Default,
}

impl ConfigSource {
    pub fn as_str(self) -> &'static str {
        match self {
            ConfigSource::Flag => "--file",
            ConfigSource::Env => "KUBETEST_FILE",
            ConfigSource::Search => "search",
            ConfigSource::Default => "default",
        }
    }
}

/// The config file to use. `flag` is `-f`, `env` the value of `KUBETEST_FILE` (empty counts
/// as unset), `cwd` where the search starts. Pure apart from the `is_file` checks.
pub fn discover(flag: Option<&Path>, env: Option<&str>, cwd: &Path) -> (PathBuf, ConfigSource) {
    if let Some(f) = flag {
        return (f.to_path_buf(), ConfigSource::Flag);
    }
    if let Some(e) = env.filter(|e| !e.is_empty()) {
        return (PathBuf::from(e), ConfigSource::Env);
    }
    for dir in cwd.ancestors() {
        let candidate = dir.join(FILE_NAME);
        if candidate.is_file() {
            // Shown as typed when it is the current directory's, like `-f kubetest.yaml`.
            let shown = if dir == cwd {
                PathBuf::from(FILE_NAME)
            } else {
                candidate
            };
            return (shown, ConfigSource::Search);
        }
    }
    (PathBuf::from(FILE_NAME), ConfigSource::Default)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("proj/scenarios/deep")).unwrap();
        std::fs::write(t.path().join("proj/kubetest.yaml"), "name: p\n").unwrap();
        t
    }

    #[test]
    fn walks_up_to_the_first_kubetest_yaml() {
        let t = tree();
        let (p, s) = discover(None, None, &t.path().join("proj/scenarios/deep"));
        assert_eq!(p, t.path().join("proj/kubetest.yaml"));
        assert_eq!(s, ConfigSource::Search);
    }

    #[test]
    fn the_current_directory_is_shown_as_the_bare_name() {
        let t = tree();
        let (p, s) = discover(None, None, &t.path().join("proj"));
        assert_eq!(p, PathBuf::from("kubetest.yaml"));
        assert_eq!(s, ConfigSource::Search);
    }

    #[test]
    fn a_directory_named_kubetest_yaml_is_not_a_config() {
        let t = tree();
        std::fs::create_dir_all(t.path().join("proj/scenarios/kubetest.yaml")).unwrap();
        let (p, _) = discover(None, None, &t.path().join("proj/scenarios"));
        assert_eq!(p, t.path().join("proj/kubetest.yaml"));
    }

    #[test]
    fn flag_wins_over_env_and_env_over_search() {
        let t = tree();
        let cwd = t.path().join("proj");
        let (p, s) = discover(Some(Path::new("x.yaml")), Some("y.yaml"), &cwd);
        assert_eq!((p, s), (PathBuf::from("x.yaml"), ConfigSource::Flag));
        let (p, s) = discover(None, Some("y.yaml"), &cwd);
        assert_eq!((p, s), (PathBuf::from("y.yaml"), ConfigSource::Env));
        let (_, s) = discover(None, Some(""), &cwd);
        assert_eq!(s, ConfigSource::Search);
    }

    #[test]
    fn nothing_found_falls_back_to_the_default_name() {
        let t = tempfile::tempdir().unwrap();
        let (p, s) = discover(None, None, t.path());
        if s == ConfigSource::Default {
            assert_eq!(p, PathBuf::from(FILE_NAME));
        } else {
            // A kubetest.yaml above the temp directory (not ours) was found instead.
            assert!(!p.starts_with(t.path()));
        }
    }
}
