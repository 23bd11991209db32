//! Label and field selectors as the API server parses them (`a=b,c!=d,e in (f,g),!h`).

use serde_json::Value;

/// Split on commas outside parentheses.
fn terms(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur);
    out.into_iter()
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .collect()
}

pub fn labels_match(selector: &str, obj: &Value) -> bool {
    let labels = obj.pointer("/metadata/labels");
    let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(|v| v.as_str());
    terms(selector).iter().all(|t| {
        if let Some((k, v)) = t.split_once("!=") {
            return get(k.trim()) != Some(v.trim());
        }
        if let Some((k, v)) = t.split_once("==").or_else(|| t.split_once('=')) {
            return get(k.trim()) == Some(v.trim());
        }
        let set = |rest: &str| -> Vec<String> {
            rest.trim()
                .trim_start_matches('(')
                .trim_end_matches(')')
                .split(',')
                .map(|s| s.trim().to_owned())
                .collect()
        };
        if let Some((k, rest)) = t.split_once(" notin ") {
            return !get(k.trim()).is_some_and(|v| set(rest).iter().any(|s| s == v));
        }
        if let Some((k, rest)) = t.split_once(" in ") {
            return get(k.trim()).is_some_and(|v| set(rest).iter().any(|s| s == v));
        }
        match t.strip_prefix('!') {
            Some(k) => get(k.trim()).is_none(),
            None => get(t).is_some(),
        }
    })
}

pub fn fields_match(selector: &str, obj: &Value) -> bool {
    terms(selector).iter().all(|t| {
        let (path, want, eq) = match t.split_once("!=") {
            Some((p, v)) => (p, v, false),
            None => match t.split_once("==").or_else(|| t.split_once('=')) {
                Some((p, v)) => (p, v, true),
                None => return false,
            },
        };
        let pointer = format!("/{}", path.trim().replace('.', "/"));
        let have = obj.pointer(&pointer).and_then(|v| v.as_str()).unwrap_or("");
        (have == want.trim()) == eq
    })
}
