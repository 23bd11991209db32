//! Helpers of the Kubernetes tests: a client and a phase context pointed at the API double.

use crate::apidouble::ApiDouble;
use kubetest::events::{Event, Events, Reporter, Stamped};
use kubetest::k8s::client::{connect, ClusterAccess};
use kubetest::phases::PhaseCtx;
use kubetest::plan::Plan;
use kubetest::state::{ClusterRecord, ImageRecord, Recorder, State, StateStore};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// A kube client for the double, through a kubeconfig file like the one `up` records.
pub async fn client(double: &ApiDouble, dir: &Path) -> kube::Client {
    let access = ClusterAccess {
        kubeconfig: Some(double.write_kubeconfig(dir)),
        context: Some("kind-kt-i6".into()),
    };
    connect(&access).await.expect("client for the API double")
}

/// Keeps every event.
#[derive(Clone, Default)]
pub struct Recording(pub Arc<Mutex<Vec<Event>>>);

impl Reporter for Recording {
    fn handle(&mut self, ev: &Stamped) {
        // What the phases emit is what docs/events.schema.json documents.
        crate::events_schema::assert_valid(&serde_json::to_value(ev).unwrap());
        self.0.lock().unwrap().push(ev.event.clone());
    }
}

impl Recording {
    pub fn events(&self) -> Vec<Event> {
        self.0.lock().unwrap().clone()
    }
    pub fn json(&self) -> Vec<serde_json::Value> {
        self.events()
            .iter()
            .map(|e| serde_json::to_value(e).unwrap())
            .collect()
    }
}

/// The cluster record of the double, as issue 5's cluster phase records a kind cluster it
/// created (kubeconfig + context).
pub fn double_cluster(kubeconfig: std::path::PathBuf) -> ClusterRecord {
    ClusterRecord {
        provider: "kind".into(),
        name: "kt-i6".into(),
        created: true,
        kubeconfig: Some(kubeconfig),
        context: Some("kind-kt-i6".into()),
    }
}

/// A phase context for `kubetest.yaml` text in `dir`, with the cluster recorded in the state
/// as issue 5's cluster phase records it (kubeconfig + context), and `built` images.
pub fn phase_ctx(
    double: &ApiDouble,
    dir: &Path,
    config: &str,
    built: &[&str],
) -> (PhaseCtx, Recording) {
    let kubeconfig = double.write_kubeconfig(dir);
    let path = dir.join("kubetest.yaml");
    std::fs::write(&path, config).unwrap();
    let loaded = kubetest::config::load(&path).expect("valid test config");
    let plan = Arc::new(Plan::from_config(&loaded));
    let mut state = State::new(&plan.environment);
    state.cluster = Some(double_cluster(kubeconfig));
    state.images = built
        .iter()
        .map(|n| ImageRecord {
            name: n.to_string(),
            id: "sha256:9b2c1f0e8d7a".into(),
            input_hash: "0".into(),
            pushed: None,
        })
        .collect();
    let rec = Recording::default();
    let ctx = PhaseCtx {
        plan: plan.clone(),
        events: Events::new(Box::new(rec.clone())),
        state: Recorder::new(StateStore::new(&plan.state_dir), state),
        cancel: tokio_util::sync::CancellationToken::new(),
    };
    (ctx, rec)
}
