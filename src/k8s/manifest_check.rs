//! Manifests checked without a cluster: every YAML document parses and is an object with
//! `apiVersion`, `kind` and `metadata.name` (what server-side apply needs), each problem at
//! its line and column.

use super::manifests::to_object;
use crate::config::{Location, Problem};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// What one manifest file holds: the number of objects, and every problem found.
#[derive(Debug, Default, PartialEq)]
pub struct Checked {
    pub objects: usize,
    pub problems: Vec<Problem>,
}

/// Check the text of one manifest file. Pure.
pub fn check(text: &str) -> Checked {
    let mut starts = DocStarts::default();
    let mut parser = Parser::new_from_str(text);
    if let Err(e) = parser.load(&mut starts, true) {
        let m = e.marker();
        let at = Location {
            line: m.line(),
            column: m.col() + 1,
        };
        return Checked {
            objects: 0,
            problems: vec![
                Problem::new(Some(at), format!("not valid YAML: {}", e.info()))
                    .expected("YAML documents separated by `---`"),
            ],
        };
    }
    let mut out = Checked::default();
    use serde::Deserialize;
    for (i, de) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let at = starts
            .0
            .get(i)
            .copied()
            .flatten()
            .unwrap_or(Location::START);
        let value = match serde_json::Value::deserialize(de) {
            Ok(v) => v,
            Err(e) => {
                let at = e.location().map_or(at, |l| Location {
                    line: l.line(),
                    column: l.column(),
                });
                out.problems.push(Problem::new(Some(at), e.to_string()));
                continue;
            }
        };
        if value.is_null() {
            continue;
        }
        let items = crate::k8s::manifests::list_items(value);
        for item in items {
            match to_object(item) {
                Ok(_) => out.objects += 1,
                Err(message) => out.problems.push(
                    Problem::new(Some(at), format!("document {}: {message}", i + 1))
                        .expected("a Kubernetes object with apiVersion, kind and metadata.name"),
                ),
            }
        }
    }
    out
}

/// Where each document's content begins: its earliest node (`None` for an empty document).
#[derive(Default)]
struct DocStarts(Vec<Option<Location>>);

impl MarkedEventReceiver for DocStarts {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        // yaml-rust2: lines 1-based, columns 0-based (see config/locate.rs).
        let at = Location {
            line: mark.line(),
            column: mark.col() + 1,
        };
        match ev {
            Event::DocumentStart => self.0.push(None),
            // A block mapping's start is placed after its first key: take the earliest node.
            Event::Scalar(..) | Event::MappingStart(..) | Event::SequenceStart(..) => {
                if let Some(first) = self.0.last_mut() {
                    if first.is_none_or(|f| at < f) {
                        *first = Some(at);
                    }
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headlines(c: &Checked) -> Vec<String> {
        c.problems
            .iter()
            .map(|p| {
                let l = p.location.unwrap();
                format!("{}:{}: {}", l.line, l.column, p.message)
            })
            .collect()
    }

    #[test]
    fn counts_objects_of_every_document_and_lists() {
        let text = "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\napiVersion: v1\nkind: List\nitems:\n  - {apiVersion: v1, kind: ConfigMap, metadata: {name: b}}\n  - {apiVersion: v1, kind: ConfigMap, metadata: {name: c}}\n---\n";
        assert_eq!(
            check(text),
            Checked {
                objects: 3,
                problems: vec![]
            }
        );
    }

    #[test]
    fn every_document_without_apiversion_kind_or_name_is_named_at_its_start() {
        let text = "kind: Namespace\nmetadata: {name: a}\n---\n# a comment\napiVersion: v1\nkind: ConfigMap\nmetadata: {generateName: x-}\n---\napiVersion: v1\nmetadata: {name: ok}\n";
        assert_eq!(
            headlines(&check(text)),
            [
                "1:1: document 1: not a Kubernetes object: no `apiVersion`",
                "5:1: document 2: ConfigMap without `metadata.name` (generateName cannot be applied server-side)",
                "9:1: document 3: not a Kubernetes object: no `kind`",
            ]
        );
    }

    #[test]
    fn a_syntax_error_is_located() {
        let c = check("apiVersion: v1\nkind: [Namespace\nmetadata: {name: a}\n");
        assert_eq!(c.problems.len(), 1);
        let at = c.problems[0].location.unwrap();
        assert!(at.line >= 2, "{at:?}");
        assert!(c.problems[0].message.starts_with("not valid YAML"));
    }
}
