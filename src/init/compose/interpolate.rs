//! Compose variable interpolation (`$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
//! `${VAR:?err}`, `${VAR?err}`, `${VAR:+alt}`, `${VAR+alt}`, nesting, `$$`), resolved from the
//! variables of the project's `.env` file only.
//!
//! Semantics from the Compose specification, "Interpolation"
//! (<https://github.com/compose-spec/compose-spec/blob/main/12-interpolation.md>,
//! <https://docs.docker.com/reference/compose-file/interpolation/>): "If the Compose
//! implementation can't resolve a substituted variable and no default value is defined, it MUST
//! warn the user and substitute the variable with an empty string"; a `$` not followed by a
//! valid name or `{` is kept as is; `$$` is a literal `$`.
//!
//! The shell's environment is deliberately not read: the generated file must not depend on
//! (or capture secrets from) whoever ran `kubetest init`.

use std::collections::BTreeMap;

/// How a variable of a value was resolved, for the notes of the generated file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// Taken from `.env`.
    FromEnvFile,
    /// Not set: the default written in the file was used.
    Default,
    /// Not set and no default: replaced by an empty string (as Compose does, with a warning).
    Empty,
    /// `${VAR:?message}` / `${VAR?message}` with the variable not set: Compose stops here.
    Required(String),
}

/// One variable met while interpolating a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Use {
    pub name: String,
    pub resolution: Resolution,
}

/// `text` with every variable substituted, and what was met on the way.
pub fn interpolate(text: &str, vars: &BTreeMap<String, String>) -> (String, Vec<Use>) {
    let mut uses = Vec::new();
    let out = expand(text, vars, &mut uses);
    (out, uses)
}

fn is_name_start(c: char) -> bool {
    c == '_' || c.is_ascii_alphabetic()
}

fn is_name_char(c: char) -> bool {
    c == '_' || c.is_ascii_alphanumeric()
}

fn expand(text: &str, vars: &BTreeMap<String, String>, uses: &mut Vec<Use>) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '$' {
            out.push(c);
            i += 1;
            continue;
        }
        match chars.get(i + 1) {
            Some('$') => {
                out.push('$');
                i += 2;
            }
            Some('{') => match closing_brace(&chars, i + 2) {
                Some(end) => {
                    let inner: String = chars[i + 2..end].iter().collect();
                    out.push_str(&braced(&inner, vars, uses));
                    i = end + 1;
                }
                None => {
                    // Unterminated: kept as written.
                    out.extend(&chars[i..]);
                    i = chars.len();
                }
            },
            Some(&n) if is_name_start(n) => {
                let start = i + 1;
                let mut end = start;
                while end < chars.len() && is_name_char(chars[end]) {
                    end += 1;
                }
                let name: String = chars[start..end].iter().collect();
                out.push_str(&lookup(&name, vars, uses));
                i = end;
            }
            _ => {
                out.push('$');
                i += 1;
            }
        }
    }
    out
}

/// Index of the `}` closing a `${` whose content starts at `from`, counting nested `${`.
fn closing_brace(chars: &[char], from: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = from;
    while i < chars.len() {
        match chars[i] {
            '$' if chars.get(i + 1) == Some(&'{') => {
                depth += 1;
                i += 2;
                continue;
            }
            '}' if depth == 0 => return Some(i),
            '}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

fn lookup(name: &str, vars: &BTreeMap<String, String>, uses: &mut Vec<Use>) -> String {
    match vars.get(name) {
        Some(v) => {
            uses.push(Use {
                name: name.to_owned(),
                resolution: Resolution::FromEnvFile,
            });
            v.clone()
        }
        None => {
            uses.push(Use {
                name: name.to_owned(),
                resolution: Resolution::Empty,
            });
            String::new()
        }
    }
}

/// The content of `${…}`: a name, then optionally an operator and a word (itself interpolated).
fn braced(inner: &str, vars: &BTreeMap<String, String>, uses: &mut Vec<Use>) -> String {
    let name_len = inner
        .char_indices()
        .find(|(_, c)| !is_name_char(*c))
        .map_or(inner.len(), |(i, _)| i);
    let (name, rest) = inner.split_at(name_len);
    if name.is_empty() || !name.starts_with(is_name_start) {
        // Not a variable Compose would accept; keep it as written.
        return format!("${{{inner}}}");
    }
    let value = vars.get(name);
    let set = value.is_some();
    let non_empty = value.is_some_and(|v| !v.is_empty());
    let ops: [(&str, bool); 6] = [
        (":-", true),
        (":?", true),
        (":+", true),
        ("-", false),
        ("?", false),
        ("+", false),
    ];
    let Some((op, colon)) = ops.iter().find(|(op, _)| rest.starts_with(op)) else {
        if rest.is_empty() {
            return lookup(name, vars, uses);
        }
        return format!("${{{inner}}}");
    };
    let word = &rest[op.len()..];
    let present = if *colon { non_empty } else { set };
    match op.trim_start_matches(':') {
        "-" if present => lookup(name, vars, uses),
        "-" => {
            uses.push(Use {
                name: name.to_owned(),
                resolution: Resolution::Default,
            });
            expand(word, vars, uses)
        }
        "?" if present => lookup(name, vars, uses),
        "?" => {
            let message = expand(word, vars, uses);
            uses.push(Use {
                name: name.to_owned(),
                resolution: Resolution::Required(message),
            });
            String::new()
        }
        _ /* "+" */ if present => {
            uses.push(Use {
                name: name.to_owned(),
                resolution: Resolution::FromEnvFile,
            });
            expand(word, vars, uses)
        }
        _ => {
            uses.push(Use {
                name: name.to_owned(),
                resolution: Resolution::Default,
            });
            String::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> BTreeMap<String, String> {
        [("SET", "value"), ("EMPTY", "")]
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn i(text: &str) -> String {
        interpolate(text, &vars()).0
    }

    #[test]
    fn operators_follow_the_compose_specification() {
        assert_eq!(i("${SET}"), "value");
        assert_eq!(i("$SET/x"), "value/x");
        assert_eq!(i("${UNSET}"), "");
        assert_eq!(i("${UNSET:-d}"), "d");
        assert_eq!(i("${EMPTY:-d}"), "d", "`:-` also replaces an empty value");
        assert_eq!(i("${EMPTY-d}"), "", "`-` replaces only an unset one");
        assert_eq!(i("${UNSET-d}"), "d");
        assert_eq!(i("${SET:+alt}"), "alt");
        assert_eq!(i("${EMPTY:+alt}"), "");
        assert_eq!(i("${EMPTY+alt}"), "alt");
        assert_eq!(i("${UNSET:-${SET}}"), "value", "nested");
        assert_eq!(i("${UNSET:-${ALSO:-deep}}"), "deep");
        assert_eq!(
            i("$${HOSTNAME} $$x"),
            "${HOSTNAME} $x",
            "`$$` is a literal `$`"
        );
        assert_eq!(
            i("cost: 5$ and $1"),
            "cost: 5$ and $1",
            "no valid name: kept"
        );
        // Immich writes `${EXPOSE_PORT-:2283:2283}`: the default is `:2283:2283`.
        assert_eq!(i("${EXPOSE_PORT-:2283:2283}"), ":2283:2283");
    }

    #[test]
    fn what_was_met_is_reported() {
        let (_, uses) = interpolate("${A:?set A first} ${SET} ${B:-x} ${C}", &vars());
        assert_eq!(
            uses,
            vec![
                Use {
                    name: "A".into(),
                    resolution: Resolution::Required("set A first".into())
                },
                Use {
                    name: "SET".into(),
                    resolution: Resolution::FromEnvFile
                },
                Use {
                    name: "B".into(),
                    resolution: Resolution::Default
                },
                Use {
                    name: "C".into(),
                    resolution: Resolution::Empty
                },
            ]
        );
    }
}
