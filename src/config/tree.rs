//! The YAML document as a tree of located nodes, read in one pass with bounded nesting and
//! bounded alias expansion, so hostile input fails fast with a located message.
//!
//! Neither yaml-rust2 nor serde_yaml can be told these limits: serde_yaml hard-codes a
//! recursion limit of 128 and lets aliases replay up to 100× the document's events (500k
//! aliases took 14 s and 4 GB), and yaml-rust2 has no limit at all. So the tree counts itself.

use super::error::Problem;
use super::locate::{IndexBuilder, Location, LocationIndex};
use std::collections::HashMap;
use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Deepest nesting of lists and mappings accepted: serde_yaml's and serde_json's own
/// recursion limit, far above what a config or a Kubernetes object needs.
pub const MAX_DEPTH: usize = 128;
/// Most nodes that aliases (`*name`) may add to a document by repeating anchors.
pub const MAX_ALIAS_NODES: usize = 100_000;

/// One node of the document.
#[derive(Debug, Clone)]
pub struct Node {
    /// Unique per node written in the file; an alias's copy shares its anchor's ids.
    pub id: u32,
    pub at: Location,
    pub kind: Kind,
}

#[derive(Debug, Clone)]
pub enum Kind {
    Scalar { text: String, plain: bool },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// A plain `~`, `null`, `Null`, `NULL` or nothing at all (YAML 1.2 core schema).
    pub fn is_null(&self) -> bool {
        matches!(&self.kind, Kind::Scalar { text, plain: true }
            if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    pub fn is_seq(&self) -> bool {
        matches!(self.kind, Kind::Seq(_))
    }

    /// Number of nodes in this subtree.
    fn size(&self) -> usize {
        match &self.kind {
            Kind::Scalar { .. } => 1,
            Kind::Seq(items) => 1 + items.iter().map(Node::size).sum::<usize>(),
            Kind::Map(entries) => {
                1 + entries
                    .iter()
                    .map(|(k, v)| k.size() + v.size())
                    .sum::<usize>()
            }
        }
    }

    fn height(&self) -> usize {
        match &self.kind {
            Kind::Scalar { .. } => 0,
            Kind::Seq(items) => 1 + items.iter().map(Node::height).max().unwrap_or(0),
            Kind::Map(entries) => {
                1 + entries
                    .iter()
                    .map(|(k, v)| k.height().max(v.height()))
                    .max()
                    .unwrap_or(0)
            }
        }
    }
}

/// A parsed document: its root (none when the file holds no document), where each path is,
/// each node's enclosing container and span, and the ids of keys given twice.
#[derive(Debug)]
pub struct Tree {
    pub root: Option<Node>,
    pub index: LocationIndex,
    /// id → (parent id, start, end); the root is its own parent.
    pub spans: Vec<(u32, Location, Location)>,
    /// Ids of the keys of repeated map entries (the repeats, not the first).
    pub duplicate_keys: Vec<u32>,
}

fn location(mark: &Marker) -> Location {
    // yaml-rust2's lines are 1-based, its columns 0-based (see locate.rs).
    Location {
        line: mark.line(),
        column: mark.col() + 1,
    }
}

enum Open {
    Seq(Node, Vec<Node>, usize),
    Map(Node, Vec<(Node, Node)>, Option<Node>, usize),
}

fn too_deep(at: Location, how: &str) -> Problem {
    Problem::new(
        Some(at),
        format!("nesting deeper than {MAX_DEPTH} levels{how}"),
    )
    .expected(format!(
        "at most {MAX_DEPTH} levels of lists and mappings inside each other"
    ))
}

/// Parse `text` into a tree, or the one problem that stops it (syntax, a second document,
/// nesting or aliases beyond the limits).
pub fn parse(text: &str) -> Result<Tree, Problem> {
    let mut parser = Parser::new_from_str(text);
    let mut index = IndexBuilder::default();
    let mut stack: Vec<Open> = Vec::new();
    let mut anchors: HashMap<usize, Node> = HashMap::new();
    let mut spans: Vec<(u32, Location, Location)> = Vec::new();
    let mut duplicate_keys = Vec::new();
    let mut root = None;
    let mut documents = 0;
    let mut alias_nodes = 0usize;
    loop {
        let (event, mark) = parser.next_token().map_err(|e| {
            // yaml-rust2's scanner stops at 255 nested flow collections by itself.
            if e.info() == "recursion limit exceeded" {
                return too_deep(location(e.marker()), "");
            }
            Problem::new(Some(location(e.marker())), e.info().to_owned())
                .expected("valid YAML in the shape of kubetest.yaml")
        })?;
        let at = location(&mark);
        index.feed(&event, at);
        let new_id = |spans: &mut Vec<(u32, Location, Location)>, stack: &Vec<Open>| {
            let id = spans.len() as u32;
            let parent = match stack.last() {
                Some(Open::Seq(n, ..)) | Some(Open::Map(n, ..)) => n.id,
                None => id,
            };
            spans.push((parent, at, at));
            id
        };
        let done: Option<(Node, usize)> = match event {
            Event::StreamEnd => break,
            Event::DocumentStart => {
                documents += 1;
                if documents > 1 {
                    return Err(Problem::new(
                        Some(at),
                        "a second YAML document; kubetest reads one document per file",
                    )
                    .expected("one document: remove the `---` line and what follows, or move it to its own file"));
                }
                None
            }
            Event::Scalar(text, style, anchor, _) => {
                let id = new_id(&mut spans, &stack);
                let plain = matches!(style, TScalarStyle::Plain);
                Some((
                    Node {
                        id,
                        at,
                        kind: Kind::Scalar { text, plain },
                    },
                    anchor,
                ))
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(too_deep(at, ""));
                }
                let id = new_id(&mut spans, &stack);
                let is_seq = matches!(event, Event::SequenceStart(..));
                let node = Node {
                    id,
                    at,
                    kind: Kind::Scalar {
                        text: String::new(),
                        plain: true,
                    },
                };
                stack.push(if is_seq {
                    Open::Seq(node, Vec::new(), anchor)
                } else {
                    Open::Map(node, Vec::new(), None, anchor)
                });
                None
            }
            Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                Some(Open::Seq(mut node, items, anchor)) => {
                    node.kind = Kind::Seq(items);
                    spans[node.id as usize].2 = at;
                    Some((node, anchor))
                }
                Some(Open::Map(mut node, entries, _, anchor)) => {
                    // A block mapping's start event comes after its first key; it begins there.
                    if let Some((k, _)) = entries.first() {
                        node.at = node.at.min(k.at);
                        spans[node.id as usize].1 = node.at;
                    }
                    node.kind = Kind::Map(entries);
                    spans[node.id as usize].2 = at;
                    Some((node, anchor))
                }
                None => None,
            },
            Event::Alias(anchor) => {
                let Some(target) = anchors.get(&anchor) else {
                    return Err(Problem::new(Some(at), "alias to an unknown anchor")
                        .expected("`*name` after an `&name` anchor"));
                };
                alias_nodes = alias_nodes.saturating_add(target.size());
                if alias_nodes > MAX_ALIAS_NODES {
                    return Err(Problem::new(
                        Some(at),
                        format!("aliases expand to more than {MAX_ALIAS_NODES} nodes"),
                    )
                    .expected("fewer or smaller repeated anchors (`*name`)"));
                }
                if stack.len() + target.height() > MAX_DEPTH {
                    return Err(too_deep(at, " (through this alias)"));
                }
                let mut copy = target.clone();
                copy.at = at;
                Some((copy, 0))
            }
            Event::Nothing | Event::StreamStart | Event::DocumentEnd => None,
        };
        let Some((node, anchor)) = done else { continue };
        if anchor > 0 {
            anchors.insert(anchor, node.clone());
        }
        match stack.last_mut() {
            None => root = Some(node),
            Some(Open::Seq(_, items, _)) => items.push(node),
            Some(Open::Map(_, entries, key, _)) => match key.take() {
                None => *key = Some(node),
                Some(k) => {
                    let repeated = matches!(&k.kind, Kind::Scalar { text, .. }
                        if entries.iter().any(|(e, _)| matches!(&e.kind, Kind::Scalar { text: t, .. } if t == text)));
                    if repeated {
                        duplicate_keys.push(k.id);
                    }
                    entries.push((k, node));
                }
            },
        }
    }
    Ok(Tree {
        root,
        index: index.finish(),
        spans,
        duplicate_keys,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_document_with_locations() {
        let t = parse("a:\n  - x\n  - {b: 1}\n").unwrap();
        let root = t.root.unwrap();
        assert_eq!(root.at, Location::START);
        let Kind::Map(entries) = &root.kind else {
            panic!("a map")
        };
        let Kind::Seq(items) = &entries[0].1.kind else {
            panic!("a list")
        };
        assert_eq!(items[1].at, Location { line: 3, column: 5 });
    }

    #[test]
    fn limits_depth_aliases_and_documents() {
        let deep = format!("a: {}{}", "[".repeat(200), "]".repeat(200));
        let e = parse(&deep).unwrap_err();
        assert!(
            e.message.contains("nesting deeper than 128"),
            "{}",
            e.message
        );
        assert_eq!(
            e.location,
            Some(Location {
                line: 1,
                column: 131
            })
        );

        let mut laugh = "a: &a [x, x, x, x, x, x, x, x, x, x]\n".to_owned();
        for i in 0..6 {
            let prev = if i == 0 {
                "a".to_owned()
            } else {
                format!("l{}", i - 1)
            };
            laugh += &format!(
                "l{i}: &l{i} [{}]\n",
                vec![format!("*{prev}"); 10].join(", ")
            );
        }
        let e = parse(&laugh).unwrap_err();
        assert!(e.message.contains("aliases expand"), "{}", e.message);

        let e = parse("a: 1\n---\nb: 2\n").unwrap_err();
        assert_eq!(e.location, Some(Location { line: 2, column: 1 }));
    }

    #[test]
    fn marks_repeated_keys() {
        let t = parse("a: 1\nb: 2\na: 3\n").unwrap();
        assert_eq!(t.duplicate_keys.len(), 1);
    }
}
