//! Kubernetes object names, namespaces and label selectors, checked the way the API server does.
//!
//! Sources:
//! - names: <https://kubernetes.io/docs/concepts/overview/working-with-objects/names/>
//!   (DNS-1123 subdomain for most objects, DNS-1123 label for namespaces);
//! - selectors: <https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors>
//!   (equality- and set-based requirements, comma-separated) and apimachinery's
//!   `pkg/labels/selector.go`, which also accepts `key>N` / `key<N` for integers;
//! - label keys and values: the "Syntax and character set" section of the same page.

/// What a DNS-1123 label is, for messages.
pub const LABEL_SHAPE: &str =
    "a DNS-1123 label: at most 63 lowercase letters, digits and `-`, starting and ending with a letter or digit";
/// What a DNS-1123 subdomain is, for messages.
pub const SUBDOMAIN_SHAPE: &str =
    "a DNS-1123 subdomain: at most 253 lowercase letters, digits, `-` and `.`, starting and ending with a letter or digit";
/// What a label selector is, for messages.
pub const SELECTOR_SHAPE: &str =
    "a label selector such as `app=web`, `tier!=db`, `env in (a,b)`, `!canary`, comma-separated";

fn alnum_lower(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// DNS-1123 label (RFC 1123): namespaces, and names of objects that must be labels.
pub fn is_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter().all(|c| alnum_lower(*c) || *c == b'-')
        && alnum_lower(b[0])
        && alnum_lower(b[b.len() - 1])
}

/// DNS-1123 subdomain: names of Deployments, StatefulSets, DaemonSets, Jobs, Pods, Services.
pub fn is_dns1123_subdomain(s: &str) -> bool {
    s.len() <= 253
        && !s.is_empty()
        && s.split('.').all(|part| {
            let b = part.as_bytes();
            !b.is_empty()
                && b.iter().all(|c| alnum_lower(*c) || *c == b'-')
                && alnum_lower(b[0])
                && alnum_lower(b[b.len() - 1])
        })
}

/// Label value: empty, or at most 63 of `[A-Za-z0-9._-]` starting and ending alphanumeric.
fn is_label_value(s: &str) -> bool {
    let b = s.as_bytes();
    b.is_empty()
        || (b.len() <= 63
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric())
}

/// Label key: an optional DNS-1123 subdomain prefix and `/`, then a non-empty label value.
fn is_label_key(s: &str) -> bool {
    let (prefix, name) = match s.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    prefix.is_none_or(is_dns1123_subdomain) && !name.is_empty() && is_label_value(name)
}

/// Why `selector` is not a valid label selector, or `None` when it is.
pub fn selector_problem(selector: &str) -> Option<String> {
    if selector.trim().is_empty() {
        return Some("the selector is empty".to_owned());
    }
    for req in split_requirements(selector) {
        let req = req.trim();
        if let Some(why) = requirement_problem(req) {
            return Some(format!("`{req}`: {why}"));
        }
    }
    None
}

/// Split on commas outside `( … )`.
fn split_requirements(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn requirement_problem(req: &str) -> Option<String> {
    let bad_key = |k: &str| (!is_label_key(k)).then(|| format!("invalid label key `{k}`"));
    let bad_value = |v: &str| {
        (!is_label_value(v)).then(|| {
            format!("invalid label value `{v}` (at most 63 of letters, digits, `-`, `_`, `.`, starting and ending with a letter or digit)")
        })
    };
    if req.is_empty() {
        return Some("empty requirement".to_owned());
    }
    if let Some(k) = req.strip_prefix('!') {
        return bad_key(k.trim());
    }
    for op in ["!=", "==", "="] {
        if let Some((k, v)) = req.split_once(op) {
            return bad_key(k.trim()).or_else(|| bad_value(v.trim()));
        }
    }
    for op in ['>', '<'] {
        if let Some((k, v)) = req.split_once(op) {
            return bad_key(k.trim()).or_else(|| {
                v.trim()
                    .parse::<i64>()
                    .is_err()
                    .then(|| format!("`{op}` needs an integer, found `{}`", v.trim()))
            });
        }
    }
    let words: Vec<&str> = req.splitn(2, char::is_whitespace).collect();
    if let [key, rest] = words.as_slice() {
        let rest = rest.trim_start();
        let set = rest
            .strip_prefix("notin")
            .or_else(|| rest.strip_prefix("in"))
            .map(str::trim);
        return match set {
            Some(list) if list.starts_with('(') && list.ends_with(')') => {
                bad_key(key).or_else(|| {
                    list[1..list.len() - 1]
                        .split(',')
                        .find_map(|v| bad_value(v.trim()))
                })
            }
            _ => Some("expected `=`, `==`, `!=`, `in (…)` or `notin (…)` after the key".to_owned()),
        };
    }
    bad_key(req)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_dns_1123() {
        for ok in ["a", "web-1", "a.b-c.d", &"a".repeat(63)] {
            assert!(is_dns1123_subdomain(ok), "{ok}");
        }
        for bad in ["", "UPPER", "-a", "a-", "a..b", "a_b", &"a".repeat(254)] {
            assert!(!is_dns1123_subdomain(bad), "{bad}");
        }
        assert!(is_dns1123_label("kube-system"));
        for bad in ["Bad_NS", "a.b", &"a".repeat(64), ""] {
            assert!(!is_dns1123_label(bad), "{bad}");
        }
    }

    #[test]
    fn selectors_follow_the_labels_docs() {
        for ok in [
            "app=web",
            "app==web,tier!=db",
            "environment in (production, qa)",
            "tier notin (frontend,backend)",
            "partition",
            "!partition",
            "app.kubernetes.io/name=web",
            "app=",
            "replicas>2",
        ] {
            assert_eq!(selector_problem(ok), None, "{ok}");
        }
        for bad in [
            "",
            "a=b=c",
            "app=web,",
            "App Name=x",
            "x in a,b",
            "a=-b",
            "env in (a,!b)",
            "n>x",
            "/x=y",
        ] {
            assert!(selector_problem(bad).is_some(), "{bad}");
        }
    }
}
