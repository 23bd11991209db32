//! Deploy against the Kubernetes API double: apply order, CRDs Established first, errors.

use crate::apidouble::ApiDouble;
use crate::k8s_support::phase_ctx;
use std::time::Duration;

const CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.kt-i6.example.com
spec:
  group: kt-i6.example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, listKind: WidgetList}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
"#;

fn write(dir: &std::path::Path, files: &[(&str, &str)]) {
    for (name, text) in files {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
}

#[tokio::test]
async fn namespaces_then_crds_established_then_the_rest_in_file_order() {
    let double = ApiDouble::start().await;
    double.set_crd_delay(Duration::from_millis(400));
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &[
        ("manifests/10-app.yaml", "apiVersion: kt-i6.example.com/v1\nkind: Widget\nmetadata: {name: w1}\nspec: {size: 3}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: app-config}\ndata: {MODE: test}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: app, image: localhost/kt-i6-app:dev}]}\n"),
        ("manifests/20-crd.yaml", CRD),
        ("manifests/base/ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: demo}\n"),
    ]);
    let config = "name: kt-i6\ncluster: {provider: kind}\ndeploy:\n  namespace: demo\n  manifests: [manifests/]\n";
    let (ctx, rec) = phase_ctx(&double, dir.path(), config, &[]);
    kubetest::phases::deploy::run(&ctx).await.expect("applied");
    assert_eq!(
        double.applied(),
        [
            "Namespace demo",
            "CustomResourceDefinition widgets.kt-i6.example.com",
            "Widget demo/w1",
            "ConfigMap demo/app-config",
            "Deployment demo/web",
        ]
    );
    // The Widget went in only once its CRD was Established: before that the group is not
    // served at all (discovery 404), as on a real API server.
    let reqs = double.requests();
    let widget = reqs
        .iter()
        .position(|r| r.starts_with("PATCH /apis/kt-i6.example.com/v1/namespaces/demo/widgets/w1"))
        .unwrap();
    let crd_watch = reqs
        .iter()
        .position(|r| {
            r.contains("customresourcedefinitions?")
                && r.contains("fieldSelector=metadata.name%3Dwidgets.kt-i6.example.com")
        })
        .expect("CRD watched, not polled");
    assert!(crd_watch < widget, "{reqs:#?}");
    let w = double
        .get("kt-i6.example.com", "widgets", Some("demo"), "w1")
        .unwrap();
    assert_eq!(w["spec"]["size"], 3);
    assert_eq!(w["metadata"]["managedFields"][0]["manager"], "kubetest");
    let patch = reqs
        .iter()
        .find(|r| r.starts_with("PATCH /api/v1/namespaces/demo/configmaps/app-config"))
        .unwrap();
    assert!(
        patch.contains("fieldManager=kubetest") && patch.contains("force=true"),
        "{patch}"
    );
    let done = rec
        .json()
        .into_iter()
        .find(|e| e["event"] == "task_finished")
        .unwrap();
    assert_eq!(done["detail"], "5 objects applied");

    // Applying again updates in place (server-side apply is idempotent).
    kubetest::phases::deploy::run(&ctx)
        .await
        .expect("applied twice");
    assert_eq!(double.applied().len(), 10);
}

/// A workload using an image `up` built carries the build's ID in its pod template, so a
/// rebuild under the same tag changes the template (and the controller rolls the pods).
#[tokio::test]
async fn templates_using_built_images_carry_their_ids() {
    let double = ApiDouble::start().await;
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &[
        ("manifests/ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: demo}\n"),
        ("manifests/app.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: app, image: localhost/kt-i6-app:dev}]}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: cache}\nspec:\n  selector: {matchLabels: {app: cache}}\n  template:\n    metadata: {labels: {app: cache}}\n    spec: {containers: [{name: redis, image: redis:7}]}\n"),
    ]);
    let config = "name: kt-i6\ncluster: {provider: kind}\ndeploy:\n  namespace: demo\n  manifests: [manifests/]\n";
    let (ctx, rec) = phase_ctx(&double, dir.path(), config, &["localhost/kt-i6-app:dev"]);
    let annotation = |name: &str| {
        double
            .get("apps", "deployments", Some("demo"), name)
            .unwrap()["spec"]["template"]["metadata"]["annotations"]["kubetest.io/image-ids"]
            .clone()
    };
    kubetest::phases::deploy::run(&ctx).await.expect("applied");
    assert_eq!(annotation("web"), "localhost/kt-i6-app:dev=9b2c1f0e8d7a");
    assert!(
        annotation("cache").is_null(),
        "redis is not kubetest's build"
    );
    let said = rec
        .json()
        .into_iter()
        .filter_map(|e| e["message"].as_str().map(str::to_owned))
        .find(|m| m.contains("kubetest.io/image-ids"))
        .expect("the stamp is reported");
    assert!(
        said.contains("deployment/web: localhost/kt-i6-app:dev=9b2c1f0e8d7a"),
        "{said}"
    );

    ctx.state
        .update(|s| s.images[0].id = "sha256:0f0f0f0f0f0f0f0f".into())
        .unwrap();
    kubetest::phases::deploy::run(&ctx)
        .await
        .expect("applied again");
    assert_eq!(annotation("web"), "localhost/kt-i6-app:dev=0f0f0f0f0f0f");
}

#[tokio::test]
async fn apply_error_names_file_document_object_and_server_message() {
    let double = ApiDouble::start().await;
    let dir = tempfile::tempdir().unwrap();
    double.put_namespace("demo");
    write(dir.path(), &[(
        "app.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: demo}\nspec:\n  template: {spec: {containers: [{name: app, image: x}]}}\n",
    )]);
    let config = "name: kt-i6\ncluster: {provider: kind}\ndeploy:\n  manifests: [app.yaml]\n";
    let (ctx, _rec) = phase_ctx(&double, dir.path(), config, &[]);
    let err = format!(
        "{:#}",
        kubetest::phases::deploy::run(&ctx).await.unwrap_err()
    );
    let file = dir.path().join("app.yaml");
    assert_eq!(
        err,
        format!("applying Deployment demo/web from {} (document 2): Deployment.apps \"web\" is invalid: spec.selector: Required value (422 Invalid)", file.display())
    );
    assert_eq!(
        double.applied(),
        ["ConfigMap default/ok"],
        "namespaced object without namespace → deploy.namespace"
    );
}

#[tokio::test]
async fn missing_namespace_and_unknown_kind_are_explained() {
    let double = ApiDouble::start().await;
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            (
                "a.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: nowhere}\n",
            ),
            (
                "b.yaml",
                "apiVersion: kt-i6.example.com/v1\nkind: Gadget\nmetadata: {name: g}\n",
            ),
        ],
    );
    let (ctx, _) = phase_ctx(
        &double,
        dir.path(),
        "name: kt-i6\ncluster: {provider: kind}\ndeploy:\n  manifests: [a.yaml]\n",
        &[],
    );
    let err = format!(
        "{:#}",
        kubetest::phases::deploy::run(&ctx).await.unwrap_err()
    );
    assert!(
        err.ends_with("(document 1): namespaces \"nowhere\" not found (404 NotFound)"),
        "{err}"
    );
    let (ctx, _) = phase_ctx(
        &double,
        dir.path(),
        "name: kt-i6\ncluster: {provider: kind}\ndeploy:\n  manifests: [b.yaml]\n",
        &[],
    );
    let err = format!(
        "{:#}",
        kubetest::phases::deploy::run(&ctx).await.unwrap_err()
    );
    assert!(err.contains("applying Gadget g from") && err.contains("the cluster does not serve kt-i6.example.com/v1 (is its CustomResourceDefinition applied?)"), "{err}");
}
