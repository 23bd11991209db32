//! `kubetest init`: golden drafts of real compose files (fixtures/compose/*, each with its
//! SOURCE), every draft loading with kubetest's own loader, the project-tree scan, never
//! overwriting without `--force`, and a converted compose file brought up on both real engines.

use crate::deps::{has_real_images, labelled};
use crate::engines::engines;
use crate::support::{assert_golden, kubetest, root, unique, Run};
use std::path::{Path, PathBuf};

/// Every fixture directory: (project, compose file).
fn fixtures() -> Vec<(String, PathBuf)> {
    let dir = root().join("fixtures/compose");
    let mut out: Vec<(String, PathBuf)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .map(|p| {
            let file = std::fs::read_dir(&p)
                .unwrap()
                .map(|e| e.unwrap().path())
                .find(|f| {
                    let n = f.file_name().unwrap().to_string_lossy().into_owned();
                    n.contains("compose") && (n.ends_with(".yml") || n.ends_with(".yaml"))
                })
                .unwrap_or_else(|| panic!("{}: no compose file", p.display()));
            let source = std::fs::read_to_string(p.join("SOURCE")).unwrap_or_default();
            assert!(
                source.starts_with("SOURCE https://github.com/") && source.contains("blob/"),
                "{}: SOURCE names the repository, commit and path",
                p.display()
            );
            (p.file_name().unwrap().to_string_lossy().into_owned(), file)
        })
        .collect();
    out.sort();
    out
}

/// The compose file copied into a fresh project directory named `project`, and `init` run there.
fn init_in(project: &str, compose: &Path, extra: &[&str]) -> (tempfile::TempDir, PathBuf, Run) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(project);
    std::fs::create_dir(&dir).unwrap();
    let name = compose.file_name().unwrap();
    std::fs::copy(compose, dir.join(name)).unwrap();
    let mut args = vec!["init", "--from-compose", name.to_str().unwrap()];
    args.extend_from_slice(extra);
    let run = Run::new(kubetest().current_dir(&dir).args(&args));
    (tmp, dir, run)
}

/// The draft loads with kubetest's loader, and so does the example scenario.
fn assert_loads(dir: &Path) -> kubetest::config::LoadedConfig {
    let loaded = kubetest::config::load(&dir.join("kubetest.yaml"))
        .unwrap_or_else(|e| panic!("{}: the draft does not load:\n{e}", dir.display()));
    let known = kubetest::scenario::load::Known::of_dependencies(
        loaded
            .config
            .dependencies
            .iter()
            .map(|(n, d)| (n.as_str(), d)),
    );
    let scenarios = kubetest::scenario::load::load_dir(&dir.join("scenarios"), &known)
        .unwrap_or_else(|e| panic!("example scenario: {e:?}"));
    assert_eq!(scenarios.len(), 1);
    loaded
}

#[test]
fn compose_fixtures_convert_to_golden_drafts_that_load() {
    let all = fixtures();
    assert!(all.len() >= 5, "{all:?}");
    for (project, compose) in all {
        let (_tmp, dir, run) = init_in(&project, &compose, &[]);
        assert_eq!(run.code, 0, "{project}: {}", run.stderr);
        assert!(run.stdout.contains("wrote kubetest.yaml"), "{}", run.stdout);
        let text = std::fs::read_to_string(dir.join("kubetest.yaml")).unwrap();
        assert_golden(
            &root().join(format!("fixtures/compose/{project}/kubetest.yaml.golden")),
            &text,
        );
        assert_loads(&dir);
    }
}

/// What the drafts say about the compose semantics they convert (Compose specification,
/// services: healthcheck, depends_on conditions, profiles, interpolation).
#[test]
fn compose_semantics_in_the_drafts() {
    let load = |project: &str| {
        let (_tmp, dir, run) = init_in(
            project,
            &fixtures()
                .into_iter()
                .find(|(p, _)| p == project)
                .unwrap()
                .1,
            &[],
        );
        assert_eq!(run.code, 0, "{project}: {}", run.stderr);
        let text = std::fs::read_to_string(dir.join("kubetest.yaml")).unwrap();
        (assert_loads(&dir).config, text)
    };

    // n8n: `service_completed_successfully` makes n8n-import a one-shot job; `service_healthy`
    // a need; services behind `profiles:` are left out; `${VAR:-default}` resolved.
    let (c, text) = load("n8n-ai-starter-kit");
    let import = &c.dependencies["n8n-import"];
    assert!(import.once && import.health.is_none());
    assert_eq!(c.dependencies["n8n"].needs, ["postgres", "n8n-import"]);
    assert!(!c.dependencies.contains_key("ollama-cpu"));
    assert!(
        text.contains("services.ollama-cpu: only started with profile cpu"),
        "{text}"
    );
    assert_eq!(c.dependencies["n8n"].env["OLLAMA_HOST"], "ollama:11434");
    let pg = c.dependencies["postgres"].health.as_ref().unwrap();
    // interval 5s, timeout 5s, retries 10: compose gives up after 10 × (5s + 5s).
    assert_eq!(pg.interval.get().as_secs(), 5);
    assert_eq!(pg.timeout.get().as_secs(), 100);
    assert_eq!(pg.exec.as_ref().unwrap()[..2], ["/bin/sh", "-c"]);

    // mastodon: list-form depends_on → needs; restart dropped with a note; a string command
    // split into words; a host address dropped; env_file missing is named.
    let (c, text) = load("mastodon");
    assert_eq!(c.dependencies["web"].needs, ["db", "redis"]);
    assert_eq!(
        c.dependencies["web"].command.as_deref().unwrap(),
        ["bundle", "exec", "puma", "-C", "config/puma.rb"]
    );
    assert!(
        text.contains("services.db.restart: `always` dropped"),
        "{text}"
    );
    assert!(text.contains(".env.production cannot be read"), "{text}");
    assert_eq!(c.dependencies["web"].ports[0].host, Some(3000));
    // No interval given: compose defaults (30s, 30s, 3) → 3m.
    assert_eq!(
        c.dependencies["db"]
            .health
            .as_ref()
            .unwrap()
            .timeout
            .get()
            .as_secs(),
        180
    );

    // immich: unresolved `${VAR}` listed; a healthcheck without `test` named; the string
    // test form is CMD-SHELL; `${EXPOSE_PORT-:2283:2283}` resolves to `:2283:2283`.
    let (c, text) = load("immich");
    assert!(text.contains("${DB_PASSWORD} is not set in .env"), "{text}");
    assert!(text.contains("image's own HEALTHCHECK"), "{text}");
    assert_eq!(
        c.dependencies["redis"]
            .health
            .as_ref()
            .unwrap()
            .exec
            .as_deref()
            .unwrap(),
        ["/bin/sh", "-c", "redis-cli ping || exit 1"]
    );
    assert_eq!(c.dependencies["immich-server"].ports[0].container, 2283);
    assert_eq!(c.name, "immich", "the compose project name");

    // nginx-flask-mysql: `$$` is a literal `$`, start_period kept, build → image entry.
    let (c, text) = load("nginx-flask-mysql");
    let db = c.dependencies["db"].health.as_ref().unwrap();
    assert!(db.exec.as_ref().unwrap()[2].contains("$(cat /run/secrets/db-password)"));
    assert_eq!(db.start_period.get().as_secs(), 30);
    assert!(text.contains("services.db.secrets"), "{text}");
    assert_eq!(c.dependencies["backend"].needs, ["db"]);

    // react-express-mysql: list-form build args, an anonymous volume.
    let (_, text) = load("react-express-mysql");
    assert!(text.contains("NODE_ENV: development"), "{text}");
    assert!(text.contains("anonymous volume left out"), "{text}");
}

#[test]
fn init_never_overwrites_without_force() {
    let (_tmp, dir, first) = init_in(
        "keep",
        &root().join("fixtures/compose/mastodon/docker-compose.yml"),
        &[],
    );
    assert_eq!(first.code, 0, "{}", first.stderr);
    std::fs::write(dir.join("kubetest.yaml"), "name: mine\n").unwrap();
    let again = Run::new(kubetest().current_dir(&dir).args(["init"]));
    assert_eq!(again.code, 2, "{}", again.stderr);
    assert!(
        again.stderr.contains("kubetest.yaml already exists") && again.stderr.contains("--force"),
        "{}",
        again.stderr
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("kubetest.yaml")).unwrap(),
        "name: mine\n"
    );
    let forced = Run::new(kubetest().current_dir(&dir).args([
        "init",
        "--from-compose",
        "docker-compose.yml",
        "--force",
    ]));
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    assert!(std::fs::read_to_string(dir.join("kubetest.yaml"))
        .unwrap()
        .contains("dependencies:"));
    // The existing scenario directory is left alone.
    assert_loads(&dir);

    let missing = Run::new(kubetest().current_dir(&dir).args([
        "init",
        "--force",
        "--from-compose",
        "nope.yml",
    ]));
    assert_eq!(missing.code, 2, "{}", missing.stderr);
    assert!(missing.stderr.contains("nope.yml"), "{}", missing.stderr);
}

#[test]
fn init_drafts_from_the_project_tree() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("shop");
    let w = |rel: &str, text: &str| {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    let deploy = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {}\n";
    w("web/Containerfile", "FROM scratch\n");
    w("worker/Dockerfile.prod", "FROM scratch\n");
    w(
        "kind.yaml",
        "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\n",
    );
    w("k8s/web.yaml", deploy);
    w(
        "k8s/db/pg.yaml",
        "apiVersion: v1\nkind: Service\nmetadata: {name: pg}\n",
    );
    w(
        "kustomize/overlays/dev/kustomization.yaml",
        "resources: []\n",
    );
    w(
        "chart/Chart.yaml",
        "apiVersion: v2\nname: shop\nversion: 0.1.0\n",
    );
    w("chart/templates/d.yaml", "{{ .Values }}\n");
    let run = Run::new(kubetest().current_dir(&dir).arg("init"));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let text = std::fs::read_to_string(dir.join("kubetest.yaml")).unwrap();
    let c = assert_loads(&dir).config;
    assert_eq!(c.name, "shop");
    let images: Vec<(&str, String)> = c
        .images
        .iter()
        .map(|i| (i.name.as_str(), i.context.display().to_string()))
        .collect();
    assert_eq!(
        images,
        [
            ("localhost/shop-web:dev", "web".to_owned()),
            ("localhost/shop-worker-prod:dev", "worker".to_owned())
        ]
    );
    assert_eq!(
        c.images[1].file.as_deref(),
        Some(Path::new("Dockerfile.prod"))
    );
    assert_eq!(c.cluster.config.as_deref(), Some(Path::new("kind.yaml")));
    assert_eq!(c.deploy.manifests, [PathBuf::from("k8s/")]);
    assert!(
        text.contains("kustomize layout at kustomize/overlays/dev"),
        "{text}"
    );
    assert!(text.contains("Helm chart at chart"), "{text}");
    assert!(dir.join("scenarios/example.yaml").is_file());
}

/// `init --from-compose` turns a compose file (PostgreSQL and Redis with healthchecks, a
/// migration job, `depends_on` with `service_healthy` and `service_completed_successfully`)
/// into an environment `up` brings to healthy on each real engine; `down` removes it.
#[test]
fn converted_compose_comes_up_healthy_on_real_engines() {
    for engine in engines() {
        if !has_real_images(
            &engine,
            &[
                "localhost/kubetest-postgres:15",
                "localhost/kubetest-redis:7",
            ],
        ) {
            continue;
        }
        let env = unique(&format!("i17-compose-{}", engine.name));
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join(&env);
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(
            dir.join("compose.yaml"),
            r#"services:
  db:
    image: localhost/kubetest-postgres:15
    restart: unless-stopped
    ports: ["5432"]
    environment:
      POSTGRES_DB: app
    healthcheck:
      test: ["CMD", "pg_isready", "-h", "127.0.0.1", "-U", "postgres"]
      interval: 200ms
      timeout: 5s
      retries: 50
  migrate:
    image: localhost/kubetest-postgres:15
    command: psql -h db -U postgres -v ON_ERROR_STOP=1 -c "create table items (id int)"
    depends_on:
      db:
        condition: service_healthy
  cache:
    image: localhost/kubetest-redis:7
    ports:
      - target: 6379
    environment:
      - MODE=test
    healthcheck:
      test: redis-cli ping | grep -q PONG
      interval: 200ms
      retries: 50
    depends_on:
      db:
        condition: service_healthy
      migrate:
        condition: service_completed_successfully
"#,
        )
        .unwrap();
        let init = Run::new(
            engine
                .kubetest(&dir)
                .args(["init", "--from-compose", "compose.yaml"]),
        );
        assert_eq!(init.code, 0, "{}: {}", engine.name, init.stderr);
        let text = std::fs::read_to_string(dir.join("kubetest.yaml")).unwrap();
        assert!(text.contains("once: true"), "{text}");
        assert!(text.contains("provider: none"), "{text}");
        let started = std::time::Instant::now();
        let up = Run::new(engine.kubetest(&dir).args(["up", "--output", "json"]));
        eprintln!(
            "{}: converted compose up in {:?}",
            engine.name,
            started.elapsed()
        );
        let outcomes = up.task_outcomes("deps");
        let down = Run::new(engine.kubetest(&dir).args(["down", "--output", "json"]));
        assert_eq!(
            up.code, 0,
            "{}: {}\n{}\n{text}",
            engine.name, up.stderr, up.stdout
        );
        for dep in ["db", "migrate", "cache"] {
            assert!(
                outcomes.iter().any(|(t, o)| t == dep && o == "ok"),
                "{}: {dep} not ok: {outcomes:?}",
                engine.name
            );
        }
        let ts = |kind: &str, task: &str| {
            up.events
                .iter()
                .find(|e| e["event"] == kind && e["phase"] == "deps" && e["task"] == task)
                .and_then(|e| e["ts_ms"].as_u64())
                .unwrap_or_else(|| panic!("no {kind} for {task}"))
        };
        assert!(ts("task_finished", "db") <= ts("task_started", "migrate"));
        assert!(ts("task_finished", "migrate") <= ts("task_started", "cache"));
        assert_eq!(down.code, 0, "{}: {}", engine.name, down.stderr);
        assert_eq!(labelled(&engine, &env), (vec![], vec![]), "{}", engine.name);
    }
}

/// Variables and `env_file` values come from the files beside the compose file: the n8n
/// fixture with the `.env` its README asks for (values as in its `.env.example`).
#[test]
fn dot_env_resolves_variables_and_env_file_values_are_copied_in() {
    let compose = root().join("fixtures/compose/n8n-ai-starter-kit/docker-compose.yml");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("n8n");
    std::fs::create_dir(&dir).unwrap();
    std::fs::copy(&compose, dir.join("docker-compose.yml")).unwrap();
    std::fs::write(
        dir.join(".env"),
        "POSTGRES_USER=root\nPOSTGRES_PASSWORD=password\nPOSTGRES_DB=n8n\n\nN8N_ENCRYPTION_KEY=super-secret-key\n",
    )
    .unwrap();
    let run = Run::new(kubetest().current_dir(&dir).args([
        "init",
        "--from-compose",
        "docker-compose.yml",
        "--output",
        "json",
    ]));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(report["dependencies"], 4, "{report}");
    let text = std::fs::read_to_string(dir.join("kubetest.yaml")).unwrap();
    let c = assert_loads(&dir).config;
    let n8n = &c.dependencies["n8n"].env;
    assert_eq!(n8n["DB_POSTGRESDB_USER"], "root");
    assert_eq!(
        n8n["N8N_ENCRYPTION_KEY"], "super-secret-key",
        "from env_file"
    );
    let pg = c.dependencies["postgres"].health.as_ref().unwrap();
    assert_eq!(
        pg.exec.as_ref().unwrap()[2],
        "pg_isready -h localhost -U root -d n8n"
    );
    assert!(
        text.contains("variables taken from .env: POSTGRES_DB, POSTGRES_PASSWORD, POSTGRES_USER"),
        "{text}"
    );
    assert!(text.contains("includes the variables of .env"), "{text}");
    assert!(!text.contains("is not set in .env"), "{text}");

    // `-q` prints nothing; `init --help` teaches.
    let quiet = Run::new(kubetest().current_dir(&dir).args(["init", "--force", "-q"]));
    assert_eq!(
        (quiet.code, quiet.stdout.as_str()),
        (0, ""),
        "{}",
        quiet.stderr
    );
    let help = Run::new(kubetest().args(["init", "--help"]));
    assert!(
        help.stdout.contains("Example:") && help.stdout.contains("--from-compose"),
        "{}",
        help.stdout
    );
}

/// A compose `build:` whose context exists becomes the one `images:` entry of that
/// Containerfile (not listed again by the tree scan), named by the service's `image:`, and the
/// dependency runs that image.
#[test]
fn compose_builds_become_images_listed_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    std::fs::create_dir_all(dir.join("api")).unwrap();
    std::fs::create_dir_all(dir.join("worker")).unwrap();
    std::fs::write(dir.join("api/Dockerfile"), "FROM scratch\n").unwrap();
    std::fs::write(dir.join("worker/Containerfile"), "FROM scratch\n").unwrap();
    std::fs::write(dir.join("Dockerfile"), "FROM scratch\n").unwrap();
    std::fs::write(
        dir.join("compose.yaml"),
        r#"services:
  api:
    image: localhost/store-api:latest
    build:
      context: ./api
      args: { VERSION: "1.2" }
  worker:
    build: worker
    depends_on: [api]
  root:
    build: .
"#,
    )
    .unwrap();
    let run =
        Run::new(
            kubetest()
                .current_dir(&dir)
                .args(["init", "--from-compose", "compose.yaml"]),
        );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let c = assert_loads(&dir).config;
    let images: Vec<(&str, String)> = c
        .images
        .iter()
        .map(|i| (i.name.as_str(), i.context.display().to_string()))
        .collect();
    assert_eq!(
        images,
        [
            ("localhost/store-api:latest", "api".to_owned()),
            ("localhost/store-worker:dev", "worker".to_owned()),
            ("localhost/store-root:dev", ".".to_owned()),
        ]
    );
    assert_eq!(c.images[0].args["VERSION"], "1.2");
    assert_eq!(c.dependencies["worker"].image, "localhost/store-worker:dev");
    assert_eq!(c.dependencies["worker"].needs, ["api"]);
}
