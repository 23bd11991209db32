//! Every invalid config fixture gives its exact error; valid fixtures cover every key.

use crate::support::{assert_golden, kubetest, root};
use kubetest::config::{self, EngineChoice, Provider};
use std::path::Path;

#[test]
fn each_invalid_fixture_gives_its_exact_error() {
    let dir = Path::new("fixtures/config/invalid");
    let mut count = 0;
    let mut entries: Vec<_> = std::fs::read_dir(root().join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
    {
        let rel = dir.join(path.file_name().unwrap());
        let err = config::load(&rel).expect_err(&format!("{} should be invalid", rel.display()));
        let text = err
            .to_string()
            .replace(&root().display().to_string(), "{root}");
        assert!(
            err.problems.iter().all(|p| p.location.is_some()),
            "{}: every problem is located",
            rel.display()
        );
        assert_golden(&path.with_extension("err"), &(text + "\n"));
        count += 1;
    }
    assert!(count >= 20, "only {count} invalid fixtures");
}

#[test]
fn invalid_config_exits_2_and_creates_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("kubetest.yaml");
    std::fs::copy(root().join("fixtures/config/invalid/cycle-two.yaml"), &cfg).unwrap();
    for cmd in ["up", "down", "status", "run"] {
        let out = kubetest()
            .current_dir(tmp.path())
            .arg(cmd)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{cmd}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("kubetest.yaml:4:28: dependency cycle: redis -> app -> redis"),
            "{stderr}"
        );
    }
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        left,
        vec![std::ffi::OsString::from("kubetest.yaml")],
        "nothing but the config"
    );
}

#[test]
fn missing_file_and_directory_are_explained() {
    let tmp = tempfile::tempdir().unwrap();
    let out = kubetest()
        .current_dir(tmp.path())
        .arg("up")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("error: kubetest.yaml: config file not found"),
        "{stderr}"
    );
    assert!(stderr.contains(
        "expected: a kubetest.yaml in the current directory, or a path given with -f/--file"
    ));

    std::fs::write(tmp.path().join("kubetest.yaml"), "name: x\n").unwrap();
    let out = kubetest()
        .arg("-f")
        .arg(tmp.path())
        .arg("status")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("is a directory, not a config file"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "hint: use -f {}",
            tmp.path().join("kubetest.yaml").display()
        )),
        "{stderr}"
    );
}

#[test]
fn full_fixture_sets_every_key() {
    let loaded = config::load(&root().join("fixtures/config/valid/full.yaml")).unwrap();
    let c = &loaded.config;
    assert_eq!(c.name, "full-demo");
    assert_eq!(c.engine.kind, EngineChoice::Podman);
    assert_eq!(
        c.engine.host.as_deref(),
        Some("unix:///run/podman/podman.sock")
    );
    assert_eq!(c.engine.timeout, config::Duration::from_secs(120));
    assert_eq!(c.images.len(), 2);
    let app = &c.images[0];
    assert_eq!(app.args.get("VERSION").map(String::as_str), Some("dev"));
    assert_eq!(app.target.as_deref(), Some("runtime"));
    assert_eq!(app.labels.get("team").map(String::as_str), Some("e2e"));
    assert_eq!((c.build.jobs, c.build.overlap_cluster), (Some(3), false));
    let cl = &c.cluster;
    assert_eq!(cl.provider, Provider::Kind);
    assert_eq!(cl.wait.get(), std::time::Duration::from_secs(120));
    assert_eq!((cl.retries, cl.export_kubeconfig), (4, true));
    assert_eq!(cl.preload, vec!["docker.io/library/busybox:1.36"]);
    assert_eq!(cl.load, config::LoadMode::Registry);
    assert_eq!(
        (cl.local_registry.image.as_str(), cl.local_registry.port),
        ("registry:2", Some(5001))
    );
    let pg = &c.dependencies["postgres"];
    assert_eq!(pg.ports[0].to_string(), "15432:5432/tcp");
    assert_eq!(pg.ports[1].host, None, "0 means pick a free port");
    assert!(pg.volumes[0].read_only && !pg.volumes[1].read_only);
    let h = pg.health.as_ref().unwrap();
    assert_eq!(h.interval.get(), std::time::Duration::from_millis(250));
    assert_eq!(h.start_period.get(), std::time::Duration::from_secs(1));
    assert!(c.dependencies["migrate"].once);
    let web = c.dependencies["web"]
        .health
        .as_ref()
        .unwrap()
        .http
        .as_ref()
        .unwrap();
    assert_eq!(
        (web.port, web.path.as_str(), web.status),
        (Some(8080), "/healthz", 204)
    );
    assert_eq!(c.deploy.wait.len(), 5);
    assert_eq!(c.deploy.wait[0].restarts_allowed, 0);
    assert_eq!(c.artifacts.as_deref(), Some(Path::new("out/artifacts")));
    let setup: Vec<String> = c
        .setup
        .iter()
        .enumerate()
        .map(|(i, s)| s.title(i))
        .collect();
    assert_eq!(
        setup,
        [
            "register the fixtures",
            "step 2: run echo {{ fixture }} {{ deps.web.port.8080 }}"
        ]
    );
    assert_eq!(
        c.setup[0].capture.get("fixture").map(String::as_str),
        Some(".id")
    );
    let order: Vec<&str> = c.dependencies.keys().map(String::as_str).collect();
    assert_eq!(
        order,
        ["postgres", "migrate", "redis", "web", "logger", "probe"]
    );
}

#[test]
fn minimal_fixture_gets_the_defaults() {
    let c = config::load(&root().join("fixtures/config/valid/minimal.yaml"))
        .unwrap()
        .config;
    assert_eq!(c.engine.kind, EngineChoice::Auto);
    assert_eq!(c.cluster.provider, Provider::Kind);
    assert_eq!(c.cluster.wait.get(), std::time::Duration::from_secs(60));
    assert_eq!(c.cluster.retries, 2);
    assert_eq!(c.deploy.namespace, "default");
    assert!(c.build.overlap_cluster);
    let existing = config::load(&root().join("fixtures/config/valid/existing.yaml"))
        .unwrap()
        .config;
    assert_eq!(existing.cluster.provider, Provider::Existing);
    assert_eq!(existing.cluster.context.as_deref(), Some("staging"));
}

#[test]
fn shipped_example_is_valid() {
    config::load(&root().join("examples/quickstart/kubetest.yaml")).unwrap();
}

#[test]
fn mixed_example_and_its_scenarios_are_valid() {
    let loaded = config::load(&root().join("examples/mixed/kubetest.yaml")).unwrap();
    let c = &loaded.config;
    assert_eq!(c.cluster.provider, Provider::Kind);
    assert_eq!(c.deploy.namespace, "mixed");
    let plan = kubetest::plan::Plan::from_config(&loaded);
    let known = kubetest::scenario::load::Known {
        dependencies: plan
            .dependencies
            .iter()
            .map(|d| {
                (
                    d.name.clone(),
                    d.spec.ports.iter().map(|p| p.container).collect(),
                )
            })
            .collect(),
    };
    let scenarios =
        kubetest::scenario::load::load_dir(plan.scenarios_dir.as_deref().unwrap(), &known)
            .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(scenarios.len(), 1);
    // The Deployment takes the values kubetest publishes, by the names the connect phase uses.
    let manifest =
        std::fs::read_to_string(root().join("examples/mixed/manifests/10-orders.yaml")).unwrap();
    assert!(manifest.contains(&format!(
        "configMapRef: {{ name: {} }}",
        kubetest::k8s::dep_services::VALUES_CONFIGMAP
    )));
    let postgres = plan
        .dependencies
        .iter()
        .find(|d| d.name == "postgres")
        .unwrap();
    let vars = kubetest::deps::outputs::cluster_env_vars(
        &[kubetest::deps::outputs::InCluster {
            dependency: postgres.name.clone(),
            address: "10.89.0.2".into(),
            ports: kubetest::deps::outputs::cluster_ports(&postgres.spec),
        }],
        &c.deploy.namespace,
    );
    for (name, value) in [
        ("KUBETEST_DEP_POSTGRES_HOST", "postgres.mixed.svc"),
        ("KUBETEST_DEP_POSTGRES_PORT_5432", "5432"),
    ] {
        assert!(
            vars.contains(&(name.to_owned(), value.to_owned())),
            "{vars:?}"
        );
        assert!(
            manifest.contains(name)
                || std::fs::read_to_string(root().join("examples/mixed/orders/www/cgi-bin/orders"))
                    .unwrap()
                    .contains(name),
            "the example reads {name}"
        );
    }
}

#[test]
fn a_byte_order_mark_is_accepted_in_configs_and_scenarios() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("kubetest.yaml");
    std::fs::write(&cfg, "\u{feff}---\nname: demo\n").unwrap();
    assert_eq!(config::load(&cfg).unwrap().config.name, "demo");
    let sc = tmp.path().join("s.yaml");
    std::fs::write(&sc, "\u{feff}name: s\nsteps:\n  - sleep: 1ms\n").unwrap();
    let known = kubetest::scenario::load::Known::default();
    let loaded = kubetest::scenario::load::load_file(&sc, &known).unwrap();
    assert_eq!(loaded[0].scenario.name, "s");
}

#[test]
fn scenario_values_are_range_checked_and_located() {
    let tmp = tempfile::tempdir().unwrap();
    let sc = tmp.path().join("s.yaml");
    std::fs::write(
        &sc,
        "name: s\nnamespace: Bad_NS\nsteps:\n  - sleep: 1ms\n    interval: 0s\n  - http: { url: /x, expect: { status: 999 }, forward: { service: Web, port: 0 } }\n  - run: { command: [echo, null] }\n  - wait: { apiVersion: v1, kind: Pod, selector: 'a=b=c', for: ready }\n",
    )
    .unwrap();
    let err = kubetest::scenario::load::load_file(&sc, &Default::default()).unwrap_err();
    let heads: Vec<String> = err
        .headlines()
        .iter()
        .map(|h| h.replace(&format!("{}:", sc.display()), ""))
        .collect();
    assert_eq!(
        heads,
        [
            "2:12: namespace: invalid namespace `Bad_NS`",
            "5:15: steps[0].interval: `0s` is out of range",
            "6:40: steps[1].http.expect.status: 999 is out of range",
            "6:67: steps[1].http.forward.service: invalid object name `Web`",
            "6:78: steps[1].http.forward.port: 0 is out of range",
            "7:28: steps[2].run.command[1]: wrong type: found null",
            "8:50: steps[3].wait.selector: invalid label selector: `a=b=c`: invalid label value `b=c` (at most 63 of letters, digits, `-`, `_`, `.`, starting and ending with a letter or digit)",
        ]
    );
}
