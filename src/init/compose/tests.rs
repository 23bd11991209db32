//! Conversion of single compose services, checked against the Compose specification's
//! documented forms (services: ports, volumes, healthcheck, depends_on, command).

use super::*;

fn convert_text(yaml: &str, root: &Path) -> Converted {
    let doc: Value = serde_yaml::from_str(yaml).unwrap();
    let ctx = Ctx {
        compose_dir: root.to_path_buf(),
        root,
        project: "demo".into(),
        home: None,
        dot_env: BTreeMap::new(),
    };
    convert_value(doc, &ctx, Path::new("compose.yaml")).unwrap()
}

fn dep<'a>(c: &'a Converted, name: &str) -> &'a DepDraft {
    c.dependencies.iter().find(|d| d.name == name).unwrap()
}

#[test]
fn ports_short_and_long_syntax() {
    let tmp = tempfile::tempdir().unwrap();
    let c = convert_text(
        r#"services:
  s:
    image: x
    ports:
      - "3000"
      - 8080:80
      - "127.0.0.1:5432:5432"
      - "[::1]:6000:6001/udp"
      - "9090-9091:8080-8081"
      - { target: 6379, published: "16379", protocol: tcp, host_ip: 0.0.0.0 }
      - { target: 53, protocol: udp }
"#,
        tmp.path(),
    );
    let ports: Vec<String> = dep(&c, "s")
        .spec
        .ports
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        ports,
        [
            "3000/tcp",
            "8080:80/tcp",
            "5432:5432/tcp",
            "6000:6001/udp",
            "9090:8080/tcp",
            "9091:8081/tcp",
            "16379:6379/tcp",
            "53/udp"
        ]
    );
    assert!(
        c.not_converted
            .iter()
            .any(|n| n.contains("host address ::1 dropped")),
        "{:?}",
        c.not_converted
    );
}

#[test]
fn volumes_bind_named_anonymous_and_risky() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("data")).unwrap();
    let c = convert_text(
        r#"services:
  s:
    image: x
    volumes:
      - ./data:/data
      - ./data:/ro:ro,z
      - named:/var/lib/x
      - /cache
      - ./missing:/m
      - /var/run/docker.sock:/var/run/docker.sock
      - { type: bind, source: ./data, target: /long, read_only: true }
      - { type: tmpfs, target: /tmp }
"#,
        tmp.path(),
    );
    let d = dep(&c, "s");
    let mounts: Vec<String> = d
        .spec
        .volumes
        .iter()
        .map(|v| format!("{}:{}:{}", v.host, v.container, v.read_only))
        .collect();
    assert_eq!(
        mounts,
        ["./data:/data:false", "./data:/ro:true", "./data:/long:true"]
    );
    let disabled: Vec<&str> = d.disabled_volumes.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(
        disabled,
        [
            "./missing:/m:rw",
            "/var/run/docker.sock:/var/run/docker.sock:rw"
        ]
    );
    let notes = c.not_converted.join("\n");
    for want in ["named volume `named`", "anonymous volume", "tmpfs mounts"] {
        assert!(notes.contains(want), "{want}: {notes}");
    }
}

#[test]
fn healthcheck_forms() {
    let tmp = tempfile::tempdir().unwrap();
    let c = convert_text(
        r#"services:
  cmd:
    image: x
    healthcheck: { test: [CMD, pg_isready, -U, postgres], interval: 1s, timeout: 2s, retries: 5, start_period: 1m30s }
  shell:
    image: x
    healthcheck: { test: [CMD-SHELL, "redis-cli ping | grep PONG"] }
  string:
    image: x
    healthcheck: { test: "curl -f http://localhost/", start_interval: 250ms }
  none:
    image: x
    healthcheck: { test: [NONE] }
  disabled:
    image: x
    healthcheck: { test: [CMD, x], disable: true }
"#,
        tmp.path(),
    );
    let h = dep(&c, "cmd").spec.health.clone().unwrap();
    assert_eq!(h.exec.unwrap(), ["pg_isready", "-U", "postgres"]);
    assert_eq!(h.interval, crate::config::Duration::from_secs(1));
    assert_eq!(h.timeout.get().as_secs(), 15, "5 × (1s + 2s)");
    assert_eq!(h.start_period.get().as_secs(), 90);
    let s = dep(&c, "shell").spec.health.clone().unwrap();
    assert_eq!(
        s.exec.unwrap(),
        ["/bin/sh", "-c", "redis-cli ping | grep PONG"]
    );
    assert_eq!(
        s.timeout.get().as_secs(),
        180,
        "compose defaults 3 × (30s + 30s)"
    );
    let st = dep(&c, "string").spec.health.clone().unwrap();
    assert_eq!(
        st.exec.unwrap(),
        ["/bin/sh", "-c", "curl -f http://localhost/"]
    );
    assert_eq!(st.interval.get().as_millis(), 250, "start_interval polls");
    assert!(dep(&c, "none").spec.health.is_none());
    assert!(dep(&c, "disabled").spec.health.is_none());
}

#[test]
fn depends_on_conditions_become_needs_and_once() {
    let tmp = tempfile::tempdir().unwrap();
    let c = convert_text(
        r#"services:
  db:
    image: postgres
    healthcheck: { test: [CMD, pg_isready] }
  migrate:
    image: m
    command: "migrate up --dir '/sql files'"
    healthcheck: { test: [CMD, "true"] }
    depends_on: { db: { condition: service_healthy } }
  app:
    image: a
    entrypoint: [/bin/app, --flag]
    environment: [A=1, B, "C=x=y"]
    depends_on:
      db: { condition: service_healthy, restart: true }
      migrate: { condition: service_completed_successfully }
      cache: { condition: service_started, required: false }
  cache:
    image: redis
    profiles: [full]
"#,
        tmp.path(),
    );
    let m = dep(&c, "migrate");
    assert!(m.spec.once && m.spec.health.is_none());
    assert_eq!(
        m.spec.command.as_deref().unwrap(),
        ["migrate", "up", "--dir", "/sql files"]
    );
    let a = dep(&c, "app");
    assert_eq!(a.spec.needs, ["db", "migrate"]);
    assert_eq!(
        a.spec.entrypoint.as_deref().unwrap(),
        ["/bin/app", "--flag"]
    );
    assert_eq!(a.spec.env.get("C").map(String::as_str), Some("x=y"));
    assert!(!a.spec.env.contains_key("B"));
    let notes = c.not_converted.join("\n");
    for want in [
        "services.migrate.healthcheck: dropped",
        "depends_on.db.restart",
        "`B` takes its value from the shell",
        "services.cache: only started with profile full",
        "depends_on.cache: `cache` is not converted",
    ] {
        assert!(notes.contains(want), "{want}: {notes}");
    }
}

#[test]
fn a_host_port_published_twice_gets_a_free_port_the_second_time() {
    let tmp = tempfile::tempdir().unwrap();
    let c = convert_text(
        r#"services:
  a: { image: x, ports: ["127.0.0.1:8080:80"] }
  b: { image: y, ports: ["127.0.0.2:8080:80"] }
  c: { image: "${UNSET_IMAGE}" }
"#,
        tmp.path(),
    );
    assert_eq!(dep(&c, "a").spec.ports[0].host, Some(8080));
    assert_eq!(dep(&c, "b").spec.ports[0].host, None);
    let notes = c.not_converted.join("\n");
    assert!(
        notes.contains("host port 8080 is also published by `a`"),
        "{notes}"
    );
    assert!(notes.contains("services.c.image: empty"), "{notes}");
}

#[test]
fn a_depends_on_cycle_is_the_compose_files_problem_named_with_its_services() {
    // Compose refuses such a file ("dependency cycle detected"); init says which services.
    let tmp = tempfile::tempdir().unwrap();
    let doc: Value = serde_yaml::from_str(
        "services:\n  web:\n    image: w\n    depends_on: [api]\n  api:\n    image: a\n    depends_on:\n      db: { condition: service_healthy }\n  db:\n    image: d\n    depends_on: [web]\n  cache:\n    image: c\n",
    )
    .unwrap();
    let ctx = Ctx {
        compose_dir: tmp.path().to_path_buf(),
        root: tmp.path(),
        project: "demo".into(),
        home: None,
        dot_env: BTreeMap::new(),
    };
    let err = convert_value(doc, &ctx, Path::new("compose.yaml")).unwrap_err();
    assert!(
        err.contains("dependency cycle api → db → web → api"),
        "{err}"
    );
    assert!(err.starts_with("services.api.depends_on"), "{err}");
}
