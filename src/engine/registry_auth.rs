//! Registry credentials for a push, from the places Docker and Podman users keep them.
//!
//! Order (the first that knows the registry wins):
//! 1. the config's env-var indirection `cluster.registry.auth: {username_env, password_env}`;
//! 2. Podman only: `$REGISTRY_AUTH_FILE`, else `$XDG_RUNTIME_DIR/containers/auth.json`
//!    (containers-auth.json(5); Podman then falls back to Docker's file, as below);
//! 3. Docker's `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`: `credHelpers[host]`,
//!    then `credsStore`, then `auths[host].auth` (base64 `user:password`) — the Docker CLI's order.
//!
//! Helpers are run as `docker-credential-<name> get` with the server on stdin, printing
//! `{"ServerURL","Username","Secret"}` (docker-credential-helpers' protocol); `Username`
//! `<token>` means `Secret` is an identity token. Every secret found is registered for
//! masking (src/secrets.rs) and nothing of it is written into the state file.

use crate::cmd::{Cmd, CmdError};
use crate::config::RegistryAuthEnv;
use crate::engine::EngineKind;
use base64::Engine as _;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Credentials for one registry. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    /// Password, or identity token when `identity_token` is set.
    pub secret: String,
    pub identity_token: bool,
    /// Where they came from, for messages: `env KT_USER/KT_PASS`, `/root/.docker/config.json`…
    pub source: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("secret", &"******")
            .field("source", &self.source)
            .finish()
    }
}

impl Credentials {
    /// What bollard sends as `X-Registry-Auth`.
    pub fn for_engine(&self, server: &str) -> bollard::auth::DockerCredentials {
        let mut c = bollard::auth::DockerCredentials {
            serveraddress: Some(server.to_owned()),
            ..Default::default()
        };
        if self.identity_token {
            c.identitytoken = Some(self.secret.clone());
        } else {
            c.username = Some(self.username.clone());
            c.password = Some(self.secret.clone());
        }
        c
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("cluster.registry.auth.{key}: environment variable {var} is not set; export it (or remove `cluster.registry.auth` to use ~/.docker/config.json or the Podman auth file)")]
    MissingEnv { key: &'static str, var: String },
    #[error("cannot read registry credentials from {path}: {reason}; fix or remove the file")]
    BadFile { path: PathBuf, reason: String },
    #[error("credential helper `docker-credential-{helper}` (named in {file}) failed for {server}: {source}")]
    Helper {
        helper: String,
        file: PathBuf,
        server: String,
        source: Box<CmdError>,
    },
    #[error("credential helper `docker-credential-{helper}` printed no credentials JSON for {server}: {reason}")]
    HelperOutput {
        helper: String,
        server: String,
        reason: String,
    },
}

/// The environment a lookup reads: variables and the home directory (replaceable in tests).
pub trait AuthEnv {
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl AuthEnv for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}

/// Credentials for pushing to `url` (`host[:port][/path]`) through `engine`; `None` when no
/// place knows the registry (an anonymous push, which a registry without auth accepts).
pub async fn lookup(
    url: &str,
    engine: EngineKind,
    configured: Option<&RegistryAuthEnv>,
    env: &dyn AuthEnv,
) -> Result<Option<Credentials>, AuthError> {
    let found = find(url, engine, configured, env).await?;
    if let Some(c) = &found {
        crate::secrets::register_values([c.secret.as_str()]);
    }
    Ok(found)
}

async fn find(
    url: &str,
    engine: EngineKind,
    configured: Option<&RegistryAuthEnv>,
    env: &dyn AuthEnv,
) -> Result<Option<Credentials>, AuthError> {
    if let Some(c) = configured {
        let get = |key: &'static str, var: &str| {
            env.var(var).ok_or_else(|| AuthError::MissingEnv {
                key,
                var: var.to_owned(),
            })
        };
        return Ok(Some(Credentials {
            username: get("username_env", &c.username_env)?,
            secret: get("password_env", &c.password_env)?,
            identity_token: false,
            source: format!("env {}/{}", c.username_env, c.password_env),
        }));
    }
    for file in files(engine, env) {
        if let Some(c) = from_file(&file, url, env).await? {
            return Ok(Some(c));
        }
    }
    Ok(None)
}

/// The credential files the engine's own CLI would read, in its order.
pub fn files(engine: EngineKind, env: &dyn AuthEnv) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if engine == EngineKind::Podman {
        if let Some(f) = env.var("REGISTRY_AUTH_FILE") {
            out.push(PathBuf::from(f));
        } else if let Some(dir) = env.var("XDG_RUNTIME_DIR") {
            out.push(Path::new(&dir).join("containers/auth.json"));
        }
    }
    if let Some(dir) = env.var("DOCKER_CONFIG") {
        out.push(Path::new(&dir).join("config.json"));
    } else if let Some(home) = env.var("HOME") {
        out.push(Path::new(&home).join(".docker/config.json"));
    }
    out
}

/// Docker's config.json and containers-auth.json share these keys.
#[derive(Debug, Default, Deserialize)]
struct AuthFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

/// `https://host:5000/v1/` → `host:5000`; `host/ns` stays (containers-auth.json allows
/// namespaced keys).
pub fn normalize_key(key: &str) -> &str {
    let k = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let k = k.trim_end_matches('/');
    k.strip_suffix("/v1")
        .or_else(|| k.strip_suffix("/v2"))
        .unwrap_or(k)
}

/// The key of `keys` that names `url` most specifically: the host itself or a path prefix.
fn best_key<'k>(keys: impl Iterator<Item = &'k String>, url: &str) -> Option<&'k String> {
    keys.filter(|k| {
        let n = normalize_key(k);
        url == n || url.starts_with(&format!("{n}/"))
    })
    .max_by_key(|k| normalize_key(k).len())
}

async fn from_file(
    path: &Path,
    url: &str,
    env: &dyn AuthEnv,
) -> Result<Option<Credentials>, AuthError> {
    let text = match tokio::fs::read_to_string(path).await {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(AuthError::BadFile {
                path: path.to_owned(),
                reason: e.to_string(),
            })
        }
    };
    let file: AuthFile = serde_json::from_str(&text).map_err(|e| AuthError::BadFile {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    let host = url.split('/').next().unwrap_or(url);
    if let Some(helper) = best_key(file.cred_helpers.keys(), url)
        .and_then(|k| file.cred_helpers.get(k))
        .or_else(|| file.cred_helpers.get(host))
    {
        return helper_get(helper, path, host, env).await;
    }
    if let Some(store) = &file.creds_store {
        if let Some(c) = helper_get(store, path, host, env).await? {
            return Ok(Some(c));
        }
    }
    let Some(key) = best_key(file.auths.keys(), url) else {
        return Ok(None);
    };
    let entry = &file.auths[key];
    let source = format!("{} (auths.\"{key}\")", path.display());
    if let Some(token) = entry.identitytoken.as_deref().filter(|t| !t.is_empty()) {
        return Ok(Some(Credentials {
            username: String::new(),
            secret: token.to_owned(),
            identity_token: true,
            source,
        }));
    }
    let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) else {
        return Ok(None);
    };
    let bad = |reason: &str| AuthError::BadFile {
        path: path.to_owned(),
        reason: format!("auths.\"{key}\".auth {reason}"),
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(auth.trim())
        .map_err(|_| bad("is not base64"))?;
    let text = String::from_utf8(decoded).map_err(|_| bad("is not UTF-8 once decoded"))?;
    let (user, pass) = text
        .split_once(':')
        .ok_or_else(|| bad("does not decode to `user:password`"))?;
    Ok(Some(Credentials {
        username: user.to_owned(),
        secret: pass.to_owned(),
        identity_token: false,
        source,
    }))
}

#[derive(Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username")]
    username: String,
    #[serde(rename = "Secret")]
    secret: String,
}

/// docker-credential-helpers prints this (exit 1) for a server it holds nothing for.
const NOT_FOUND: &str = "credentials not found in native keychain";

async fn helper_get(
    helper: &str,
    file: &Path,
    server: &str,
    env: &dyn AuthEnv,
) -> Result<Option<Credentials>, AuthError> {
    let program = format!("docker-credential-{helper}");
    // Found on PATH, as the Docker CLI finds it; a missing helper is the runner's NotFound.
    let found = std::env::current_dir()
        .ok()
        .and_then(|cwd| which::which_in(&program, env.var("PATH"), cwd).ok());
    let out = Cmd::new(found.as_deref().unwrap_or(Path::new(&program)))
        .arg("get")
        .stdin(server.as_bytes().to_vec())
        .timeout(Duration::from_secs(30))
        .output()
        .await;
    let fail = |source| AuthError::Helper {
        helper: helper.to_owned(),
        file: file.to_owned(),
        server: server.to_owned(),
        source: Box::new(source),
    };
    let out = out.map_err(fail)?;
    if !out.success() {
        if out.stdout.contains(NOT_FOUND) || out.stderr.contains(NOT_FOUND) {
            return Ok(None);
        }
        return Err(fail(CmdError::Failed {
            cmdline: format!("{program} get"),
            code: out.code,
            stdout: out.stdout,
            stderr: out.stderr,
        }));
    }
    let a: HelperAnswer =
        serde_json::from_str(out.stdout.trim()).map_err(|e| AuthError::HelperOutput {
            helper: helper.to_owned(),
            server: server.to_owned(),
            reason: e.to_string(),
        })?;
    let token = a.username == "<token>";
    Ok(Some(Credentials {
        username: if token { String::new() } else { a.username },
        secret: a.secret,
        identity_token: token,
        source: format!("{program} (from {})", file.display()),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Env(HashMap<&'static str, String>);
    impl AuthEnv for Env {
        fn var(&self, name: &str) -> Option<String> {
            self.0.get(name).cloned()
        }
    }

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn keys_normalise_like_docker_writes_them() {
        assert_eq!(
            normalize_key("https://index.docker.io/v1/"),
            "index.docker.io"
        );
        assert_eq!(normalize_key("http://127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(normalize_key("reg.example/team"), "reg.example/team");
        let keys = ["reg.example".to_owned(), "reg.example/team".to_owned()];
        assert_eq!(
            best_key(keys.iter(), "reg.example/team/x").unwrap(),
            "reg.example/team"
        );
        assert_eq!(
            best_key(keys.iter(), "reg.example/other").unwrap(),
            "reg.example"
        );
        assert!(best_key(keys.iter(), "reg.example2").is_none());
    }

    #[tokio::test]
    async fn order_env_then_podman_file_then_docker_config() {
        let dir = tempfile::tempdir().unwrap();
        let podman = dir.path().join("auth.json");
        let docker = dir.path().join("docker");
        std::fs::create_dir(&docker).unwrap();
        std::fs::write(
            &podman,
            format!(
                r#"{{"auths":{{"127.0.0.1:5000":{{"auth":"{}"}}}}}}"#,
                b64("p:podpass")
            ),
        )
        .unwrap();
        std::fs::write(
            docker.join("config.json"),
            format!(
                r#"{{"auths":{{"https://127.0.0.1:5000/v1/":{{"auth":"{}"}},"other:1":{{"identitytoken":"tok-123"}}}}}}"#,
                b64("d:dockpass:with:colons")
            ),
        )
        .unwrap();
        let env = Env(HashMap::from([
            ("REGISTRY_AUTH_FILE", podman.display().to_string()),
            ("DOCKER_CONFIG", docker.display().to_string()),
            ("KT_U", "envuser".to_owned()),
            ("KT_P", "envpass".to_owned()),
        ]));
        let url = "127.0.0.1:5000/team";
        let c = lookup(url, EngineKind::Podman, None, &env)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((c.username.as_str(), c.secret.as_str()), ("p", "podpass"));
        let c = lookup(url, EngineKind::Docker, None, &env)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (c.username.as_str(), c.secret.as_str()),
            ("d", "dockpass:with:colons")
        );
        assert!(!format!("{c:?}").contains("dockpass"));
        let c = lookup("other:1", EngineKind::Docker, None, &env)
            .await
            .unwrap()
            .unwrap();
        assert!(c.identity_token);
        assert_eq!(
            c.for_engine("other:1").identitytoken.as_deref(),
            Some("tok-123")
        );
        let spec = RegistryAuthEnv {
            username_env: "KT_U".into(),
            password_env: "KT_P".into(),
        };
        let c = lookup(url, EngineKind::Docker, Some(&spec), &env)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (c.username.as_str(), c.secret.as_str()),
            ("envuser", "envpass")
        );
        assert_eq!(crate::secrets::mask("login envpass"), "login ******");
        assert!(lookup("nowhere:1", EngineKind::Podman, None, &env)
            .await
            .unwrap()
            .is_none());
        let missing = RegistryAuthEnv {
            username_env: "KT_U".into(),
            password_env: "KT_NOPE".into(),
        };
        let e = lookup(url, EngineKind::Docker, Some(&missing), &env)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("KT_NOPE is not set"), "{e}");
    }

    #[tokio::test]
    async fn credential_helpers_through_the_runner() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        // A helper speaking docker-credential-helpers' protocol: the server on stdin.
        let helper = bin.join("docker-credential-kttest");
        std::fs::write(
            &helper,
            "#!/bin/sh\nread server\ncase \"$server\" in\n  reg.example:5000) echo '{\"ServerURL\":\"reg.example:5000\",\"Username\":\"helper-user\",\"Secret\":\"helper-pass\"}';;\n  *) echo 'credentials not found in native keychain'; exit 1;;\nesac\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(
            dir.path().join("config.json"),
            format!(
                r#"{{"credsStore":"kttest","credHelpers":{{"broken:1":"absent"}},"auths":{{"fallback:1":{{"auth":"{}"}}}}}}"#,
                b64("f:fpass")
            ),
        )
        .unwrap();
        // The helper is found on PATH, as the Docker CLI finds it.
        let path = format!("{}:/usr/bin:/bin", bin.display());
        let env = Env(HashMap::from([
            ("DOCKER_CONFIG", dir.path().display().to_string()),
            ("PATH", path),
        ]));
        let c = lookup("reg.example:5000/x", EngineKind::Docker, None, &env)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (c.username.as_str(), c.secret.as_str()),
            ("helper-user", "helper-pass")
        );
        assert!(
            c.source.contains("docker-credential-kttest"),
            "{}",
            c.source
        );
        // Not in the store: the file's own `auths` still count.
        let c = lookup("fallback:1", EngineKind::Docker, None, &env)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(c.secret, "fpass");
        let e = lookup("broken:1", EngineKind::Docker, None, &env)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("docker-credential-absent"), "{e}");
    }
}
