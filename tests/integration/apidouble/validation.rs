//! Field validation the API server does on apply, for the kinds kubetest makes itself, taken
//! from kube-apiserver's own rules (kubernetes/kubernetes, 1.33):
//! - Service: more than one port → every `spec.ports[i].name` is required, and a given name
//!   must be an IANA_SVC_NAME: at most 15 characters, lowercase letters, digits and `-`, at
//!   least one letter, no `-` at either end or twice in a row
//!   (`pkg/apis/core/validation/validation.go` ValidateService/validateServicePort,
//!   `apimachinery/pkg/util/validation` IsValidPortName).
//! - EndpointSlice: `addressType` required, one of IPv4, IPv6, FQDN; every endpoint has
//!   1–100 `addresses`, each a valid address of that type
//!   (`pkg/apis/discovery/validation/validation.go` ValidateEndpointSlice).

use serde_json::Value;

/// (field path, message) of the first invalid field, as the server words it.
pub fn invalid_field(kind: &str, obj: &Value) -> Option<(String, String)> {
    match kind {
        "Service" => service(obj),
        "EndpointSlice" => endpoint_slice(obj),
        _ => None,
    }
}

fn is_port_name(n: &str) -> bool {
    n.len() <= 15
        && n.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        && n.bytes().any(|c| c.is_ascii_lowercase())
        && !n.starts_with('-')
        && !n.ends_with('-')
        && !n.contains("--")
}

fn service(obj: &Value) -> Option<(String, String)> {
    let ports = obj.pointer("/spec/ports")?.as_array()?;
    for (i, p) in ports.iter().enumerate() {
        let field = format!("spec.ports[{i}].name");
        match p["name"].as_str() {
            None | Some("") if ports.len() > 1 => {
                return Some((field, "Required value".into()));
            }
            Some(n) if !n.is_empty() && !is_port_name(n) => {
                return Some((
                    field,
                    format!("Invalid value: \"{n}\": must be no more than 15 characters, contain only lowercase alphanumeric characters or '-', contain at least one letter"),
                ));
            }
            _ => {}
        }
    }
    None
}

fn endpoint_slice(obj: &Value) -> Option<(String, String)> {
    let family = match obj["addressType"].as_str() {
        None | Some("") => return Some(("addressType".into(), "Required value".into())),
        Some(t @ ("IPv4" | "IPv6" | "FQDN")) => t,
        Some(t) => {
            return Some((
                "addressType".into(),
                format!(
                    "Unsupported value: \"{t}\": supported values: \"FQDN\", \"IPv4\", \"IPv6\""
                ),
            ))
        }
    };
    for (i, ep) in obj["endpoints"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let addrs = ep["addresses"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        let field = format!("endpoints[{i}].addresses");
        if addrs.is_empty() {
            return Some((
                field,
                "Required value: must contain at least 1 address".into(),
            ));
        }
        if addrs.len() > 100 {
            return Some((
                field,
                format!("Too many: {}: must have at most 100 items", addrs.len()),
            ));
        }
        for (j, a) in addrs.iter().enumerate() {
            let a = a.as_str().unwrap_or("");
            let ok = match family {
                "IPv4" => a.parse::<std::net::Ipv4Addr>().is_ok(),
                "IPv6" => a.parse::<std::net::Ipv6Addr>().is_ok(),
                _ => !a.is_empty(),
            };
            if !ok {
                return Some((
                    format!("{field}[{j}]"),
                    format!("Invalid value: \"{a}\": must be a valid {family} address"),
                ));
            }
        }
    }
    None
}
