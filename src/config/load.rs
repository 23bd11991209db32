//! Reading `kubetest.yaml`: file checks, parsing, and turning serde's messages into located problems.

use super::de;
use super::error::{did_you_mean, ConfigError, Problem};
use super::locate::{Location, LocationIndex};
use super::model::Config;
use super::tree::{self, Node, Tree};
use super::validate::{duplicate_keys, validate};
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
    let text = read_text(path, "config")?;
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
    let text = without_bom(text);
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
    let mut parsed: Parsed<Config> = from_yaml(text, file)?;
    if !parsed.value.setup.is_empty() {
        parsed.value.setup_line = parsed.index.key("setup").line;
        parsed.value.setup_step_lines = (0..parsed.value.setup.len())
            .map(|i| parsed.index.value(&format!("setup[{i}]")).line)
            .collect();
    }
    let semantic = validate(&parsed.value, &parsed.index, dir);
    parsed.add_checks(semantic);
    parsed.finish(text, file)
}

/// A leading UTF-8 byte order mark is not part of the YAML (editors on Windows write one).
pub(crate) fn without_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

/// Read a YAML file as UTF-8 text; invalid UTF-8 is located at its line and column.
pub(crate) fn read_text(path: &Path, what: &str) -> Result<String, ConfigError> {
    let bytes = std::fs::read(path).map_err(|e| {
        ConfigError::single(
            path,
            Problem::new(None, format!("cannot read the {what} file: {e}")),
        )
    })?;
    String::from_utf8(bytes).map_err(|e| {
        let bytes = e.as_bytes();
        let good = &bytes[..e.utf8_error().valid_up_to()];
        let line_start = good.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let prefix = String::from_utf8_lossy(&good[line_start..]);
        let location = Location {
            line: 1 + good.iter().filter(|b| **b == b'\n').count(),
            column: 1 + prefix.chars().count(),
        };
        let lossy = String::from_utf8_lossy(bytes);
        ConfigError::single(
            path,
            Problem::new(
                Some(location),
                format!(
                    "the file is not UTF-8 text: byte 0x{:02x} is not valid here",
                    bytes[good.len()]
                ),
            )
            .expected("a file saved as UTF-8"),
        )
        .with_source(&lossy)
    })
}

/// A YAML file read into `T`: the value (repaired where parts were wrong), its locations,
/// and every problem so far. Checks of the value add theirs with `add_checks`.
pub(crate) struct Parsed<T> {
    pub value: T,
    pub index: LocationIndex,
    pub problems: Vec<Problem>,
    /// Spans where a wrong value was replaced by its default (see de.rs).
    repaired: Vec<(Location, Location)>,
}

impl<T> Parsed<T> {
    /// The value, and the rest to add checks to and finish.
    pub(crate) fn split(self) -> (T, Parsed<()>) {
        (
            self.value,
            Parsed {
                value: (),
                index: self.index,
                problems: self.problems,
                repaired: self.repaired,
            },
        )
    }

    /// Add the problems of semantic checks, except those inside repaired spans: they would
    /// judge a default that stands in for a value already reported as wrong.
    pub(crate) fn add_checks(&mut self, problems: impl IntoIterator<Item = Problem>) {
        for p in problems {
            let repaired = p
                .location
                .is_some_and(|l| self.repaired.iter().any(|(s, e)| *s <= l && l <= *e));
            if !repaired {
                self.problems.push(p);
            }
        }
    }

    /// The value when nothing is wrong, else every problem sorted by position.
    pub(crate) fn finish(mut self, text: &str, file: &Path) -> Result<T, ConfigError> {
        if self.problems.is_empty() {
            return Ok(self.value);
        }
        self.problems.sort_by_key(|p| p.location);
        Err(ConfigError {
            file: file.to_path_buf(),
            problems: self.problems,
        }
        .with_source(text))
    }
}

/// Parse YAML text into a located tree; syntax, a second document, too deep nesting and
/// runaway aliases stop here with one located problem.
pub(crate) fn parse_tree(text: &str, file: &Path) -> Result<Tree, ConfigError> {
    tree::parse(text).map_err(|p| ConfigError::single(file, p).with_source(text))
}

/// Read `root` of `tree` into `T`, collecting every shape error (unknown keys, wrong types,
/// bad values, repeated keys) with its location.
pub(crate) fn read_tree<T: serde::de::DeserializeOwned>(
    tree: &Tree,
    root: &Node,
    text: &str,
    file: &Path,
) -> Result<Parsed<T>, ConfigError> {
    let read = de::read::<T>(tree, root);
    let mut problems = duplicate_keys(&tree.index);
    problems.extend(
        read.errors
            .iter()
            .map(|e| translate(&e.path, &e.msg, e.location())),
    );
    match read.value {
        Some(value) => Ok(Parsed {
            value,
            index: tree.index.clone(),
            problems,
            repaired: read.repaired,
        }),
        None => {
            problems.sort_by_key(|p| p.location);
            Err(ConfigError {
                file: file.to_path_buf(),
                problems,
            }
            .with_source(text))
        }
    }
}

/// Parse and read YAML text into `T` (see `parse_tree` and `read_tree`). Shared by every YAML
/// file kubetest reads.
pub(crate) fn from_yaml<T: serde::de::DeserializeOwned>(
    text: &str,
    file: &Path,
) -> Result<Parsed<T>, ConfigError> {
    let mut tree = parse_tree(text, file)?;
    let Some(root) = tree.root.take() else {
        return Err(ConfigError::single(
            file,
            Problem::new(Some(Location::START), "the file holds no YAML document")
                .expected("a YAML mapping"),
        )
        .with_source(text));
    };
    read_tree(&tree, &root, text, file)
}

/// A serde error at `path` → a problem with a plain message, the expected shape and a hint.
fn translate(path: &str, msg: &str, location: Option<Location>) -> Problem {
    let path = (!path.is_empty()).then_some(path);
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
            let found = if found == "unit value" { "null" } else { found };
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
    // Errors of kubetest's own value types (durations, ports, volumes).
    if let Some((what, expected)) = msg.split_once("; expected ") {
        return Problem::new(location, at(what.to_owned())).expected(expected.to_owned());
    }
    if let Some(rest) = msg.strip_prefix("invalid value: ") {
        if let Some((found, expected)) = rest.split_once(", expected ") {
            return Problem::new(location, at(format!("out of range: found {found}")))
                .expected(shape(expected));
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
        "u8" | "u16" | "u32" | "u64" | "usize" => {
            let max = match serde_expected {
                "u8" => u64::from(u8::MAX),
                "u16" => u64::from(u16::MAX),
                "u32" => u64::from(u32::MAX),
                _ => u64::MAX,
            };
            format!("a whole number from 0 to {max}")
        }
        "i64" | "i32" => "a whole number".to_owned(),
        s => s.to_owned(),
    }
}
