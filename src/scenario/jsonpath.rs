//! The small JSONPath subset steps use to capture and wait on values:
//! `.a.b`, `$.a.b`, `{.a.b}` (kubectl style), `[0]`, `['key.with.dots']`, `[?(@.type=="Ready")]`.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid JSONPath `{path}`: {why}")]
pub struct PathError {
    pub path: String,
    pub why: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Seg {
    Key(String),
    Index(usize),
    Filter { key: String, value: String },
}

fn parse(path: &str) -> Result<Vec<Seg>, PathError> {
    let err = |why: &str| PathError {
        path: path.to_owned(),
        why: why.to_owned(),
    };
    let mut p = path.trim();
    if let Some(inner) = p.strip_prefix('{').and_then(|x| x.strip_suffix('}')) {
        p = inner;
    }
    p = p.strip_prefix('$').unwrap_or(p);
    let mut segs = Vec::new();
    let b = p.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'.' => {
                let start = i + 1;
                let mut j = start;
                while j < b.len() && b[j] != b'.' && b[j] != b'[' {
                    j += 1;
                }
                if j == start {
                    return Err(err("empty key after `.`"));
                }
                segs.push(Seg::Key(p[start..j].to_owned()));
                i = j;
            }
            b'[' => {
                let end = p[i..]
                    .find(']')
                    .map(|e| i + e)
                    .ok_or_else(|| err("`[` without `]`"))?;
                let inner = p[i + 1..end].trim();
                if let Some(f) = inner.strip_prefix("?(@.").and_then(|f| f.strip_suffix(')')) {
                    let (k, v) = f
                        .split_once("==")
                        .ok_or_else(|| err("filters must be [?(@.key==\"value\")]"))?;
                    segs.push(Seg::Filter {
                        key: k.trim().to_owned(),
                        value: v.trim().trim_matches(['"', '\'']).to_owned(),
                    });
                } else if let Some(q) = inner.strip_prefix('\'').and_then(|q| q.strip_suffix('\''))
                {
                    segs.push(Seg::Key(q.to_owned()));
                } else {
                    segs.push(Seg::Index(inner.parse().map_err(|_| {
                        err("expected a number, a 'key' or a filter in []")
                    })?));
                }
                i = end + 1;
            }
            _ => return Err(err("expected `.` or `[`")),
        }
    }
    Ok(segs)
}

/// Check the syntax of a path (for load-time errors).
pub fn validate(path: &str) -> Result<(), PathError> {
    parse(path).map(|_| ())
}

/// The value at `path`, or `None` when something along the way is absent.
pub fn lookup<'a>(root: &'a Value, path: &str) -> Result<Option<&'a Value>, PathError> {
    let mut cur = root;
    for seg in parse(path)? {
        let next = match (&seg, cur) {
            (Seg::Key(k), Value::Object(m)) => m.get(k),
            (Seg::Index(n), Value::Array(a)) => a.get(*n),
            (Seg::Filter { key, value }, Value::Array(a)) => {
                a.iter().find(|item| match item.get(key) {
                    Some(Value::String(s)) => s == value,
                    Some(other) => *other.to_string() == **value,
                    None => false,
                })
            }
            _ => None,
        };
        match next {
            Some(v) => cur = v,
            None => return Ok(None),
        }
    }
    Ok(Some(cur))
}

/// A captured value as text: strings bare, everything else as JSON.
pub fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths() {
        let v = json!({"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}], "n": 3},
                       "metadata": {"annotations": {"a.b/c": "x"}}, "items": [{"id": 7}]});
        let get = |p: &str| lookup(&v, p).unwrap().map(as_text);
        assert_eq!(get(".status.phase").as_deref(), Some("Running"));
        assert_eq!(get("$.status.n").as_deref(), Some("3"));
        assert_eq!(get("{.status.phase}").as_deref(), Some("Running"));
        assert_eq!(get(".items[0].id").as_deref(), Some("7"));
        assert_eq!(
            get(".status.conditions[?(@.type==\"Ready\")].status").as_deref(),
            Some("True")
        );
        assert_eq!(get(".metadata.annotations['a.b/c']").as_deref(), Some("x"));
        assert_eq!(get(".status.missing"), None);
        assert_eq!(get(".items[5]"), None);
        assert!(validate("status").is_err());
        assert!(validate(".a[").is_err());
        assert!(validate(".a[x]").is_err());
    }
}
