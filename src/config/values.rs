//! Value types of `kubetest.yaml` that parse themselves, so a bad value is reported at its own line and column.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// A duration written as `500ms`, `30s`, `5m`, `1h` or combinations (`1m30s`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(pub std::time::Duration);

impl Duration {
    pub const fn from_millis(ms: u64) -> Self {
        Self(std::time::Duration::from_millis(ms))
    }
    pub const fn from_secs(s: u64) -> Self {
        Self(std::time::Duration::from_secs(s))
    }
    pub fn get(self) -> std::time::Duration {
        self.0
    }
}

impl FromStr for Duration {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        const SHAPE: &str = "a duration with a unit, like 500ms, 30s, 5m or 1m30s";
        if t.is_empty() || t.chars().all(|c| c.is_ascii_digit()) {
            return Err(format!(
                "invalid duration `{s}`: a unit is required; expected {SHAPE}"
            ));
        }
        humantime::parse_duration(t)
            .map(Self)
            .map_err(|_| format!("invalid duration `{s}`; expected {SHAPE}"))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = ScalarText::deserialize(d)?;
        raw.0.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

/// Accepts a YAML string or number and keeps its text, so `timeout: 30` can be rejected with a
/// message about units instead of a type error.
struct ScalarText(String);

impl<'de> Deserialize<'de> for ScalarText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = ScalarText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ScalarText, E> {
                Ok(ScalarText(v.to_owned()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<ScalarText, E> {
                Ok(ScalarText(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<ScalarText, E> {
                Ok(ScalarText(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<ScalarText, E> {
                Ok(ScalarText(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// Transport protocol of a published port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        })
    }
}

/// `host:container[/proto]` or `container[/proto]`; a host port of `0` or none means "pick a free one".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortMapping {
    pub host: Option<u16>,
    pub container: u16,
    pub protocol: Protocol,
}

const PORT_SHAPE: &str =
    "`host:container[/tcp|udp|sctp]` such as \"15432:5432\", or `container` alone";

impl FromStr for PortMapping {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| format!("invalid port `{s}`: {why}; expected {PORT_SHAPE}");
        let (ports, protocol) = match s.split_once('/') {
            None => (s, Protocol::Tcp),
            Some((p, "tcp")) => (p, Protocol::Tcp),
            Some((p, "udp")) => (p, Protocol::Udp),
            Some((p, "sctp")) => (p, Protocol::Sctp),
            Some((_, other)) => return Err(bad(&format!("unknown protocol `{other}`"))),
        };
        let parse = |p: &str, what: &str, zero_ok: bool| -> Result<u16, String> {
            match p.parse::<u16>() {
                Ok(0) if !zero_ok => Err(bad(&format!("{what} port must be 1-65535"))),
                Ok(n) => Ok(n),
                Err(_) => Err(bad(&format!(
                    "{what} port `{p}` is not a number from 1 to 65535"
                ))),
            }
        };
        let parts: Vec<&str> = ports.split(':').collect();
        match parts.as_slice() {
            [c] => Ok(Self {
                host: None,
                container: parse(c, "container", false)?,
                protocol,
            }),
            [h, c] => {
                let host = parse(h, "host", true)?;
                Ok(Self {
                    host: (host != 0).then_some(host),
                    container: parse(c, "container", false)?,
                    protocol,
                })
            }
            _ => Err(bad("too many `:`")),
        }
    }
}

impl fmt::Display for PortMapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.host {
            Some(h) => write!(f, "{h}:{}/{}", self.container, self.protocol),
            None => write!(f, "{}/{}", self.container, self.protocol),
        }
    }
}

impl<'de> Deserialize<'de> for PortMapping {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = ScalarText::deserialize(d)?;
        raw.0.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for PortMapping {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

/// A bind mount `host_path:container_path[:ro|rw]`; read-only unless `:rw` is given.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VolumeMount {
    pub host: String,
    pub container: String,
    pub read_only: bool,
}

impl FromStr for VolumeMount {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| {
            format!("invalid volume `{s}`: {why}; expected `host_path:/container/path[:ro|rw]`")
        };
        let parts: Vec<&str> = s.split(':').collect();
        let (host, container, read_only) = match parts.as_slice() {
            [h, c] => (*h, *c, true),
            [h, c, "ro"] => (*h, *c, true),
            [h, c, "rw"] => (*h, *c, false),
            [_, _, m] => return Err(bad(&format!("unknown mode `{m}`"))),
            _ => return Err(bad("needs exactly one `:` between the two paths")),
        };
        if host.is_empty() || !container.starts_with('/') {
            return Err(bad("the container path must be absolute"));
        }
        Ok(Self {
            host: host.to_owned(),
            container: container.to_owned(),
            read_only,
        })
    }
}

impl<'de> Deserialize<'de> for VolumeMount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = ScalarText::deserialize(d)?;
        raw.0.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for VolumeMount {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mode = if self.read_only { "ro" } else { "rw" };
        s.serialize_str(&format!("{}:{}:{mode}", self.host, self.container))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!("500ms".parse::<Duration>(), Ok(Duration::from_millis(500)));
        assert_eq!("30s".parse::<Duration>(), Ok(Duration::from_secs(30)));
        assert_eq!("5m".parse::<Duration>(), Ok(Duration::from_secs(300)));
        assert_eq!("1m30s".parse::<Duration>(), Ok(Duration::from_secs(90)));
        assert!("30"
            .parse::<Duration>()
            .unwrap_err()
            .contains("with a unit"));
        assert!("fast".parse::<Duration>().is_err());
        assert_eq!(Duration::from_secs(90).to_string(), "1m 30s");
    }

    #[test]
    fn ports() {
        let p: PortMapping = "15432:5432".parse().unwrap();
        assert_eq!(
            (p.host, p.container, p.protocol),
            (Some(15432), 5432, Protocol::Tcp)
        );
        let p: PortMapping = "0:53/udp".parse().unwrap();
        assert_eq!((p.host, p.container, p.protocol), (None, 53, Protocol::Udp));
        let p: PortMapping = "6379".parse().unwrap();
        assert_eq!((p.host, p.container), (None, 6379));
        for bad in ["", "a:1", "1:2:3", "70000:1", "1:0", "8080/http", "8080:"] {
            assert!(bad.parse::<PortMapping>().is_err(), "{bad} should fail");
        }
    }

    #[test]
    fn volumes() {
        let v: VolumeMount = "./init.sql:/docker-entrypoint-initdb.d/init.sql"
            .parse()
            .unwrap();
        assert!(v.read_only);
        let v: VolumeMount = "./data:/data:rw".parse().unwrap();
        assert!(!v.read_only);
        assert!("./x:relative".parse::<VolumeMount>().is_err());
        assert!("./x:/y:zz".parse::<VolumeMount>().is_err());
    }
}
