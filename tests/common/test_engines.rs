//! The engines tests and benchmarks run against: one table, shared through `#[path]`.
//!
//! `.ci/engines.sh` starts them; `KUBETEST_TEST_PODMAN` / `KUBETEST_TEST_DOCKER` override
//! where they listen.

/// (engine name, variable that overrides its endpoint, default endpoint).
pub const TEST_ENGINES: [(&str, &str, &str); 2] = [
    (
        "podman",
        "KUBETEST_TEST_PODMAN",
        "unix:///run/podman/podman.sock",
    ),
    (
        "docker",
        "KUBETEST_TEST_DOCKER",
        "unix:///run/dockerd-test.sock",
    ),
];

/// (name, variable, endpoint URL, whether something accepts connections there).
pub fn test_engines() -> Vec<(&'static str, &'static str, String, bool)> {
    TEST_ENGINES
        .iter()
        .map(|(name, var, default)| {
            let url = std::env::var(var).unwrap_or_else(|_| (*default).to_owned());
            let path = url.strip_prefix("unix://").unwrap_or(&url);
            let up = std::os::unix::net::UnixStream::connect(path).is_ok();
            (*name, *var, url, up)
        })
        .collect()
}
