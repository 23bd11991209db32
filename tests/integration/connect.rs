//! The connect phase on real Podman and Docker, with the Kubernetes side on the API double:
//! a dependency started by the deps phase; a busybox container playing a kind node (kind's
//! labels, on its own network as kind's nodes are on `kind`); the connect phase joins it to
//! the environment's network and publishes Service, EndpointSlice and ConfigMap; from inside
//! the "node" the dependency answers at the address the EndpointSlice holds. A recreated
//! dependency gets a new address and the slice follows; `down` detaches the node, so the
//! network is removed, and deletes the objects of the kept cluster.

use crate::apidouble::ApiDouble;
use crate::engines::{busybox_context, engines, TestEngine};
use crate::k8s_support::phase_ctx;
use crate::support::unique;
use bollard::models::{ContainerCreateBody, HostConfig, NetworkCreateRequest};
use kubetest::engine::{attach, connect_endpoint, containers, Endpoint, Engine};
use kubetest::events::Outcome;
use kubetest::phases::{self, PhaseCtx};
use std::collections::HashMap;

const NS: &str = "shop";

fn config(engine: &TestEngine, env: &str, cluster: &str, image: &str) -> String {
    format!(
        r#"name: {env}
engine: {engine}
cluster: {{ provider: kind, name: {cluster} }}
images:
  - {{ name: {image}, context: bb }}
dependencies:
  web:
    image: {image}
    command: [/bin/busybox, sh, -c, "mkdir -p /www && echo hello-from-web > /www/index.html && exec /bin/busybox httpd -f -p 8080 -h /www"]
    ports: ["0:8080"]
    health: {{ http: {{ port: 8080, path: /index.html }}, interval: 100ms, timeout: 30s }}
deploy: {{ namespace: {NS} }}
"#,
        engine = engine.name
    )
}

async fn connect(engine: &TestEngine) -> Engine {
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

/// A container like a kind node: kind's labels, on network `kind_net`, running `sleep`
/// (busybox's, or the image's own when it has no busybox).
async fn start_node(e: &Engine, name: &str, cluster: &str, image: &str, kind_net: &str) {
    let sleep = if image == PG {
        "/bin/sleep"
    } else {
        "/bin/busybox"
    };
    e.docker
        .create_network(NetworkCreateRequest {
            name: kind_net.to_owned(),
            driver: Some("bridge".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let labels = HashMap::from([
        ("io.x-k8s.kind.cluster".to_owned(), cluster.to_owned()),
        ("io.x-k8s.kind.role".to_owned(), "control-plane".to_owned()),
    ]);
    e.docker
        .create_container(
            Some(
                bollard::query_parameters::CreateContainerOptionsBuilder::default()
                    .name(name)
                    .build(),
            ),
            ContainerCreateBody {
                image: Some(image.to_owned()),
                labels: Some(labels),
                cmd: Some(if sleep == "/bin/sleep" {
                    vec![sleep.into(), "3600".into()]
                } else {
                    vec![sleep.into(), "sleep".into(), "3600".into()]
                }),
                host_config: Some(HostConfig {
                    network_mode: Some(kind_net.to_owned()),
                    ..Default::default()
                }),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    containers::start(&e.docker, name).await.unwrap();
}

/// Names of the networks container `name` is attached to.
async fn networks_of(e: &Engine, name: &str) -> Vec<String> {
    let c = e
        .docker
        .inspect_container(
            name,
            None::<bollard::query_parameters::InspectContainerOptions>,
        )
        .await
        .unwrap();
    let mut nets: Vec<String> = c
        .network_settings
        .and_then(|n| n.networks)
        .unwrap_or_default()
        .into_keys()
        .collect();
    nets.sort();
    nets
}

/// The one address of the EndpointSlice of `web` in the double.
/// `down` of a cluster kubetest did not create (kept): the node is detached from the
/// environment's network, so only kind's own network stays on it.
async fn down_keeping_the_cluster(
    ctx: &PhaseCtx,
    e: &Engine,
    node: &str,
    kind_net: &str,
    engine: &str,
) {
    ctx.state
        .update(|s| {
            if let Some(c) = &mut s.cluster {
                c.created = false;
            }
        })
        .unwrap();
    phases::teardown::run(ctx, phases::teardown::TeardownOptions::default())
        .await
        .unwrap();
    assert_eq!(
        networks_of(e, node).await,
        [kind_net.to_owned()],
        "{engine}"
    );
}

fn slice_address(double: &ApiDouble) -> String {
    let slice = double
        .get(
            "discovery.k8s.io",
            "endpointslices",
            Some(NS),
            "web-kubetest",
        )
        .expect("EndpointSlice web-kubetest");
    let eps = slice["endpoints"].as_array().unwrap();
    assert_eq!(eps.len(), 1, "{slice}");
    let addrs = eps[0]["addresses"].as_array().unwrap();
    assert_eq!(addrs.len(), 1, "{slice}");
    addrs[0].as_str().unwrap().to_owned()
}

/// What `wget` inside the node container gets from `http://addr:port/index.html`.
async fn fetch_from_node(e: &Engine, node: &str, addr: &str, port: u16) -> String {
    let url = format!("http://{addr}:{port}/index.html");
    let out = containers::exec(
        &e.docker,
        node,
        // busybox-static's `wget -T` segfaults (exit 139) here; `timeout` bounds it instead.
        &[
            "/bin/busybox".into(),
            "timeout".into(),
            "10".into(),
            "/bin/busybox".into(),
            "wget".into(),
            "-q".into(),
            "-O".into(),
            "-".into(),
            url.clone(),
        ],
    )
    .await
    .unwrap();
    assert_eq!(out.code, 0, "wget {url} in {node}: {}", out.combined());
    out.stdout
}

async fn web_address(e: &Engine, ctx: &PhaseCtx) -> String {
    let network = phases::deps::network_name(&ctx.plan.environment);
    containers::inspect(
        &e.docker,
        &ctx.plan.dependencies[0].container_name,
        &network,
    )
    .await
    .unwrap()
    .and_then(|c| c.address)
    .expect("web has an address on the environment's network")
}

#[test]
fn a_node_reaches_the_dependency_at_the_published_address_and_down_detaches_it() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    for te in engines() {
        rt.block_on(one_engine(&te));
    }
}

async fn one_engine(te: &TestEngine) {
    let tmp = tempfile::tempdir().unwrap();
    let env = unique(&format!("kt-reach-{}", te.name));
    let cluster = unique(&format!("ktr-{}", te.name));
    let image = format!("localhost/kt-reach-bb-{}:1", te.name);
    busybox_context(&tmp.path().join("bb"), "reach", None);
    let double = ApiDouble::start().await;
    let (ctx, _events) = phase_ctx(
        &double,
        tmp.path(),
        &config(te, &env, &cluster, &image),
        &[],
    );
    let e = connect(te).await;
    ctx.state.update(|s| s.engine = Some(e.record())).unwrap();
    let node = format!("{cluster}-control-plane");
    let kind_net = format!("kind-{cluster}");
    let network = phases::deps::network_name(&env);

    phases::build::run(&ctx, Some(&e)).await.unwrap();
    phases::deps::run(&ctx, Some(&e)).await.unwrap();
    start_node(&e, &node, &cluster, &image, &kind_net).await;
    assert_eq!(
        networks_of(&e, &node).await,
        std::slice::from_ref(&kind_net)
    );

    // Connect: the node joins the environment's network; Service, slice, values published.
    let out = phases::connect::run(&ctx, Some(&e)).await.unwrap();
    assert_eq!(out, Outcome::Ok, "{}", te.name);
    let mut want_nets = vec![kind_net.clone(), network.clone()];
    want_nets.sort();
    assert_eq!(networks_of(&e, &node).await, want_nets, "{}", te.name);
    let first = web_address(&e, &ctx).await;
    assert_eq!(slice_address(&double), first, "{}", te.name);
    let svc = double
        .get("", "services", Some(NS), "web")
        .expect("Service web");
    assert_eq!(svc["spec"]["ports"][0]["port"], 8080);
    assert!(svc["spec"].get("selector").is_none());
    let cm = double
        .get("", "configmaps", Some(NS), "kubetest-deps")
        .expect("ConfigMap kubetest-deps");
    assert_eq!(cm["data"]["KUBETEST_DEP_WEB_HOST"], format!("web.{NS}.svc"));
    assert_eq!(cm["data"]["KUBETEST_DEP_WEB_PORT_8080"], "8080");
    assert_eq!(cm["data"]["KUBETEST_DEP_WEB_ADDRESS"], first.as_str());
    // The node reaches the dependency at the address kubetest published.
    assert_eq!(
        fetch_from_node(&e, &node, &first, 8080).await,
        "hello-from-web\n",
        "{}",
        te.name
    );
    let state = ctx.state.snapshot();
    assert_eq!(state.attachments.len(), 1, "{:?}", state.attachments);
    assert_eq!(state.attachments[0].container, node);
    let kinds: Vec<&str> = state
        .cluster_objects
        .iter()
        .map(|r| r.kind.as_str())
        .collect();
    assert_eq!(
        kinds,
        ["Namespace", "Service", "EndpointSlice", "ConfigMap"],
        "the namespace did not exist: recorded as made by kubetest"
    );

    // Again: nothing to attach, the same objects.
    let again = phases::connect::run(&ctx, Some(&e)).await.unwrap();
    assert_eq!(again, Outcome::Reused, "{}", te.name);
    assert_eq!(ctx.state.snapshot().cluster_objects.len(), 4);

    // The dependency is recreated with a new address (a squatter takes the freed one).
    containers::remove(&e.docker, &ctx.plan.dependencies[0].container_name)
        .await
        .unwrap();
    let squatter = format!("kubetest-{env}-squatter");
    let labels =
        std::collections::BTreeMap::from([(containers::ENV_LABEL.to_owned(), env.clone())]);
    let sq = containers::ContainerSpec {
        name: squatter.clone(),
        image: image.clone(),
        command: Some(vec!["/bin/busybox".into(), "sleep".into(), "3600".into()]),
        network: network.clone(),
        labels,
        ..Default::default()
    };
    containers::create(&e.docker, &sq).await.unwrap();
    containers::start(&e.docker, &squatter).await.unwrap();
    phases::deps::run(&ctx, Some(&e)).await.unwrap();
    let second = web_address(&e, &ctx).await;
    assert_ne!(second, first, "{}: a new address", te.name);
    phases::connect::run(&ctx, Some(&e)).await.unwrap();
    assert_eq!(
        slice_address(&double),
        second,
        "{}: the slice follows",
        te.name
    );
    assert_eq!(
        double
            .get("", "configmaps", Some(NS), "kubetest-deps")
            .unwrap()["data"]["KUBETEST_DEP_WEB_ADDRESS"],
        second.as_str()
    );
    assert_eq!(
        fetch_from_node(&e, &node, &second, 8080).await,
        "hello-from-web\n"
    );

    // down with the cluster kept: node detached, so the network goes; objects deleted.
    down_keeping_the_cluster(&ctx, &e, &node, &kind_net, te.name).await;
    let gone = e
        .docker
        .inspect_network(
            &network,
            None::<bollard::query_parameters::InspectNetworkOptions>,
        )
        .await;
    assert!(gone.is_err(), "{}: network {network} removed", te.name);
    for (group, plural, name) in [
        ("", "services", "web"),
        ("discovery.k8s.io", "endpointslices", "web-kubetest"),
        ("", "configmaps", "kubetest-deps"),
    ] {
        assert!(
            double.get(group, plural, Some(NS), name).is_none(),
            "{plural}/{name} deleted"
        );
    }
    assert!(double.get("", "namespaces", None, NS).is_none());
    let state = ctx.state.snapshot();
    assert!(state.attachments.is_empty() && state.cluster_objects.is_empty());
    // Twice is fine: nothing left to detach or delete.
    attach::disconnect(&e.docker, &network, &node)
        .await
        .unwrap();
    phases::teardown::run(&ctx, phases::teardown::TeardownOptions::default())
        .await
        .unwrap();

    containers::remove(&e.docker, &node).await.unwrap();
    containers::remove_network(&e.docker, &kind_net)
        .await
        .unwrap();
}

/// `kubetest up` and `down` as a user runs them: the fake kind "creates" the cluster (its
/// kubeconfig points at the API double), a container with kind's labels plays its node, the
/// dependency runs on the real engine; a Deployment with `envFrom: kubetest-deps` is applied.
#[test]
fn up_connects_before_deploy_and_down_detaches_through_the_cli() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    for te in engines() {
        let image = format!("localhost/kt-reach-bb-{}:1", te.name);
        // The dependency's image, built by kubetest itself (`provider: none`).
        let build_dir = tempfile::tempdir().unwrap();
        busybox_context(&build_dir.path().join("bb"), "reach", None);
        std::fs::write(
            build_dir.path().join("kubetest.yaml"),
            format!(
                "name: kt-reach-img\nengine: {}\ncluster: {{ provider: none }}\nimages:\n  - {{ name: {image}, context: bb }}\n",
                te.name
            ),
        )
        .unwrap();
        let built = crate::support::Run::new(
            te.kubetest(build_dir.path())
                .args(["up", "--output", "json"]),
        );
        assert_eq!(built.code, 0, "{}", built.stderr);

        let double = rt.block_on(ApiDouble::start());
        let e = rt.block_on(connect(&te));
        let env = unique(&format!("kt-reachcli-{}", te.name));
        let cluster = unique(&format!("ktc-{}", te.name));
        let node = format!("{cluster}-control-plane");
        let kind_net = format!("kind-{cluster}");
        rt.block_on(start_node(&e, &node, &cluster, &image, &kind_net));

        let dir = tempfile::tempdir().unwrap();
        let yaml = config(&te, &env, &cluster, &image)
            .replace(
                &format!("cluster: {{ provider: kind, name: {cluster} }}"),
                &format!(
                    "cluster: {{ provider: kind, name: {cluster}, kind_binary: {} }}",
                    crate::fake_kind::binary().display()
                ),
            )
            .replace("images:\n  - { name: ", "# images:\n#  - { name: ")
            .replace(
                &format!("deploy: {{ namespace: {NS} }}"),
                &format!("deploy: {{ namespace: {NS}, manifests: [app.yaml] }}"),
            );
        std::fs::write(dir.path().join("kubetest.yaml"), yaml).unwrap();
        std::fs::write(
            dir.path().join("app.yaml"),
            format!("apiVersion: apps/v1\nkind: Deployment\nmetadata: {{ name: app, namespace: {NS} }}\nspec:\n  selector: {{ matchLabels: {{ app: app }} }}\n  template:\n    metadata: {{ labels: {{ app: app }} }}\n    spec:\n      containers:\n        - name: app\n          image: {image}\n          envFrom: [{{ configMapRef: {{ name: kubetest-deps }} }}]\n"),
        )
        .unwrap();
        let fake = crate::fake_kind::FakeKind::new();
        let home = tempfile::tempdir().unwrap();
        let cli = |args: &[&str]| {
            let mut c = te.kubetest(dir.path());
            fake.apply(&mut c);
            c.env("FAKE_KIND_SERVER", double.url())
                .env("HOME", home.path())
                .args(args)
                .args(["--output", "json"]);
            crate::support::Run::new(&mut c)
        };

        let up = cli(&["up"]);
        assert_eq!(up.code, 0, "{}: {}\n{}", te.name, up.stderr, up.stdout);
        assert_eq!(
            up.phase_outcome("connect").as_deref(),
            Some("ok"),
            "{}",
            te.name
        );
        let order: Vec<&str> = up.texts("phase_started", "phase");
        let at = |p: &str| order.iter().position(|x| *x == p).unwrap();
        assert!(
            at("deps") < at("connect") && at("connect") < at("deploy"),
            "{order:?}"
        );
        let mut tasks: Vec<String> = up
            .task_outcomes("connect")
            .into_iter()
            .map(|(t, _)| t)
            .collect();
        tasks.sort();
        assert_eq!(
            tasks,
            [
                "configmap kubetest-deps".to_owned(),
                format!("node {node}"),
                "web".to_owned()
            ]
        );
        let addr = slice_address(&double);
        assert!(
            double.applied().contains(&format!("Deployment {NS}/app")),
            "{:?}",
            double.applied()
        );
        assert_eq!(
            rt.block_on(fetch_from_node(&e, &node, &addr, 8080)),
            "hello-from-web\n"
        );

        let again = cli(&["up"]);
        assert_eq!(again.code, 0, "{}", again.stderr);
        let connect_ms = |r: &crate::support::Run| {
            r.events
                .iter()
                .find(|e| e["event"] == "phase_finished" && e["phase"] == "connect")
                .and_then(|e| e["elapsed_ms"].as_u64())
                .unwrap_or(0)
        };
        eprintln!(
            "{}: connect phase {} ms (attach + apply), again {} ms (nothing to attach)",
            te.name,
            connect_ms(&up),
            connect_ms(&again)
        );
        assert_eq!(again.phase_outcome("connect").as_deref(), Some("reused"));
        // `status` checks each recorded thing live; `--output json` is one object.
        let status = cli(&["status"]);
        let report: serde_json::Value = serde_json::from_str(&status.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", status.stdout));
        let items: Vec<(String, String)> = report["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                (
                    format!(
                        "{} {}",
                        i["kind"].as_str().unwrap(),
                        i["name"].as_str().unwrap()
                    ),
                    i["health"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        for want in [
            format!("attachment {node} on kubetest-{env}"),
            format!("cluster object Service {NS}/web"),
            format!("cluster object EndpointSlice {NS}/web-kubetest"),
            format!("cluster object ConfigMap {NS}/kubetest-deps"),
        ] {
            assert!(
                items.contains(&(want.clone(), "ok".to_owned())),
                "{want} ok in {items:?}"
            );
        }

        // The fake kind cluster was made by `up`: down detaches the node before it removes
        // the network (or the removal would fail), then deletes the cluster; the fake kind
        // keeps no nodes, so down's sweep by kind's label removes the node container, as
        // `kind delete cluster` would.
        let down = cli(&["down"]);
        assert_eq!(
            down.code, 0,
            "{}: {}\n{}",
            te.name, down.stderr, down.stdout
        );
        let detached = down.events.iter().any(|e| {
            e["event"] == "task_finished"
                && e["task"] == format!("node {node}")
                && e["outcome"] == "ok"
        });
        assert!(detached, "{}: node detached: {}", te.name, down.stdout);
        let gone = rt
            .block_on(e.docker.inspect_container(
                &node,
                None::<bollard::query_parameters::InspectContainerOptions>,
            ))
            .is_err();
        assert!(
            gone,
            "{}: the node container is removed with the cluster",
            te.name
        );
        let state: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join(".kubetest/state.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(state["attachments"], serde_json::json!([]));
        assert_eq!(state["networks"], serde_json::json!([]));
        assert_eq!(state["cluster_objects"], serde_json::json!([]));

        rt.block_on(async {
            containers::remove_network(&e.docker, &kind_net)
                .await
                .unwrap();
        });
    }
}

const PG: &str = "localhost/kubetest-postgres:15";

/// Run `psql` against `addr:5432` inside the node container; its stdout.
async fn psql_from_node(e: &Engine, node: &str, addr: &str, sql: &str) -> String {
    let cmd: Vec<String> = [
        "psql",
        "-h",
        addr,
        "-p",
        "5432",
        "-U",
        "postgres",
        "-v",
        "ON_ERROR_STOP=1",
        "-tAc",
        sql,
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let out = containers::exec(&e.docker, node, &cmd).await.unwrap();
    assert_eq!(out.code, 0, "psql {sql} in {node}: {}", out.combined());
    out.stdout.trim().to_owned()
}

/// Real PostgreSQL (from `.ci/images.sh`) as the dependency, a migration job, and a "node"
/// that writes and reads rows at the address kubetest published — what a pod behind the
/// Service `postgres` does, minus kube-proxy and CoreDNS, which only a real cluster has.
#[test]
fn a_node_writes_and_reads_postgres_at_the_published_address() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    for te in engines() {
        if !crate::deps::has_real_images(&te, &[PG]) {
            continue;
        }
        rt.block_on(async {
            let tmp = tempfile::tempdir().unwrap();
            let env = unique(&format!("kt-reachpg-{}", te.name));
            let cluster = unique(&format!("ktp-{}", te.name));
            let yaml = format!(
                r#"name: {env}
engine: {engine}
cluster: {{ provider: kind, name: {cluster} }}
dependencies:
  postgres:
    image: {PG}
    ports: ["0:5432"]
    health: {{ exec: [pg_isready, -h, 127.0.0.1, -U, postgres], interval: 200ms, timeout: 60s }}
  migrate:
    image: {PG}
    needs: [postgres]
    once: true
    command: [psql, -h, postgres, -U, postgres, -v, ON_ERROR_STOP=1, -c, "create table orders (id serial primary key, item text not null)"]
deploy: {{ namespace: {NS} }}
"#,
                engine = te.name
            );
            let double = ApiDouble::start().await;
            let (ctx, _) = phase_ctx(&double, tmp.path(), &yaml, &[]);
            let e = connect(&te).await;
            ctx.state.update(|s| s.engine = Some(e.record())).unwrap();
            let node = format!("{cluster}-control-plane");
            let kind_net = format!("kind-{cluster}");
            phases::deps::run(&ctx, Some(&e)).await.unwrap();
            start_node(&e, &node, &cluster, PG, &kind_net).await;

            phases::connect::run(&ctx, Some(&e)).await.unwrap();
            let slice = double
                .get("discovery.k8s.io", "endpointslices", Some(NS), "postgres-kubetest")
                .expect("EndpointSlice postgres-kubetest");
            let addr = slice["endpoints"][0]["addresses"][0].as_str().unwrap().to_owned();
            assert_eq!(slice["ports"][0]["port"], 5432);
            assert!(
                double.get("", "services", Some(NS), "migrate").is_none(),
                "a one-shot job gets no Service"
            );
            let cm = double.get("", "configmaps", Some(NS), "kubetest-deps").unwrap();
            assert_eq!(cm["data"]["KUBETEST_DEP_POSTGRES_PORT_5432"], "5432");
            assert_eq!(cm["data"]["KUBETEST_DEP_POSTGRES_ADDRESS"], addr.as_str());

            let id = psql_from_node(
                &e,
                &node,
                &addr,
                "insert into orders (item) values ('book') returning id",
            )
            .await;
            assert_eq!(
                psql_from_node(&e, &node, &addr, &format!("select item from orders where id = {}", id.lines().next().unwrap_or("0"))).await,
                "book",
                "{}",
                te.name
            );

            down_keeping_the_cluster(&ctx, &e, &node, &kind_net, te.name).await;
            containers::remove(&e.docker, &node).await.unwrap();
            containers::remove_network(&e.docker, &kind_net).await.unwrap();
        });
    }
}
