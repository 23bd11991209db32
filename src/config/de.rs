//! serde over the located tree: values read as serde_yaml reads them, every error placed at
//! its own node, and all of a file's errors collected instead of only the first.
//!
//! Collecting works by repair: an error is recorded, the node it names is skipped (an unknown
//! key's entry, a bad value, a list item), and deserialization runs again, until it succeeds
//! or nothing more can be skipped. A "missing key" caused by a skipped value is not reported
//! twice: the mapping that misses it is skipped instead.

use super::locate::Location;
use super::tree::{Kind, Node, Tree};
use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Unexpected, Visitor};
use std::collections::HashSet;
use std::fmt;

/// Most errors reported for one file; past this, the rest are likely consequences.
const MAX_ERRORS: usize = 50;
/// Nodes read over all passes of one file, at most (about a second in a debug build).
const PASS_NODES: usize = 2_000_000;

/// A deserialization error with the node it is about.
#[derive(Debug)]
pub struct DeError {
    pub msg: String,
    /// Id and location of the node the error is about; set by the innermost node it passes.
    node: Option<(u32, Location)>,
    /// Dotted path of that node (of the mapping, for errors about a key).
    pub path: String,
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self {
            msg: msg.to_string(),
            node: None,
            path: String::new(),
        }
    }
}

impl DeError {
    fn at(mut self, node: &Node, path: &str) -> Self {
        if self.node.is_none() {
            self.node = Some((node.id, node.at));
            path.clone_into(&mut self.path);
        }
        self
    }

    pub fn location(&self) -> Option<Location> {
        self.node.map(|(_, l)| l)
    }
}

/// The outcome of reading a tree into `T`.
pub struct Read<T> {
    /// `None` when the document could not be repaired into a `T` at all.
    pub value: Option<T>,
    pub errors: Vec<DeError>,
    /// Spans whose semantic checks would see defaults in place of skipped values.
    pub repaired: Vec<(Location, Location)>,
}

/// Deserialize the tree into `T`, collecting every error (see the module docs).
pub fn read<T: DeserializeOwned>(tree: &Tree, root: &Node) -> Read<T> {
    let mut skip: HashSet<u32> = tree.duplicate_keys.iter().copied().collect();
    let mut errors = Vec::new();
    let mut repaired = Vec::new();
    // Each pass reads the whole tree; a huge file gets fewer passes so the total stays linear.
    let mut passes = (PASS_NODES / tree.spans.len().max(1)).clamp(2, 8 * MAX_ERRORS);
    loop {
        passes -= 1;
        let de = De {
            node: root,
            path: String::new(),
            skip: &skip,
        };
        let err = match T::deserialize(de) {
            Ok(v) => {
                return Read {
                    value: Some(v),
                    errors,
                    repaired,
                }
            }
            Err(e) => e,
        };
        let Some((id, _)) = err.node else {
            errors.push(err);
            break;
        };
        let missing = err
            .msg
            .strip_prefix("missing field `")
            .and_then(|r| r.split('`').next())
            .map(str::to_owned);
        let consequence = missing
            .as_deref()
            .is_some_and(|field| skipped_entry(root, id, field, &skip));
        if !consequence {
            errors.push(err);
        }
        let (parent, start, end) = tree.spans[id as usize];
        if id == root.id || skip.contains(&id) || errors.len() >= MAX_ERRORS || passes == 0 {
            break;
        }
        // A removed value is replaced by its default, and a removed key may have been meant
        // as another (`htp:` for `http:`): the checks of the enclosing mapping must not judge
        // what is left. At the top level only the entry itself is set aside.
        let (_, ps, pe) = tree.spans[parent as usize];
        repaired.push(if parent == root.id {
            (start, end)
        } else {
            (ps, pe)
        });
        skip.insert(id);
    }
    Read {
        value: None,
        errors,
        repaired,
    }
}

fn find(node: &Node, id: u32) -> Option<&Node> {
    if node.id == id {
        return Some(node);
    }
    match &node.kind {
        Kind::Scalar { .. } => None,
        Kind::Seq(items) => items.iter().find_map(|i| find(i, id)),
        Kind::Map(entries) => entries
            .iter()
            .find_map(|(k, v)| find(k, id).or_else(|| find(v, id))),
    }
}

/// Whether mapping `id` has an entry `field` that was skipped.
fn skipped_entry(root: &Node, id: u32, field: &str, skip: &HashSet<u32>) -> bool {
    let Some(Node {
        kind: Kind::Map(entries),
        ..
    }) = find(root, id)
    else {
        return false;
    };
    entries.iter().any(|(k, v)| {
        matches!(&k.kind, Kind::Scalar { text, .. } if text == field)
            && (skip.contains(&k.id) || skip.contains(&v.id))
    })
}

/// A plain scalar as serde_yaml resolves it (YAML 1.2 core schema).
enum Resolved<'a> {
    Null,
    Bool(bool),
    U64(u64),
    I64(i64),
    F64(f64),
    Str(&'a str),
}

fn resolve(text: &str, plain: bool) -> Resolved<'_> {
    if !plain {
        return Resolved::Str(text);
    }
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Resolved::Null,
        "true" | "True" | "TRUE" => return Resolved::Bool(true),
        "false" | "False" | "FALSE" => return Resolved::Bool(false),
        _ => {}
    }
    // Leading zeros followed by digits are a string in YAML 1.2 (serde_yaml agrees).
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    let zero_padded = unsigned.len() > 1
        && unsigned.starts_with('0')
        && unsigned[1..].bytes().all(|b| b.is_ascii_digit());
    if zero_padded {
        return Resolved::Str(text);
    }
    let (negative, digits) = match text.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if !digits.starts_with(['+', '-']) {
        let radix = [("0x", 16), ("0o", 8), ("0b", 2)]
            .iter()
            .find_map(|(p, r)| digits.strip_prefix(p).map(|d| (d, *r)))
            .unwrap_or((digits, 10));
        if !radix.0.starts_with(['+', '-']) {
            if let Ok(n) = u64::from_str_radix(radix.0, radix.1) {
                if !negative {
                    return Resolved::U64(n);
                }
                if let Ok(i) = i64::try_from(n) {
                    return Resolved::I64(-i);
                }
                if n == i64::MIN.unsigned_abs() {
                    return Resolved::I64(i64::MIN);
                }
            }
        }
        match digits {
            ".inf" | ".Inf" | ".INF" => {
                return Resolved::F64(if negative {
                    f64::NEG_INFINITY
                } else {
                    f64::INFINITY
                })
            }
            ".nan" | ".NaN" | ".NAN" if !negative && !text.starts_with('+') => {
                return Resolved::F64(f64::NAN)
            }
            _ => {}
        }
        if let Ok(f) = digits.parse::<f64>() {
            if f.is_finite() {
                return Resolved::F64(if negative { -f } else { f });
            }
        }
    }
    Resolved::Str(text)
}

fn unexpected(node: &Node) -> Unexpected<'_> {
    match &node.kind {
        Kind::Seq(_) => Unexpected::Seq,
        Kind::Map(_) => Unexpected::Map,
        Kind::Scalar { text, plain } => match resolve(text, *plain) {
            Resolved::Null => Unexpected::Unit,
            Resolved::Bool(b) => Unexpected::Bool(b),
            Resolved::U64(n) => Unexpected::Unsigned(n),
            Resolved::I64(n) => Unexpected::Signed(n),
            Resolved::F64(f) => Unexpected::Float(f),
            Resolved::Str(s) => Unexpected::Str(s),
        },
    }
}

struct De<'a> {
    node: &'a Node,
    path: String,
    skip: &'a HashSet<u32>,
}

impl<'a> De<'a> {
    fn fail<V: Visitor<'a>>(&self, visitor: &V) -> DeError {
        de::Error::invalid_type(unexpected(self.node), visitor)
    }

    fn seq<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        let Kind::Seq(items) = &self.node.kind else {
            return Err(self.fail(&visitor).at(self.node, &self.path));
        };
        let access = Seq {
            items: items.iter().enumerate(),
            path: self.path.clone(),
            skip: self.skip,
        };
        visitor
            .visit_seq(access)
            .map_err(|e| e.at(self.node, &self.path))
    }

    fn map<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        let Kind::Map(entries) = &self.node.kind else {
            return Err(self.fail(&visitor).at(self.node, &self.path));
        };
        let access = Map {
            entries: entries.iter(),
            value: None,
            path: self.path.clone(),
            skip: self.skip,
        };
        visitor
            .visit_map(access)
            .map_err(|e| e.at(self.node, &self.path))
    }

    fn string<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        let r = match &self.node.kind {
            // A null where a string belongs is an error, not the text "null" (`command: [null]`).
            Kind::Scalar { .. } if self.node.is_null() => Err(self.fail(&visitor)),
            Kind::Scalar { text, .. } => visitor.visit_str(text),
            _ => Err(self.fail(&visitor)),
        };
        r.map_err(|e| e.at(self.node, &self.path))
    }
}

macro_rules! forward_to_any {
    ($($name:ident)*) => {$(
        fn $name<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
            self.deserialize_any(visitor)
        }
    )*};
}

impl<'a> de::Deserializer<'a> for De<'a> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        let r: Result<V::Value, DeError> = match &self.node.kind {
            Kind::Seq(_) => return self.seq(visitor),
            Kind::Map(_) => return self.map(visitor),
            Kind::Scalar { text, plain } => match resolve(text, *plain) {
                Resolved::Null => visitor.visit_unit(),
                Resolved::Bool(b) => visitor.visit_bool(b),
                Resolved::U64(n) => visitor.visit_u64(n),
                Resolved::I64(n) => visitor.visit_i64(n),
                Resolved::F64(f) => visitor.visit_f64(f),
                Resolved::Str(s) => visitor.visit_str(s),
            },
        };
        r.map_err(|e| e.at(self.node, &self.path))
    }

    forward_to_any! {
        deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64
        deserialize_u128 deserialize_f32 deserialize_f64 deserialize_bytes deserialize_byte_buf
    }

    fn deserialize_char<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.string(visitor)
    }
    fn deserialize_str<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.string(visitor)
    }
    fn deserialize_string<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.string(visitor)
    }
    fn deserialize_identifier<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        let r = match &self.node.kind {
            Kind::Scalar { text, .. } => visitor.visit_str(text),
            _ => Err(self.fail(&visitor)),
        };
        r.map_err(|e| e.at(self.node, &self.path))
    }

    fn deserialize_option<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        if self.node.is_null() {
            visitor
                .visit_none()
                .map_err(|e: DeError| e.at(self.node, &self.path))
        } else {
            let (node, path) = (self.node, self.path.clone());
            visitor.visit_some(self).map_err(|e| e.at(node, &path))
        }
    }

    fn deserialize_unit<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        let r = if self.node.is_null() {
            visitor.visit_unit()
        } else {
            Err(self.fail(&visitor))
        };
        r.map_err(|e| e.at(self.node, &self.path))
    }

    fn deserialize_unit_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let (node, path) = (self.node, self.path.clone());
        visitor
            .visit_newtype_struct(self)
            .map_err(|e| e.at(node, &path))
    }

    fn deserialize_seq<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.seq(visitor)
    }

    fn deserialize_tuple<V: Visitor<'a>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.seq(visitor)
    }

    fn deserialize_map<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.map(visitor)
    }

    fn deserialize_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.map(visitor)
    }

    fn deserialize_enum<V: Visitor<'a>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        // kubetest's enums are all unit variants written as a plain word.
        let r = match &self.node.kind {
            Kind::Scalar { text, .. } if !self.node.is_null() => {
                visitor.visit_enum(text.as_str().into_deserializer())
            }
            _ => Err(self.fail(&visitor)),
        };
        r.map_err(|e: DeError| e.at(self.node, &self.path))
    }

    fn deserialize_ignored_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }
}

struct Seq<'a, I> {
    items: I,
    path: String,
    skip: &'a HashSet<u32>,
}

impl<'a, I: Iterator<Item = (usize, &'a Node)>> de::SeqAccess<'a> for Seq<'a, I> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'a>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        let skip = self.skip;
        let Some((i, node)) = self.items.find(|(_, n)| !skip.contains(&n.id)) else {
            return Ok(None);
        };
        let path = format!("{}[{i}]", self.path);
        seed.deserialize(De {
            node,
            path: path.clone(),
            skip,
        })
        .map(Some)
        .map_err(|e| e.at(node, &path))
    }
}

struct Map<'a, I> {
    entries: I,
    value: Option<(&'a Node, String)>,
    path: String,
    skip: &'a HashSet<u32>,
}

impl<'a, I: Iterator<Item = &'a (Node, Node)>> de::MapAccess<'a> for Map<'a, I> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'a>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        let skip = self.skip;
        let Some((k, v)) = self
            .entries
            .find(|(k, v)| !skip.contains(&k.id) && !skip.contains(&v.id))
        else {
            return Ok(None);
        };
        let name = match &k.kind {
            Kind::Scalar { text, .. } => text.as_str(),
            _ => "?",
        };
        let value_path = if self.path.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", self.path)
        };
        self.value = Some((v, value_path));
        seed.deserialize(De {
            node: k,
            path: self.path.clone(),
            skip,
        })
        .map(Some)
        .map_err(|e| e.at(k, &self.path))
    }

    fn next_value_seed<T: DeserializeSeed<'a>>(&mut self, seed: T) -> Result<T::Value, DeError> {
        let (node, path) = self
            .value
            .take()
            .ok_or_else(|| <DeError as de::Error>::custom("a value without a key"))?;
        seed.deserialize(De {
            node,
            path: path.clone(),
            skip: self.skip,
        })
        .map_err(|e| e.at(node, &path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tree::parse;
    use std::collections::BTreeMap;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct T {
        name: String,
        #[serde(default)]
        n: Option<u16>,
        #[serde(default)]
        list: Vec<String>,
        #[serde(default)]
        env: BTreeMap<String, String>,
    }

    fn read_t(text: &str) -> Read<T> {
        let tree = parse(text).unwrap();
        let root = tree.root.clone().unwrap();
        read(&tree, &root)
    }

    #[test]
    fn reads_like_serde_yaml() {
        let r = read_t("name: 123\nn: 0x10\nlist: [a, 'b', 1.5, true]\nenv: {A: 1, B: '01'}\n");
        assert!(r.errors.is_empty());
        let t = r.value.unwrap();
        assert_eq!((t.name.as_str(), t.n), ("123", Some(16)));
        assert_eq!(t.list, ["a", "b", "1.5", "true"]);
        assert_eq!(t.env["A"], "1");
    }

    #[test]
    fn collects_every_error_at_its_node() {
        let r = read_t("name: x\nn: 70000\nbogus: 1\nlist: [a, null, {x: 1}]\n");
        let msgs: Vec<(String, Location)> = r
            .errors
            .iter()
            .map(|e| (format!("{}: {}", e.path, e.msg), e.location().unwrap()))
            .collect();
        assert_eq!(msgs.len(), 4, "{msgs:?}");
        assert!(msgs[0].0.starts_with("n: invalid value: integer `70000`"));
        assert_eq!(msgs[0].1, Location { line: 2, column: 4 });
        assert!(msgs[1].0.starts_with(": unknown field `bogus`"));
        assert_eq!(
            msgs[2].0,
            "list[1]: invalid type: unit value, expected a string"
        );
        assert_eq!(
            msgs[2].1,
            Location {
                line: 4,
                column: 11
            }
        );
        assert!(r.value.is_some());
    }

    #[test]
    fn a_skipped_required_value_is_reported_once() {
        let r = read_t("name: [x]\n");
        assert_eq!(r.errors.len(), 1);
        assert!(r.errors[0].msg.starts_with("invalid type: sequence"));
        assert!(r.value.is_none());
    }
}
