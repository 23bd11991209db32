//! Reading `kubetest.yaml`: file checks, parsing, and turning serde's messages into located problems.

use super::error::{did_you_mean, ConfigError, Problem};
use super::locate::{Location, LocationIndex};
use super::model::Config;
use super::validate::validate;
use std::path::{Path, PathBuf};

/// A parsed and validated config with the directory its relative paths are resolved against.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    /// The config file as given (for messages).
    pub path: PathBuf,
    /// The directory containing the config file (absolute).
    pub dir: PathBuf,
    pub config: Config,
}

/// Read, parse and validate a config file. Touches nothing on disk.
pub fn load(path: &Path) -> Result<LoadedConfig, ConfigError> {
    let fail = |p: Problem| ConfigError::single(path, p);
    let meta = std::fs::metadata(path).map_err(|e| {
        let p = if e.kind() == std::io::ErrorKind::NotFound {
            Problem::new(None, "config file not found").expected(
                "a kubetest.yaml in the current directory, or a path given with -f/--file",
            )
        } else {
            Problem::new(None, format!("cannot read the config file: {e}"))
        };
        fail(p)
    })?;
    if meta.is_dir() {
        let inside = path.join("kubetest.yaml");
        let hint = inside
            .is_file()
            .then(|| format!("use -f {}", inside.display()));
        return Err(fail(
            Problem::new(None, "is a directory, not a config file")
                .expected("the path of a kubetest.yaml file")
                .hint(hint),
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| {
        fail(Problem::new(
            None,
            format!("cannot read the config file: {e}"),
        ))
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        fail(Problem::new(
            None,
            format!("the file is not UTF-8 text: {e}"),
        ))
    })?;
    let abs = std::path::absolute(path)
        .map_err(|e| fail(Problem::new(None, format!("cannot resolve the path: {e}"))))?;
    let dir = abs
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("/"));
    let config = load_str(&text, path, &dir)?;
    Ok(LoadedConfig {
        path: path.to_path_buf(),
        dir,
        config,
    })
}

/// Parse and validate config text; `file` is used in messages, `dir` resolves relative paths.
pub fn load_str(text: &str, file: &Path, dir: &Path) -> Result<Config, ConfigError> {
    let meaningful = text
        .lines()
        .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#') && l.trim() != "---");
    if !meaningful {
        return Err(ConfigError::single(
            file,
            Problem::new(Some(Location::START), "the config file is empty")
                .expected("a mapping with at least `name: <environment name>`"),
        )
        .with_source(text));
    }
    let (mut config, index): (Config, _) = from_yaml(text, file)?;
    if !config.setup.is_empty() {
        config.setup_line = index.key("setup").line;
    }
    let problems = validate(&config, &index, dir);
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(ConfigError {
            file: file.to_path_buf(),
            problems,
        }
        .with_source(text))
    }
}

/// Deserialize YAML text into `T`, with serde's errors turned into located problems; also
/// returns the location index for semantic checks. Shared by every YAML file kubetest reads.
pub(crate) fn from_yaml<T: serde::de::DeserializeOwned>(
    text: &str,
    file: &Path,
) -> Result<(T, LocationIndex), ConfigError> {
    let index = LocationIndex::build(text);
    let value: T = serde_yaml::from_str(text)
        .map_err(|e| ConfigError::single(file, translate(&e, &index)).with_source(text))?;
    Ok((value, index))
}

/// serde_yaml's error → a problem with its location, a plain message, the expected shape and a hint.
fn translate(e: &serde_yaml::Error, index: &LocationIndex) -> Problem {
    let location = e.location().map(|l| Location {
        line: l.line(),
        column: l.column(),
    });
    let full = e.to_string();
    // serde_yaml appends " at line N column M"; the location is reported separately.
    let body = match full.rfind(" at line ") {
        Some(i) if location.is_some() => &full[..i],
        _ => full.as_str(),
    };
    // Syntax errors repeat the position inside the message; it is reported separately.
    let body_owned = match location {
        Some(l) => body.replace(&format!(" at line {} column {}", l.line, l.column), ""),
        None => body.to_owned(),
    };
    let body = body_owned.as_str();
    // A path prefix such as `dependencies.redis.health: ` names where the error is.
    let (path, msg) = match body.split_once(": ") {
        Some((p, m)) if !p.contains(' ') && !p.is_empty() => (Some(p), m),
        _ => (None, body),
    };
    let at = |m: String| match path {
        Some(p) => format!("{p}: {m}"),
        None => m,
    };

    if let Some(rest) = msg.strip_prefix("unknown field `") {
        let (name, expected) = split_unknown(rest);
        let hint = did_you_mean(name, expected.iter().map(String::as_str));
        return Problem::new(location, at(format!("unknown key `{name}`")))
            .expected(one_of(&expected))
            .hint(hint);
    }
    if let Some(rest) = msg.strip_prefix("unknown variant `") {
        let (name, expected) = split_unknown(rest);
        let hint = did_you_mean(name, expected.iter().map(String::as_str));
        return Problem::new(location, at(format!("unknown value `{name}`")))
            .expected(one_of(&expected))
            .hint(hint);
    }
    if let Some(rest) = msg.strip_prefix("invalid type: ") {
        if let Some((found, expected)) = rest.split_once(", expected ") {
            return Problem::new(location, at(format!("wrong type: found {found}")))
                .expected(shape(expected));
        }
    }
    if let Some(rest) = msg.strip_prefix("missing field `") {
        let name = rest.trim_end_matches('`');
        return Problem::new(location, at(format!("missing required key `{name}`")))
            .expected(format!("`{name}:` in this mapping"));
    }
    if let Some(rest) = msg.strip_prefix("duplicate entry with key ") {
        return Problem::new(location, at(format!("duplicate key {rest}")))
            .expected("each key once in a mapping");
    }
    // Errors of kubetest's own value types (durations, ports, volumes): serde_yaml places
    // them at the enclosing mapping; the offending text, quoted in the message, is exact.
    let exact = |m: &str| {
        let quoted = m.split('`').nth(1)?;
        index.scalar_under(path.unwrap_or(""), quoted)
    };
    if let Some((what, expected)) = msg.split_once("; expected ") {
        return Problem::new(exact(what).or(location), at(what.to_owned()))
            .expected(expected.to_owned());
    }
    if let Some(rest) = msg.strip_prefix("expected ") {
        if let Some((expected, found)) = rest.split_once(", found ") {
            let what = format!("found {found}");
            return Problem::new(exact(&what).or(location), at(what)).expected(expected.to_owned());
        }
    }
    Problem::new(location, at(msg.to_owned())).expected("valid YAML in the shape of kubetest.yaml")
}

/// "x`, expected one of `a`, `b`" → ("x", ["a", "b"]).
fn split_unknown(rest: &str) -> (&str, Vec<String>) {
    let (name, tail) = rest.split_once('`').unwrap_or((rest, ""));
    let expected = tail
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect();
    (name, expected)
}

fn one_of(items: &[String]) -> String {
    match items {
        [] => "no keys here".to_owned(),
        [one] => format!("`{one}`"),
        many => format!(
            "one of {}",
            many.iter()
                .map(|i| format!("`{i}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// serde's words for shapes → the words a YAML author uses.
fn shape(serde_expected: &str) -> String {
    match serde_expected {
        "a sequence" => "a list".to_owned(),
        "a map" => "a mapping of keys to values".to_owned(),
        "struct Config" => "a mapping with `name:` and the other kubetest.yaml keys".to_owned(),
        s if s.starts_with("struct ") => "a mapping".to_owned(),
        "a boolean" => "true or false".to_owned(),
        s => s.to_owned(),
    }
}
