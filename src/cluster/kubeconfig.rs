//! Kubeconfig files: written private (mode 0600), and the "does its API server answer" check.

use anyhow::Context;
use kube::config::{KubeConfigOptions, Kubeconfig};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long the reuse check waits for the API server.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// The kubeconfig kubetest keeps for a kind cluster: `<state dir>/kubeconfig`.
pub fn state_path(state_dir: &Path) -> PathBuf {
    state_dir.join("kubeconfig")
}

/// The context kind names for cluster `name`.
pub fn kind_context(name: &str) -> String {
    format!("kind-{name}")
}

/// Write `contents` to `path` atomically, readable by the owner only (it holds credentials).
pub fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the directory {}", dir.display()))?;
    // tempfile creates files with mode 0600.
    let mut tmp = tempfile::Builder::new()
        .prefix(".kubeconfig.")
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    tmp.write_all(contents.as_bytes())
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("cannot write the kubeconfig {}", path.display()))?;
    tmp.persist(path)
        .with_context(|| format!("cannot write the kubeconfig {}", path.display()))?;
    make_private(path)
}

/// chmod 0600 (kind writes its kubeconfig itself; make sure nobody else can read it).
pub fn make_private(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("cannot restrict the permissions of {}", path.display()))
}

/// Ask the API server of `context` in the kubeconfig at `path` (or `$KUBECONFIG` /
/// `~/.kube/config` when `None`) for `/version`, with the kubeconfig's TLS and credentials.
/// Returns the server's `gitVersion`.
pub async fn api_answers(path: Option<&Path>, context: Option<&str>) -> anyhow::Result<String> {
    let options = KubeConfigOptions {
        context: context.map(str::to_owned),
        ..KubeConfigOptions::default()
    };
    let what = path.map_or_else(
        || "the default kubeconfig ($KUBECONFIG or ~/.kube/config)".to_owned(),
        |p| p.display().to_string(),
    );
    let mut config = match path {
        Some(p) => {
            let file = Kubeconfig::read_from(p)
                .with_context(|| format!("cannot read the kubeconfig {}", p.display()))?;
            kube::Config::from_custom_kubeconfig(file, &options).await
        }
        None => kube::Config::from_kubeconfig(&options).await,
    }
    .with_context(|| match context {
        Some(c) => format!("cannot use context `{c}` of {what}"),
        None => format!("cannot use the current context of {what}"),
    })?;
    config.connect_timeout = Some(ANSWER_TIMEOUT);
    config.read_timeout = Some(ANSWER_TIMEOUT);
    let server = config.cluster_url.to_string();
    let client = kube::Client::try_from(config)
        .with_context(|| format!("cannot make a client for {server}"))?;
    let info = tokio::time::timeout(ANSWER_TIMEOUT, client.apiserver_version())
        .await
        .map_err(|_| {
            anyhow::anyhow!(
                "the API server at {server} did not answer within {}s",
                ANSWER_TIMEOUT.as_secs()
            )
        })?
        .with_context(|| format!("the API server at {server} does not answer GET /version"))?;
    Ok(info.git_version)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn written_for_the_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = state_path(&dir.path().join(".kubetest"));
        write_private(&path, "apiVersion: v1\nkind: Config\n").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "apiVersion: v1\nkind: Config\n"
        );
        assert_eq!(kind_context("demo"), "kind-demo");
    }

    #[tokio::test]
    async fn a_dead_server_is_named() {
        let dir = tempfile::tempdir().unwrap();
        // A port nobody listens on: bind, take the number, close.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let path = dir.path().join("kubeconfig");
        let yaml = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: http://127.0.0.1:{port}\n  name: kind-x\ncontexts:\n- context:\n    cluster: kind-x\n    user: kind-x\n  name: kind-x\ncurrent-context: kind-x\nusers:\n- name: kind-x\n  user: {{}}\n"
        );
        write_private(&path, &yaml).unwrap();
        let err = format!(
            "{:#}",
            api_answers(Some(&path), Some("kind-x")).await.unwrap_err()
        );
        assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
        let err = format!(
            "{:#}",
            api_answers(Some(&path), Some("kind-y")).await.unwrap_err()
        );
        assert!(err.contains("cannot use context `kind-y`"), "{err}");
    }
}
