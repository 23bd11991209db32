//! Environment files (`.env`, `env_file:`) in the syntax Compose reads: `KEY=VALUE` lines,
//! `#` comments, optional `export `, single quotes literal, double quotes with `\n`, `\t`,
//! `\\`, `\"` escapes, ` #` starting an inline comment after an unquoted value.
//!
//! Source: "Syntax for environment files", <https://docs.docker.com/compose/how-tos/environment-variables/variable-interpolation/#env-file-syntax>.

use std::collections::BTreeMap;

/// A parsed environment file: the variables with values, and the names listed without `=`
/// (Compose takes those from the shell, which `init` does not read).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct EnvFile {
    pub vars: BTreeMap<String, String>,
    pub bare: Vec<String>,
}

pub fn parse(text: &str) -> EnvFile {
    let mut out = EnvFile::default();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
        let Some((key, raw)) = line.split_once('=') else {
            out.bare.push(line.to_owned());
            continue;
        };
        let key = key.trim();
        if key.is_empty() {
            continue;
        }
        out.vars.insert(key.to_owned(), value(raw.trim_start()));
    }
    out
}

fn value(raw: &str) -> String {
    if let Some(rest) = raw.strip_prefix('\'') {
        return rest.split_once('\'').map_or(rest, |(v, _)| v).to_owned();
    }
    if let Some(rest) = raw.strip_prefix('"') {
        let mut v = String::new();
        let mut chars = rest.chars();
        while let Some(c) = chars.next() {
            match c {
                '"' => break,
                '\\' => match chars.next() {
                    Some('n') => v.push('\n'),
                    Some('t') => v.push('\t'),
                    Some('r') => v.push('\r'),
                    Some(o) => v.push(o),
                    None => v.push('\\'),
                },
                o => v.push(o),
            }
        }
        return v;
    }
    let unquoted = raw.split_once(" #").map_or(raw, |(v, _)| v);
    unquoted.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_syntax() {
        let f = parse(
            "# comment\n\nA=1\nexport B = two \nC='$OTHER # kept'\nD=\"a\\tb\" # c\nE=v # inline\nF=v#not\nBARE\n",
        );
        let get = |k: &str| f.vars.get(k).map(String::as_str);
        assert_eq!(get("A"), Some("1"));
        assert_eq!(get("B"), Some("two"));
        assert_eq!(get("C"), Some("$OTHER # kept"));
        assert_eq!(get("D"), Some("a\tb"));
        assert_eq!(get("E"), Some("v"));
        assert_eq!(get("F"), Some("v#not"));
        assert_eq!(f.bare, vec!["BARE".to_owned()]);
    }
}
