//! Where each node of a YAML document is: `dependencies.redis.needs[0]` → line and column.
//!
//! serde_yaml locates syntax and type errors itself; semantic errors found after parsing
//! (an unknown `needs:` entry, a cycle, a missing path) are located through this index.

use std::collections::HashMap;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// A 1-based line and column in the config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

impl Location {
    pub const START: Location = Location { line: 1, column: 1 };
}

/// Path → location of the key (for mapping entries) and of the value.
#[derive(Debug, Default, Clone)]
pub struct LocationIndex {
    keys: HashMap<String, Location>,
    values: HashMap<String, Location>,
    /// Every scalar: path, text, location (document order).
    scalars: Vec<(String, String, Location)>,
    /// Keys given twice in one mapping: path, second location, first location.
    duplicates: Vec<(String, Location, Location)>,
}

impl LocationIndex {
    /// Index a document. A document that does not parse gives an empty index: serde_yaml has
    /// already reported the syntax error by the time this is used.
    pub fn build(text: &str) -> Self {
        let mut builder = Builder::default();
        let mut parser = Parser::new_from_str(text);
        if parser.load(&mut builder, false).is_err() {
            return Self::default();
        }
        builder.index
    }

    /// Location of the value at `path`, else of its key, else of the nearest ancestor.
    pub fn value(&self, path: &str) -> Location {
        self.find(path, true)
    }

    /// Location of the key at `path` (for "unknown key"-like errors), else of its value.
    pub fn key(&self, path: &str) -> Location {
        self.find(path, false)
    }

    /// The first scalar at or below `path` whose text is `text`: locates a bad value that
    /// serde_yaml only places at its enclosing mapping.
    pub fn scalar_under(&self, path: &str, text: &str) -> Option<Location> {
        self.scalars
            .iter()
            .find(|(p, t, _)| {
                t == text
                    && (path.is_empty()
                        || p == path
                        || p.strip_prefix(path)
                            .is_some_and(|r| r.starts_with(['.', '['])))
            })
            .map(|(_, _, l)| *l)
    }

    /// Mapping keys that appear twice: (path, where again, where first).
    pub fn duplicate_keys(&self) -> &[(String, Location, Location)] {
        &self.duplicates
    }

    fn find(&self, path: &str, value_first: bool) -> Location {
        let mut p = path.to_owned();
        loop {
            let (first, second) = if value_first {
                (&self.values, &self.keys)
            } else {
                (&self.keys, &self.values)
            };
            if let Some(l) = first.get(&p).or_else(|| second.get(&p)) {
                return *l;
            }
            match parent(&p) {
                Some(up) => p = up,
                None => return Location::START,
            }
        }
    }
}

fn parent(path: &str) -> Option<String> {
    if path.is_empty() {
        return None;
    }
    let cut = path.rfind(['.', '[']).unwrap_or(0);
    Some(path[..cut].to_owned())
}

fn child(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

enum Frame {
    Map { path: String, key: Option<String> },
    Seq { path: String, next: usize },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    index: LocationIndex,
}

impl Builder {
    /// Path of a node that starts now, recording its location; `None` when the node is a key.
    fn place(&mut self, scalar: Option<&str>, at: Location) -> Option<String> {
        match self.stack.last_mut() {
            None => Some(String::new()),
            Some(Frame::Seq { path, next }) => {
                let p = format!("{path}[{next}]");
                *next += 1;
                self.index.values.insert(p.clone(), at);
                Some(p)
            }
            Some(Frame::Map { path, key }) => match key.take() {
                Some(k) => {
                    let p = child(path, &k);
                    self.index.values.insert(p.clone(), at);
                    Some(p)
                }
                None => {
                    let k = scalar.unwrap_or("?").to_owned();
                    // A block mapping's start event is placed after its first key; the
                    // mapping begins where that key does.
                    if let Some(start) = self.index.values.get_mut(path.as_str()) {
                        if at < *start {
                            *start = at;
                        }
                    }
                    let kp = child(path, &k);
                    if let Some(first) = self.index.keys.insert(kp.clone(), at) {
                        self.index.duplicates.push((kp, at, first));
                    }
                    *key = Some(k);
                    None
                }
            },
        }
    }
}

/// Builds an index from events someone else pulls from the parser (see tree.rs).
#[derive(Default)]
pub(crate) struct IndexBuilder(Builder);

impl IndexBuilder {
    pub(crate) fn feed(&mut self, ev: &Event, at: Location) {
        self.0.event(ev, at);
    }
    pub(crate) fn finish(self) -> LocationIndex {
        self.0.index
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        // yaml-rust2's lines are 1-based but its columns are 0-based (whatever its docs say);
        // the tests below pin this down.
        let at = Location {
            line: mark.line(),
            column: mark.col() + 1,
        };
        self.event(&ev, at);
    }
}

impl Builder {
    fn event(&mut self, ev: &Event, at: Location) {
        match ev {
            Event::Scalar(text, ..) => {
                if let Some(p) = self.place(Some(text), at) {
                    self.index.scalars.push((p, text.clone(), at));
                }
            }
            Event::Alias(_) => {
                self.place(Some("*alias"), at);
            }
            Event::MappingStart(..) => {
                let path = self.place(None, at).unwrap_or_else(|| "?".to_owned());
                self.stack.push(Frame::Map { path, key: None });
            }
            Event::SequenceStart(..) => {
                let path = self.place(None, at).unwrap_or_else(|| "?".to_owned());
                self.stack.push(Frame::Seq { path, next: 0 });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "name: demo\ndependencies:\n  redis:\n    image: redis:7\n    needs: [migrate, postgres]\n    ports:\n      - \"6379:6379\"\n";

    #[test]
    fn locates_keys_values_and_sequence_items() {
        let idx = LocationIndex::build(DOC);
        assert_eq!(idx.value("name"), Location { line: 1, column: 7 });
        assert_eq!(
            idx.key("dependencies.redis"),
            Location { line: 3, column: 3 }
        );
        assert_eq!(
            idx.value("dependencies.redis.needs[1]"),
            Location {
                line: 5,
                column: 22
            }
        );
        assert_eq!(
            idx.value("dependencies.redis.ports[0]"),
            Location { line: 7, column: 9 }
        );
    }

    #[test]
    fn finds_scalars_and_duplicate_keys() {
        let idx = LocationIndex::build("a:\n  x: {t: 3}\n  x: 4\n");
        assert_eq!(
            idx.scalar_under("a", "3"),
            Some(Location {
                line: 2,
                column: 10
            })
        );
        assert_eq!(
            idx.scalar_under("a.x", "4"),
            Some(Location { line: 3, column: 6 })
        );
        assert_eq!(idx.scalar_under("b", "3"), None);
        assert_eq!(
            idx.duplicate_keys(),
            &[(
                "a.x".to_owned(),
                Location { line: 3, column: 3 },
                Location { line: 2, column: 3 }
            )]
        );
    }

    #[test]
    fn block_mappings_start_at_their_first_key() {
        let idx = LocationIndex::build("steps:\n  - run: x\n    sleep: 1s\n");
        assert_eq!(idx.value("steps[0]"), Location { line: 2, column: 5 });
    }

    #[test]
    fn falls_back_to_the_nearest_ancestor() {
        let idx = LocationIndex::build(DOC);
        assert_eq!(
            idx.value("dependencies.redis.health.tcp"),
            idx.value("dependencies.redis")
        );
        assert_eq!(idx.value("nothing.here"), Location::START);
    }
}
