//! `{{ name }}` placeholders in step fields, filled from scenario vars, the namespace,
//! dependency ports/addresses and values captured by earlier steps.

use std::collections::BTreeMap;

/// The variables a step can use, by dotted name (`namespace`, `deps.redis.port.6379`).
pub type Vars = BTreeMap<String, String>;

/// An unknown variable or an unclosed `{{`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("unknown variable `{name}`{}", known_hint(.known))]
    Unknown { name: String, known: Vec<String> },
    #[error("`{{{{` without a closing `}}}}` in {text:?}")]
    Unclosed { text: String },
}

fn known_hint(known: &[String]) -> String {
    if known.is_empty() {
        "; no variables are defined here".to_owned()
    } else {
        format!("; known here: {}", known.join(", "))
    }
}

/// The names `text` refers to, in order.
pub fn references(text: &str) -> Result<Vec<String>, TemplateError> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or_else(|| TemplateError::Unclosed {
            text: text.to_owned(),
        })?;
        names.push(after[..end].trim().to_owned());
        rest = &after[end + 2..];
    }
    Ok(names)
}

/// Replace every `{{ name }}` in `text`.
pub fn render(text: &str, vars: &Vars) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or_else(|| TemplateError::Unclosed {
            text: text.to_owned(),
        })?;
        let name = after[..end].trim();
        match vars.get(name) {
            Some(v) => out.push_str(v),
            None => {
                return Err(TemplateError::Unknown {
                    name: name.to_owned(),
                    known: vars.keys().cloned().collect(),
                })
            }
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Render a `sh -c` script so that no value can become shell code: each `{{ name }}` becomes a
/// reference to an environment variable (`KUBETEST_VAR_<n>`, returned with its value), quoted
/// for where it stands — `"${V}"` outside quotes, `${V}` inside "…", `'"${V}"'` inside '…'.
/// The shell never parses an expansion's result as code, so even a misjudged quote context
/// can only change word splitting, never run what a value holds.
pub fn render_shell(
    text: &str,
    vars: &Vars,
) -> Result<(String, Vec<(String, String)>), TemplateError> {
    let mut out = String::with_capacity(text.len());
    let mut env: Vec<(String, String)> = Vec::new();
    let mut quote = Quote::None;
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        quote = quote.after(&rest[..start]);
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or_else(|| TemplateError::Unclosed {
            text: text.to_owned(),
        })?;
        let name = after[..end].trim();
        let value = vars.get(name).ok_or_else(|| TemplateError::Unknown {
            name: name.to_owned(),
            known: vars.keys().cloned().collect(),
        })?;
        let var = format!("KUBETEST_VAR_{}", env.len() + 1);
        out.push_str(&match quote {
            Quote::None => format!("\"${{{var}}}\""),
            Quote::Double => format!("${{{var}}}"),
            Quote::Single => format!("'\"${{{var}}}\"'"),
        });
        env.push((var, value.clone()));
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok((out, env))
}

/// Where a `sh` script stands after some text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quote {
    None,
    Single,
    Double,
}

impl Quote {
    fn after(self, text: &str) -> Quote {
        let mut q = self;
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            q = match (q, c) {
                (Quote::None | Quote::Double, '\\') => {
                    chars.next();
                    q
                }
                (Quote::None, '\'') => Quote::Single,
                (Quote::Single, '\'') => Quote::None,
                (Quote::None, '"') => Quote::Double,
                (Quote::Double, '"') => Quote::None,
                _ => q,
            };
        }
        q
    }
}

/// Render every string inside a JSON tree (keys stay as written).
pub fn render_value(
    v: &serde_json::Value,
    vars: &Vars,
) -> Result<serde_json::Value, TemplateError> {
    use serde_json::Value;
    Ok(match v {
        Value::String(s) => Value::String(render(s, vars)?),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|i| render_value(i, vars))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), render_value(v, vars)?)))
                .collect::<Result<_, TemplateError>>()?,
        ),
        other => other.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars {
        [
            ("namespace", "kt-a-1"),
            ("deps.redis.port.6379", "16379"),
            ("token", "abc"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    #[test]
    fn renders_and_reports() {
        let v = vars();
        assert_eq!(
            render("http://127.0.0.1:{{deps.redis.port.6379}}/x", &v).unwrap(),
            "http://127.0.0.1:16379/x"
        );
        assert_eq!(
            render("{{ namespace }}-{{token}}", &v).unwrap(),
            "kt-a-1-abc"
        );
        assert_eq!(render("no placeholders", &v).unwrap(), "no placeholders");
        assert_eq!(
            render("{{ nope }}", &v).unwrap_err().to_string(),
            "unknown variable `nope`; known here: deps.redis.port.6379, namespace, token"
        );
        assert!(matches!(
            render("{{ open", &v),
            Err(TemplateError::Unclosed { .. })
        ));
        assert_eq!(references("a {{x}} b {{ y.z }}").unwrap(), vec!["x", "y.z"]);
        let (script, env) =
            render_shell("echo {{token}} \"id={{namespace}}\" 'x={{token}}'", &v).unwrap();
        assert_eq!(
            script,
            "echo \"${KUBETEST_VAR_1}\" \"id=${KUBETEST_VAR_2}\" 'x='\"${KUBETEST_VAR_3}\"''"
        );
        assert_eq!(
            env,
            [
                ("KUBETEST_VAR_1".to_owned(), "abc".to_owned()),
                ("KUBETEST_VAR_2".to_owned(), "kt-a-1".to_owned()),
                ("KUBETEST_VAR_3".to_owned(), "abc".to_owned())
            ]
        );
        let tree = serde_json::json!({"metadata": {"namespace": "{{namespace}}"}, "n": 1});
        assert_eq!(
            render_value(&tree, &v).unwrap()["metadata"]["namespace"],
            "kt-a-1"
        );
    }
}
