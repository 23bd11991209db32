//! `cluster.registry`: where built images are pushed for `provider: existing`, written either as
//! the registry alone (`registry: host:5000/team`) or as a mapping with TLS and credentials.

use serde::{Deserialize, Serialize};

/// The registry built images are pushed to.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RegistrySpec {
    /// `host[:port][/path]`: pushed images are named `<url>/<image path>:<tag>`.
    pub url: String,
    /// Verify the registry's TLS certificate (and refuse plain HTTP). `false` is passed to
    /// Podman as the push API's `tlsVerify=false`; Docker decides by its own daemon settings
    /// (`insecure-registries`; 127.0.0.0/8 is insecure by default).
    pub tls_verify: bool,
    /// Credentials read from environment variables at push time (never stored).
    pub auth: Option<RegistryAuthEnv>,
}

/// Names of the environment variables that hold the registry credentials.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RegistryAuthEnv {
    pub username_env: String,
    pub password_env: String,
}

impl RegistrySpec {
    /// The registry host (`host[:port]`), as credential stores key it.
    pub fn host(&self) -> &str {
        self.url.split('/').next().unwrap_or(&self.url)
    }
}

/// The mapping form of `cluster.registry:`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistryMapping {
    url: String,
    #[serde(default = "yes")]
    tls_verify: bool,
    #[serde(default)]
    auth: Option<RegistryAuthEnv>,
}

fn yes() -> bool {
    true
}

fn checked_url<E: serde::de::Error>(url: &str) -> Result<String, E> {
    let u = url.trim();
    if u.is_empty() || u.contains("://") || u.contains(char::is_whitespace) {
        return Err(E::custom(format!(
            "registry `{url}` is not `host[:port][/path]` (write it without a scheme, e.g. `registry.example:5000/team`)"
        )));
    }
    Ok(u.trim_end_matches('/').to_owned())
}

impl<'de> Deserialize<'de> for RegistrySpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RegistrySpec;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("`host[:port][/path]`, or a mapping with `url`, `tls_verify`, `auth`")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RegistrySpec, E> {
                Ok(RegistrySpec {
                    url: checked_url(v)?,
                    tls_verify: true,
                    auth: None,
                })
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<RegistrySpec, A::Error> {
                let m = RegistryMapping::deserialize(
                    serde::de::value::MapAccessDeserializer::new(map),
                )?;
                Ok(RegistrySpec {
                    url: checked_url(&m.url)?,
                    tls_verify: m.tls_verify,
                    auth: m.auth,
                })
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<RegistrySpec, String> {
        serde_yaml::from_str(yaml).map_err(|e| e.to_string())
    }

    #[test]
    fn string_or_mapping() {
        let s = parse("127.0.0.1:5000/team/").unwrap();
        assert_eq!(
            (s.url.as_str(), s.host(), s.tls_verify),
            ("127.0.0.1:5000/team", "127.0.0.1:5000", true)
        );
        let m = parse(
            "{url: reg.example, tls_verify: false, auth: {username_env: U, password_env: P}}",
        )
        .unwrap();
        assert!(!m.tls_verify);
        assert_eq!(m.auth.unwrap().password_env, "P");
        assert!(parse("https://reg.example")
            .unwrap_err()
            .contains("without a scheme"));
        assert!(parse("{url: r, auth: {username_env: U}}").is_err());
        assert!(parse("{url: r, tls: false}").is_err());
    }

    #[test]
    fn in_a_config_file_with_located_errors() {
        let dir = std::path::Path::new("/tmp");
        let file = dir.join("kubetest.yaml");
        let ok = crate::config::load_str(
            "name: e\ncluster:\n  provider: existing\n  shared: true\n  registry:\n    url: 127.0.0.1:5000/kt\n    tls_verify: false\n",
            &file,
            dir,
        )
        .unwrap();
        let r = ok.cluster.registry.unwrap();
        assert_eq!((r.url.as_str(), r.tls_verify), ("127.0.0.1:5000/kt", false));
        assert!(ok.cluster.shared);
        let err = crate::config::load_str(
            "name: e\ncluster:\n  provider: existing\n  registry: { url: r, password: x }\n",
            &file,
            dir,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("kubetest.yaml:4"), "{err}");
        assert!(err.contains("password"), "{err}");
    }
}
