//! The cluster side of the connect phase against the API double: the Service and
//! EndpointSlice of a dependency, their update when its address changes, the values
//! ConfigMap a Deployment takes with `envFrom`, deletion (twice), and a rejected object.

use crate::apidouble::ApiDouble;
use crate::k8s_support::client;
use k8s_openapi::api::apps::v1::Deployment;
use kubetest::config::Protocol;
use kubetest::deps::outputs::{cluster_env_vars, InCluster};
use kubetest::k8s::dep_services::{self as ds, ClusterObjectError};

const NS: &str = "shop";
const ENV: &str = "demo";

fn postgres(address: &str) -> InCluster {
    InCluster {
        dependency: "postgres".into(),
        address: address.into(),
        ports: vec![(5432, Protocol::Tcp), (9187, Protocol::Tcp)],
    }
}

#[tokio::test]
async fn service_slice_and_values_follow_the_dependency_and_go_with_down() {
    let double = ApiDouble::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let c = client(&double, tmp.path()).await;

    let made = ds::ensure_namespace(&c, NS, ENV).await.unwrap();
    assert_eq!(made.as_ref().map(|r| r.kind.as_str()), Some("Namespace"));
    assert!(
        ds::ensure_namespace(&c, NS, ENV).await.unwrap().is_none(),
        "an existing namespace is not recorded as made"
    );
    assert!(ds::ensure_namespace(&c, "default", ENV)
        .await
        .unwrap()
        .is_none());

    let dep = postgres("10.89.0.7");
    let mut records = vec![made.unwrap()];
    records.push(
        ds::apply(&c, NS, &ds::service(&dep, NS, ENV))
            .await
            .unwrap(),
    );
    records.push(
        ds::apply(&c, NS, &ds::endpoint_slice(&dep, NS, ENV))
            .await
            .unwrap(),
    );
    let svc = double.get("", "services", Some(NS), "postgres").unwrap();
    let slice = double
        .get(
            "discovery.k8s.io",
            "endpointslices",
            Some(NS),
            "postgres-kubetest",
        )
        .unwrap();
    let names = |v: &serde_json::Value| -> Vec<(String, u64)> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["name"].as_str().unwrap().to_owned(),
                    p["port"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(
        names(&svc["spec"]["ports"]),
        names(&slice["ports"]),
        "kube-proxy pairs Service and slice ports by name"
    );
    assert_eq!(
        names(&svc["spec"]["ports"]),
        [("tcp-5432".to_owned(), 5432), ("tcp-9187".to_owned(), 9187)]
    );
    assert_eq!(
        slice["metadata"]["labels"]["kubernetes.io/service-name"],
        "postgres"
    );
    assert_eq!(
        slice["endpoints"][0]["addresses"],
        serde_json::json!(["10.89.0.7"])
    );
    let rv = slice["metadata"]["resourceVersion"].clone();

    // Recreated with a new address: applying again replaces the endpoints.
    ds::apply(&c, NS, &ds::endpoint_slice(&postgres("10.89.0.9"), NS, ENV))
        .await
        .unwrap();
    let slice = double
        .get(
            "discovery.k8s.io",
            "endpointslices",
            Some(NS),
            "postgres-kubetest",
        )
        .unwrap();
    assert_eq!(
        slice["endpoints"][0]["addresses"],
        serde_json::json!(["10.89.0.9"])
    );
    assert_eq!(slice["endpoints"].as_array().unwrap().len(), 1);
    assert_ne!(slice["metadata"]["resourceVersion"], rv);

    // The values, and a Deployment that takes them all with envFrom.
    let values = cluster_env_vars(&[postgres("10.89.0.9")], NS);
    records.push(
        ds::apply(&c, NS, &ds::values_config_map(&values, NS, ENV))
            .await
            .unwrap(),
    );
    let cm = double
        .get("", "configmaps", Some(NS), "kubetest-deps")
        .unwrap();
    assert_eq!(
        cm["data"]["KUBETEST_DEP_POSTGRES_HOST"],
        "postgres.shop.svc"
    );
    assert_eq!(cm["data"]["KUBETEST_DEP_POSTGRES_PORT_5432"], "5432");
    let app: Deployment = serde_yaml::from_str(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: { name: app, namespace: shop }
spec:
  selector: { matchLabels: { app: app } }
  template:
    metadata: { labels: { app: app } }
    spec:
      containers:
        - name: app
          image: localhost/app:dev
          envFrom: [{ configMapRef: { name: kubetest-deps } }]
"#,
    )
    .unwrap();
    ds::apply(&c, NS, &app).await.unwrap();
    let stored = double.get("apps", "deployments", Some(NS), "app").unwrap();
    assert_eq!(
        stored["spec"]["template"]["spec"]["containers"][0]["envFrom"][0]["configMapRef"]["name"],
        "kubetest-deps"
    );

    // down: newest first, each gone; a second time finds nothing and is fine.
    for rec in records.iter().rev() {
        ds::delete(&c, rec).await.unwrap();
    }
    assert!(double.get("", "services", Some(NS), "postgres").is_none());
    assert!(double
        .get(
            "discovery.k8s.io",
            "endpointslices",
            Some(NS),
            "postgres-kubetest"
        )
        .is_none());
    assert!(double
        .get("", "configmaps", Some(NS), "kubetest-deps")
        .is_none());
    assert!(double.get("", "namespaces", None, NS).is_none());
    for rec in &records {
        ds::delete(&c, rec).await.unwrap();
    }
}

#[tokio::test]
async fn a_rejected_object_names_itself_and_the_server_reason() {
    let double = ApiDouble::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let c = client(&double, tmp.path()).await;
    let err: ClusterObjectError = ds::apply(
        &c,
        "default",
        &ds::endpoint_slice(&postgres("db.internal"), "default", ENV),
    )
    .await
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("applying EndpointSlice default/postgres-kubetest: "),
        "{text}"
    );
    assert!(
        text.contains("endpoints[0].addresses[0]: Invalid value: \"db.internal\": must be a valid IPv4 address"),
        "{text}"
    );
    assert!(text.contains("(422 Invalid)"), "{text}");
}

#[tokio::test]
async fn existing_cluster_gets_a_warning_and_nothing_is_made() {
    let double = ApiDouble::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let (ctx, events) = crate::k8s_support::phase_ctx(
        &double,
        tmp.path(),
        "name: ext\ncluster: { provider: existing }\ndependencies:\n  postgres: { image: p, ports: [\"5432\"] }\n",
        &[],
    );
    let out = kubetest::phases::connect::run(&ctx, None).await.unwrap();
    assert_eq!(out, kubetest::events::Outcome::Skipped);
    let warned: Vec<String> = events
        .json()
        .iter()
        .filter(|e| e["event"] == "warning" && e["phase"] == "connect")
        .map(|e| e["message"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(warned[0].contains("not reachable by name from a `provider: existing` cluster"));
    assert!(warned[0].contains("published host port"));
    assert!(double.applied().is_empty(), "{:?}", double.applied());
    assert!(ctx.state.snapshot().cluster_objects.is_empty());
}

#[test]
fn a_kind_cluster_without_nodes_on_this_engine_is_named() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    for te in crate::engines::engines() {
        rt.block_on(async {
            let double = ApiDouble::start().await;
            let tmp = tempfile::tempdir().unwrap();
            let cluster = crate::support::unique("ktr-nonodes");
            let (ctx, _) = crate::k8s_support::phase_ctx(
                &double,
                tmp.path(),
                &format!("name: nonodes\ncluster: {{ provider: kind, name: {cluster} }}\ndependencies:\n  postgres: {{ image: p, ports: [\"5432\"] }}\n"),
                &[],
            );
            let e = kubetest::engine::connect_endpoint(
                &kubetest::engine::Endpoint {
                    url: te.url.clone(),
                    source: "test".into(),
                },
                None,
            )
            .await
            .unwrap();
            let err = kubetest::phases::connect::run(&ctx, Some(&e))
                .await
                .unwrap_err();
            let text = format!("{err:#}");
            assert!(
                text.contains(&format!(
                    "kind cluster {cluster} has no node containers on the {} engine (label io.x-k8s.kind.cluster={cluster})",
                    te.name
                )),
                "{text}"
            );
            assert!(text.contains("kind get nodes --name"), "{text}");
            assert!(double.applied().is_empty());
        });
    }
}
