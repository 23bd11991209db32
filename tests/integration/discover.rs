//! Engine identification against real Podman and Docker: `/_ping`'s headers (plus `/info`,
//! or the state file's record) must tell exactly what `/version` tells.

use crate::engines::engines;
use kubetest::engine::discover::identify_from_version;
use kubetest::engine::{connect_endpoint, Endpoint, Engine, EngineKind};

fn endpoint(url: &str) -> Endpoint {
    Endpoint {
        url: url.to_owned(),
        source: "test".into(),
    }
}

fn facts(e: &Engine) -> (EngineKind, String, String, String, String, bool) {
    (
        e.kind,
        e.version.clone(),
        e.api_version.clone(),
        e.os.clone(),
        e.arch.clone(),
        e.rootless,
    )
}

#[test]
fn ping_identifies_like_version_and_the_record_replaces_info() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    for te in engines() {
        let ep = endpoint(&te.url);
        let engine = rt.block_on(connect_endpoint(&ep, None)).unwrap();
        assert!(
            !engine.server.is_empty(),
            "{}: identified from /_ping, Server header kept",
            te.name
        );
        // The slow truth: /version, asked directly.
        let v = rt.block_on(engine.docker.version()).unwrap();
        let (kind, version) = identify_from_version(&v);
        assert_eq!(engine.kind, kind, "{}", te.name);
        assert_eq!(Some(engine.version.clone()), version, "{}", te.name);
        assert_eq!(
            Some(engine.api_version.clone()),
            v.api_version,
            "{}",
            te.name
        );
        assert_eq!(Some(engine.os.clone()), v.os, "{}", te.name);
        assert_eq!(
            Some(engine.arch.clone()),
            v.arch,
            "{}: /info's machine name mapped to Go's",
            te.name
        );

        // The same engine recorded: its arch/rootless come from the record, nothing else asked.
        let mut record = engine.record();
        let again = rt.block_on(connect_endpoint(&ep, Some(&record))).unwrap();
        assert_eq!(facts(&again), facts(&engine), "{}", te.name);
        record.arch = "recorded-arch".into();
        let cached = rt.block_on(connect_endpoint(&ep, Some(&record))).unwrap();
        assert_eq!(
            cached.arch, "recorded-arch",
            "{}: the record is used",
            te.name
        );

        // A record of another engine version (or another endpoint) is not trusted.
        let mut other = record.clone();
        other.server = "Libpod/0.0.1 (linux)".into();
        let fresh = rt.block_on(connect_endpoint(&ep, Some(&other))).unwrap();
        assert_eq!(fresh.arch, engine.arch, "{}", te.name);
        let mut moved = record.clone();
        moved.endpoint = "unix:///elsewhere.sock".into();
        let fresh = rt.block_on(connect_endpoint(&ep, Some(&moved))).unwrap();
        assert_eq!(fresh.arch, engine.arch, "{}", te.name);
    }
}
