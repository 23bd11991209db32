//! Pushing built images to a real registry (Debian's docker-registry, started by the test)
//! through both real engines: plain HTTP, and TLS + basic auth with credentials from the
//! engines' usual credential files; the registry's own API says what arrived.

use crate::engines::{busybox_context, engines, TestEngine};
use crate::registry_support::{available, Registry};
use crate::support::{unique, Run};
use kubetest::engine::push::{push, PushError};
use kubetest::engine::registry_auth::{self, AuthEnv};
use kubetest::engine::{connect_endpoint, Endpoint, Engine, EngineKind};
use std::collections::HashMap;
use std::path::Path;

/// Build one busybox image with kubetest (`provider: none`) in `dir`.
pub async fn build_image(engine: &TestEngine, dir: &Path, image: &str) {
    busybox_context(&dir.join("app"), image, None);
    build_images(engine, dir, "kt-reg", &[(image, "app")]).await;
}

/// Build `images` — (name, context folder under `dir`) — with kubetest (`provider: none`) in
/// `dir`, as environment `env`-<engine> named per test process.
pub async fn build_images(engine: &TestEngine, dir: &Path, env: &str, images: &[(&str, &str)]) {
    let list: String = images
        .iter()
        .map(|(name, context)| format!("  - {{ name: {name}, context: {context} }}\n"))
        .collect();
    std::fs::write(
        dir.join("kubetest.yaml"),
        format!(
            "name: {}\nengine: {}\ncluster: {{ provider: none }}\nimages:\n{list}",
            unique(&format!("{env}-{}", engine.name)),
            engine.name
        ),
    )
    .unwrap();
    let mut cmd = engine.kubetest(dir);
    let run = tokio::task::spawn_blocking(move || Run::new(cmd.args(["up", "--output", "json"])))
        .await
        .unwrap();
    assert_eq!(run.code, 0, "{}: {}", engine.name, run.stderr);
}

/// `kubetest down --images` in `dir`.
pub async fn down_images(engine: &TestEngine, dir: &Path) {
    let mut cmd = engine.kubetest(dir);
    let run = tokio::task::spawn_blocking(move || Run::new(cmd.args(["down", "--images"])))
        .await
        .unwrap();
    assert_eq!(run.code, 0, "{}", run.stderr);
}

pub async fn connect(engine: &TestEngine) -> Engine {
    connect_endpoint(
        &Endpoint {
            url: engine.url.clone(),
            source: "test".into(),
        },
        None,
    )
    .await
    .unwrap()
}

/// Remove the registry tags a test made in the engine (never anything else).
pub async fn untag(e: &Engine, refs: &[String]) {
    for r in refs {
        let _ = e
            .docker
            .remove_image(
                r,
                None::<bollard::query_parameters::RemoveImageOptions>,
                None,
            )
            .await;
    }
}

struct Vars(HashMap<&'static str, String>);
impl AuthEnv for Vars {
    fn var(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }
}

/// The credential file each engine's users have: `docker login` writes `$DOCKER_CONFIG/
/// config.json`, `podman login` writes `$REGISTRY_AUTH_FILE` (same `auths` format).
fn login_files(dir: &Path, host: &str, user: &str, password: &str) -> Vars {
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let docker = dir.join("docker");
    std::fs::create_dir_all(&docker).unwrap();
    std::fs::write(
        docker.join("config.json"),
        format!(r#"{{"auths":{{"https://{host}":{{"auth":"{auth}"}}}}}}"#),
    )
    .unwrap();
    std::fs::write(
        dir.join("auth.json"),
        format!(r#"{{"auths":{{"{host}":{{"auth":"{auth}"}}}}}}"#),
    )
    .unwrap();
    Vars(HashMap::from([
        ("DOCKER_CONFIG", docker.display().to_string()),
        (
            "REGISTRY_AUTH_FILE",
            dir.join("auth.json").display().to_string(),
        ),
    ]))
}

#[tokio::test(flavor = "multi_thread")]
async fn push_to_plain_and_tls_auth_registries_on_both_engines() {
    if !available() {
        return;
    }
    let plain = Registry::plain();
    let secure = Registry::tls_auth("kt-pusher", "kt-reg-pass-7781");
    assert_eq!(secure.anonymous_status().await, 401, "auth is on");
    for engine in engines() {
        let tmp = tempfile::tempdir().unwrap();
        let image = format!("localhost/{}:1", unique(&format!("kt-reg-{}", engine.name)));
        build_image(&engine, tmp.path(), &image).await;
        let e = connect(&engine).await;
        let repo = unique(&format!("kt-reg/{}", engine.name));
        let mut made = Vec::new();

        // Plain HTTP: Podman must be told `tlsVerify=false`; Docker allows 127.0.0.0/8 anyway.
        let target = format!("{}/{repo}:1", plain.host);
        made.push(target.clone());
        if e.kind == EngineKind::Podman {
            let err = push(&e.docker, e.kind, &image, &target, None, true)
                .await
                .unwrap_err();
            let text = err.to_string();
            assert!(
                text.contains("server gave HTTP response to HTTPS client")
                    && text.contains("tls_verify: false"),
                "{text}"
            );
        }
        let pushed = push(&e.docker, e.kind, &image, &target, None, false)
            .await
            .unwrap_or_else(|err| panic!("{}: {err}\n{}", engine.name, plain.log()));
        assert!(plain.catalog().await.contains(&repo), "{}", engine.name);
        assert_eq!(
            plain.manifest_digest(&repo, "1").await.as_deref(),
            Some(pushed.digest.as_str()),
            "{}: the digest the engine reported is the one the registry serves",
            engine.name
        );
        assert_eq!(
            plain
                .manifest_digest(&repo, &pushed.digest)
                .await
                .as_deref(),
            Some(pushed.digest.as_str()),
            "{}: pullable by digest",
            engine.name
        );

        // TLS + basic auth, credentials from the engine's own login file, certificate
        // verified (tls_verify: true) against the CA in certs.d.
        let vars = login_files(tmp.path(), &secure.host, "kt-pusher", "kt-reg-pass-7781");
        let creds = registry_auth::lookup(&secure.host, e.kind, None, &vars)
            .await
            .unwrap()
            .expect("credentials from the login file");
        let target = format!("{}/{repo}:1", secure.host);
        made.push(target.clone());
        let pushed = push(&e.docker, e.kind, &image, &target, Some(&creds), true)
            .await
            .unwrap_or_else(|err| panic!("{}: {err}\n{}", engine.name, secure.log()));
        assert!(secure.catalog().await.contains(&repo), "{}", engine.name);
        assert_eq!(
            secure.manifest_digest(&repo, "1").await.as_deref(),
            Some(pushed.digest.as_str()),
            "{}",
            engine.name
        );

        // Wrong password: refused, said so, with what to do and where the credentials came from.
        let bad = login_files(tmp.path(), &secure.host, "kt-pusher", "wrong-pass-3312");
        let creds = registry_auth::lookup(&secure.host, e.kind, None, &bad)
            .await
            .unwrap()
            .unwrap();
        let target2 = format!("{}/{repo}-denied:1", secure.host);
        made.push(target2.clone());
        let err = push(&e.docker, e.kind, &image, &target2, Some(&creds), true)
            .await
            .unwrap_err();
        assert!(matches!(err, PushError::Push { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains("unauthorized") && text.contains("hint:"),
            "{text}"
        );
        assert!(
            text.contains(if e.kind == EngineKind::Podman {
                "auth.json"
            } else {
                "config.json"
            }),
            "{text}"
        );
        assert!(!text.contains("wrong-pass-3312"), "{text}");
        assert!(!secure.catalog().await.contains(&format!("{repo}-denied")));

        untag(&e, &made).await;
        down_images(&engine, tmp.path()).await;
    }
}

/// `provider: existing` with a registry, end to end on both engines: `up` builds, pushes
/// (TLS + auth through the config's env-var indirection), and applies the manifests — which
/// name the image as `images[].name` does — with the pushed image pinned by digest; a rebuild
/// pushes a new digest and the applied template follows. No secret reaches the state file or
/// the output.
#[tokio::test(flavor = "multi_thread")]
async fn up_pushes_and_manifests_follow_the_digest() {
    if !available() {
        return;
    }
    let double = crate::apidouble::ApiDouble::start().await;
    double.put_namespace("demo");
    let secure = Registry::tls_auth("kt-up", "kt-up-pass-5521");
    for engine in engines() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        double.write_kubeconfig(dir);
        let image = format!(
            "localhost/{}:dev",
            unique(&format!("kt-regup-{}", engine.name))
        );
        busybox_context(&dir.join("app"), "v1", None);
        std::fs::create_dir(dir.join("manifests")).unwrap();
        let deploy = format!("web-{}", engine.name);
        std::fs::write(
            dir.join("manifests/web.yaml"),
            format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{ name: {deploy}, namespace: demo }}\n\
                 spec:\n  selector: {{ matchLabels: {{ app: web }} }}\n  template:\n    metadata: {{ labels: {{ app: web }} }}\n    \
                 spec: {{ containers: [ {{ name: app, image: \"{image}\" }} ] }}\n"
            ),
        )
        .unwrap();
        std::fs::write(
            dir.join("kubetest.yaml"),
            format!(
                "name: {}\nengine: {}\nimages:\n  - {{ name: \"{image}\", context: app }}\n\
                 cluster:\n  provider: existing\n  kubeconfig: kubeconfig\n  context: kind-kt-i6\n  \
                 registry:\n    url: {}/kt\n    auth: {{ username_env: KT_REG_USER, password_env: KT_REG_PASS }}\n\
                 deploy:\n  namespace: demo\n  manifests: [manifests/]\n",
                unique(&format!("kt-regup-{}", engine.name)),
                engine.name,
                secure.host
            ),
        )
        .unwrap();
        let up = || {
            let mut cmd = engine.kubetest(dir);
            cmd.env("KT_REG_USER", "kt-up")
                .env("KT_REG_PASS", "kt-up-pass-5521")
                .args(["up", "--output", "json"]);
            tokio::task::spawn_blocking(move || Run::new(&mut cmd))
        };
        let first = up().await.unwrap();
        assert_eq!(
            first.code, 0,
            "{}: {}\n{}",
            engine.name, first.stdout, first.stderr
        );
        let path = image
            .trim_start_matches("localhost/")
            .split(':')
            .next()
            .unwrap();
        let repo = format!("kt/{path}");
        let digest = secure.manifest_digest(&repo, "dev").await.expect("pushed");
        let applied = |d: &crate::apidouble::ApiDouble| {
            d.get("apps", "deployments", Some("demo"), &deploy).unwrap()["spec"]["template"].clone()
        };
        let template = applied(&double);
        assert_eq!(
            template["spec"]["containers"][0]["image"],
            format!("{}/{repo}@{digest}", secure.host),
            "{}",
            engine.name
        );
        assert!(
            template["metadata"]["annotations"]["kubetest.io/image-ids"].is_null(),
            "{}: a digest rolls out by itself; no image-ID annotation: {template}",
            engine.name
        );
        let state = std::fs::read_to_string(dir.join(".kubetest/state.json")).unwrap();
        assert!(state.contains(&digest), "{state}");
        for text in [&state, &first.stdout, &first.stderr] {
            assert!(!text.contains("kt-up-pass-5521"), "a secret leaked: {text}");
        }
        assert!(
            first
                .stdout
                .contains("with credentials from env KT_REG_USER/KT_REG_PASS"),
            "{}",
            first.stdout
        );

        // A rebuild: new digest, the template follows it.
        std::fs::write(dir.join("app/marker.txt"), "v2").unwrap();
        let second = up().await.unwrap();
        assert_eq!(second.code, 0, "{}: {}", engine.name, second.stderr);
        let digest2 = secure.manifest_digest(&repo, "dev").await.unwrap();
        assert_ne!(digest, digest2, "{}", engine.name);
        assert_eq!(
            applied(&double)["spec"]["containers"][0]["image"],
            format!("{}/{repo}@{digest2}", secure.host)
        );

        let e = connect(&engine).await;
        untag(&e, &[format!("{}/{repo}:dev", secure.host)]).await;
        down_images(&engine, dir).await;
    }
}
