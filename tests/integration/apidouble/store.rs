//! The double's objects, resourceVersions, watch history and broadcast of changes.

use super::resources::{builtin, ResourceDef};
use super::time;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::broadcast;

/// (group, plural, namespace, name).
pub type Key = (String, String, Option<String>, String);

#[derive(Debug, Clone)]
pub struct Change {
    pub rv: u64,
    pub group: String,
    pub plural: String,
    /// ADDED, MODIFIED, DELETED.
    pub kind: &'static str,
    pub object: Value,
    pub previous: Option<Value>,
}

/// What open watches hear.
#[derive(Debug, Clone)]
pub enum Msg {
    Change(Box<Change>),
    /// Send `410 Gone` and end.
    Gone,
    /// Cut the connection.
    Drop,
    Bookmark(u64),
}

pub struct Store {
    pub rv: u64,
    /// Watches from a resourceVersion below this get 410 Gone.
    pub compacted: u64,
    pub objects: BTreeMap<Key, Value>,
    pub history: Vec<Change>,
    pub defs: Vec<ResourceDef>,
    pub logs: HashMap<(String, String, String, bool), String>,
    pub crd_delay: Duration,
    pub applied: Vec<String>,
    pub requests: Vec<String>,
    pub fail_pods: u32,
    /// What exec'd commands do (none: every command is "not found").
    pub exec_handler: Option<super::exec::ExecHandler>,
    pub exec_calls: Vec<super::exec::ExecCall>,
    /// `(namespace, pod, port)` → where a connection to that port inside the pod goes.
    pub forwards: HashMap<(String, String, u16), std::net::SocketAddr>,
    pub forward_calls: Vec<super::portforward::ForwardCall>,
    uid: u64,
}

pub struct Shared {
    inner: Mutex<Store>,
    pub tx: broadcast::Sender<Msg>,
    /// How many watch streams are open (tests await it instead of sleeping).
    pub watching: tokio::sync::watch::Sender<usize>,
}

/// Counts one open watch stream while it lives.
pub struct WatchGuard(pub tokio::sync::watch::Sender<usize>);

impl Drop for WatchGuard {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n -= 1);
    }
}

impl Shared {
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(4096);
        let s = Self {
            inner: Mutex::new(Store {
                rv: 100,
                compacted: 0,
                objects: BTreeMap::new(),
                history: Vec::new(),
                defs: builtin(),
                logs: HashMap::new(),
                crd_delay: Duration::from_millis(300),
                applied: Vec::new(),
                requests: Vec::new(),
                fail_pods: 0,
                exec_handler: None,
                exec_calls: Vec::new(),
                forwards: HashMap::new(),
                forward_calls: Vec::new(),
                uid: 0,
            }),
            tx,
            watching: tokio::sync::watch::channel(0).0,
        };
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            s.upsert(
                "",
                "namespaces",
                json!({"apiVersion": "v1", "kind": "Namespace",
                       "metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns}},
                       "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}),
            );
        }
        s
    }

    pub fn lock(&self) -> MutexGuard<'_, Store> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Store `obj` (metadata filled in as the server does) and tell the watches. An object
    /// being deleted whose last finalizer is removed goes away, as in the API server.
    pub fn upsert(&self, group: &str, plural: &str, obj: Value) -> Value {
        let mut s = self.lock();
        let out = s.write(group, plural, obj);
        let change = s.history.last().cloned();
        drop(s);
        if let Some(c) = change {
            let _ = self.tx.send(Msg::Change(Box::new(c)));
        }
        let meta = &out["metadata"];
        if meta.get("deletionTimestamp").is_some() && !has_finalizers(&out) {
            let ns = meta["namespace"].as_str().map(str::to_owned);
            let name = meta["name"].as_str().unwrap_or("").to_owned();
            return self
                .remove(group, plural, ns.as_deref(), &name)
                .unwrap_or(out);
        }
        out
    }

    /// DELETE as the API server does it: an object with finalizers only gets a
    /// `deletionTimestamp` (MODIFIED) and stays until they are removed; others go at once.
    pub fn delete(&self, group: &str, plural: &str, ns: Option<&str>, name: &str) -> Option<Value> {
        let existing = self.lock().get(group, plural, ns, name)?;
        if has_finalizers(&existing) {
            if existing["metadata"].get("deletionTimestamp").is_some() {
                return Some(existing);
            }
            let mut marked = existing;
            marked["metadata"]["deletionTimestamp"] = json!(time::now());
            marked["metadata"]["deletionGracePeriodSeconds"] = json!(0);
            return Some(self.upsert(group, plural, marked));
        }
        if group.is_empty() && plural == "namespaces" {
            // The namespace controller deletes everything in a namespace before the namespace
            // itself goes (kubernetes.io/docs/concepts/overview/working-with-objects/namespaces,
            // "Deleting a namespace deletes everything under it").
            let inside: Vec<(String, String, String)> = self
                .lock()
                .objects
                .keys()
                .filter(|(_, _, n, _)| n.as_deref() == Some(name))
                .map(|(g, p, _, o)| (g.clone(), p.clone(), o.clone()))
                .collect();
            for (g, p, o) in inside {
                self.remove(&g, &p, Some(name), &o);
            }
        }
        self.remove(group, plural, ns, name)
    }

    /// [`Shared::delete`] with a resourceVersion precondition, checked and carried out without
    /// another write in between; `Err(actual)` when the stored resourceVersion differs.
    pub fn delete_if(
        &self,
        group: &str,
        plural: &str,
        ns: Option<&str>,
        name: &str,
        resource_version: Option<&str>,
    ) -> Result<Option<Value>, String> {
        let Some(want) = resource_version else {
            return Ok(self.delete(group, plural, ns, name));
        };
        let s = self.lock();
        let Some(existing) = s.get(group, plural, ns, name) else {
            return Ok(None);
        };
        let actual = existing["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        if actual != want {
            return Err(actual);
        }
        if has_finalizers(&existing) || (group.is_empty() && plural == "namespaces") {
            // Finalizers and namespace contents take the ordinary path (checked just above).
            drop(s);
            return Ok(self.delete(group, plural, ns, name));
        }
        Ok(self.remove_locked(s, group, plural, ns, name))
    }

    /// Remove an object now (DELETED).
    pub fn remove(&self, group: &str, plural: &str, ns: Option<&str>, name: &str) -> Option<Value> {
        self.remove_locked(self.lock(), group, plural, ns, name)
    }

    /// Remove an object now (DELETED) under the lock `s` the caller holds (checks made under
    /// it stay true), and release the lock before telling the watchers.
    fn remove_locked(
        &self,
        mut s: MutexGuard<'_, Store>,
        group: &str,
        plural: &str,
        ns: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        let key = (
            group.to_owned(),
            plural.to_owned(),
            ns.map(str::to_owned),
            name.to_owned(),
        );
        let mut obj = s.objects.remove(&key)?;
        s.rv += 1;
        obj["metadata"]["resourceVersion"] = json!(s.rv.to_string());
        let c = Change {
            rv: s.rv,
            group: group.into(),
            plural: plural.into(),
            kind: "DELETED",
            object: obj.clone(),
            previous: None,
        };
        s.history.push(c.clone());
        drop(s);
        let _ = self.tx.send(Msg::Change(Box::new(c)));
        Some(obj)
    }
}

fn has_finalizers(obj: &Value) -> bool {
    obj["metadata"]["finalizers"]
        .as_array()
        .is_some_and(|f| !f.is_empty())
}

impl Store {
    pub fn def(&self, group: &str, plural: &str) -> Option<&ResourceDef> {
        self.defs
            .iter()
            .find(|d| d.group == group && d.plural == plural)
    }

    pub fn get(&self, group: &str, plural: &str, ns: Option<&str>, name: &str) -> Option<Value> {
        let key = (
            group.to_owned(),
            plural.to_owned(),
            ns.map(str::to_owned),
            name.to_owned(),
        );
        self.objects.get(&key).cloned()
    }

    fn new_uid(&mut self) -> String {
        self.uid += 1;
        let n = self.uid;
        format!(
            "6b1f{n:04x}-3c2d-4e5f-8a9b-{:012x}",
            n * 7919 + 0x1d2e3f4a5b
        )
    }

    /// Write an object: keep uid/creationTimestamp of an existing one, new resourceVersion.
    pub fn write(&mut self, group: &str, plural: &str, mut obj: Value) -> Value {
        let namespaced = self
            .def(group, plural)
            .map(|d| d.namespaced)
            .unwrap_or(true);
        let name = obj["metadata"]["name"].as_str().unwrap_or("").to_owned();
        let ns = namespaced.then(|| {
            obj["metadata"]["namespace"]
                .as_str()
                .unwrap_or("default")
                .to_owned()
        });
        let key = (group.to_owned(), plural.to_owned(), ns.clone(), name);
        let previous = self.objects.get(&key).cloned();
        let (uid, created) = match &previous {
            Some(p) => (
                p["metadata"]["uid"].clone(),
                p["metadata"]["creationTimestamp"].clone(),
            ),
            None => (
                obj["metadata"]["uid"]
                    .as_str()
                    .map(|u| json!(u))
                    .unwrap_or_else(|| json!(self.new_uid())),
                obj["metadata"]["creationTimestamp"]
                    .as_str()
                    .map(|t| json!(t))
                    .unwrap_or_else(|| json!(time::now())),
            ),
        };
        self.rv += 1;
        let meta = &mut obj["metadata"];
        meta["uid"] = uid;
        meta["creationTimestamp"] = created;
        meta["resourceVersion"] = json!(self.rv.to_string());
        if let Some(ns) = &ns {
            meta["namespace"] = json!(ns);
        }
        self.objects.insert(key, obj.clone());
        self.history.push(Change {
            rv: self.rv,
            group: group.into(),
            plural: plural.into(),
            kind: if previous.is_some() {
                "MODIFIED"
            } else {
                "ADDED"
            },
            object: obj.clone(),
            previous,
        });
        obj
    }
}
