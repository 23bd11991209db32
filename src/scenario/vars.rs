//! The variables and host-command environment a scenario run gets from the state `up` left.

use super::template::Vars;
use crate::state::State;

/// Template variables (`environment`, `kubeconfig`, `deps.<name>.port.<port>`, …) and the
/// environment of host commands (`KUBECONFIG`, `KUBETEST_DEP_<NAME>_PORT_<PORT>`, …).
pub fn from_state(state: &State) -> (Vars, Vec<(String, String)>) {
    let mut vars = Vars::new();
    let mut env = Vec::new();
    vars.insert("environment".into(), state.environment.clone());
    env.push(("KUBETEST_ENVIRONMENT".into(), state.environment.clone()));
    let kubeconfig = state
        .cluster
        .as_ref()
        .and_then(|c| c.kubeconfig.as_ref())
        .map(|k| k.display().to_string())
        .unwrap_or_default();
    vars.insert("kubeconfig".into(), kubeconfig.clone());
    // On a shared cluster, objects a run owns are named `<name>-<id>` (src/k8s/run_scope.rs):
    // `name: readers{{ run_suffix }}` names them on kind and on a shared cluster alike.
    let id = state.run_id.clone().unwrap_or_default();
    vars.insert(
        "run_suffix".into(),
        if id.is_empty() {
            String::new()
        } else {
            format!("-{id}")
        },
    );
    vars.insert("run_id".into(), id.clone());
    if !id.is_empty() {
        env.push(("KUBETEST_RUN_ID".into(), id));
    }
    if !kubeconfig.is_empty() {
        env.push(("KUBECONFIG".into(), kubeconfig));
    }
    for c in &state.containers {
        let dep = &c.dependency;
        vars.insert(format!("deps.{dep}.host"), "127.0.0.1".into());
        if let Some(a) = &c.address {
            vars.insert(format!("deps.{dep}.address"), a.clone());
        }
        for (port, host) in &c.ports {
            let number = port.split('/').next().unwrap_or(port);
            vars.insert(format!("deps.{dep}.port.{number}"), host.to_string());
        }
    }
    // The same variables the deps phase hands on: one definition of their names.
    env.extend(crate::deps::outputs::env_vars(&state.containers));
    (vars, env)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::ContainerRecord;

    #[test]
    fn ports_and_addresses() {
        let mut s = State::new("demo");
        s.containers.push(ContainerRecord {
            name: "kubetest-demo-my-db".into(),
            id: "1".into(),
            dependency: "my-db".into(),
            config_hash: "h".into(),
            ports: [("5432/tcp".to_owned(), 15432u16)].into_iter().collect(),
            address: Some("10.88.0.5".into()),
            health: Vec::new(),
        });
        let (vars, env) = from_state(&s);
        assert_eq!(vars["deps.my-db.port.5432"], "15432");
        assert_eq!(vars["deps.my-db.address"], "10.88.0.5");
        assert!(env.contains(&(
            "KUBETEST_DEP_MY_DB_PORT_5432".to_owned(),
            "15432".to_owned()
        )));
        assert_eq!(vars["environment"], "demo");
        assert_eq!(
            (vars["run_id"].as_str(), vars["run_suffix"].as_str()),
            ("", "")
        );
        assert!(!env.iter().any(|(k, _)| k == "KUBETEST_RUN_ID"));
    }

    #[test]
    fn a_shared_cluster_run_names_its_identity() {
        let mut s = State::new("demo");
        s.run_id = Some("ci-42".into());
        let (vars, env) = from_state(&s);
        assert_eq!(vars["run_id"], "ci-42");
        assert_eq!(vars["run_suffix"], "-ci-42");
        assert!(env.contains(&("KUBETEST_RUN_ID".to_owned(), "ci-42".to_owned())));
    }
}
