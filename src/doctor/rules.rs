//! The error-classification rule table (`rules.yaml`, data) and the doctor check ids rules name.
//
// The table lives in `rules.yaml` beside this file, compiled into the binary and parsed
// once. It has two parts:
// - `signals`: named regex fragments — socket-path shapes, failing operations, errno
//   words, the tool that printed the text. A rule pattern uses one as `{{name}}`.
// - `rules`: each with a category, a priority, `patterns` (one must match), `with`
//   (co-signals: each must match somewhere in the text), `excludes` (a pattern match is
//   ignored when one of these matches its line), the cause, the fix, the doctor check
//   that decides between look-alikes (`decided_by`), and `cites` — the public threads
//   (or corpus ids, `fixtures/doctor/corpus/train.yaml`) the rule was written from, or
//   the documentation of the wording, with `examples` in that wording.
//
// Priorities (higher = more specific, wins over lower):
// - 90 a message one tool prints for exactly one cause (kind's own errors)
// - 80–85 a precise, tool-specific message
// - 60–75 a message whose cause is likely but that a live check can overturn
// - 40–55 a combination of generic signals (socket shape + errno, tool + errno)
// - 20–35 recognised tool errors without a specific category (`other`), envelopes
// - 10 envelopes that only say which tool failed (`ERROR: failed to create cluster:`)
//
// Placeholders `<group>` in `cause` and `fix` are filled from the named capture group
// of the same name when the winning pattern captured it; otherwise they stay for the
// user to fill in (`<name>` is the kind cluster name).

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde::Deserialize;

use super::classify::Category;

/// Doctor check: state of the podman machine (`podman machine inspect`).
pub const CHECK_PODMAN_MACHINE: &str = "podman-machine";
/// Doctor check: which engine sockets/endpoints exist and answer.
pub const CHECK_ENGINE_ENDPOINTS: &str = "engine-endpoints";
/// Doctor check: free space of the engine's storage.
pub const CHECK_STORAGE: &str = "storage";
/// Doctor check: kind binary, provider, clusters and their nodes.
pub const CHECK_KIND: &str = "kind";
/// Doctor check: rlimits, cgroup layout and delegation, inotify limits.
pub const CHECK_HOST_LIMITS: &str = "host-limits";
/// Doctor check: host and machine clock against each other and NTP.
pub const CHECK_CLOCK: &str = "clock";

/// Every check id a rule may name in `decided_by`.
pub const CHECK_IDS: &[&str] = &[
    CHECK_PODMAN_MACHINE,
    CHECK_ENGINE_ENDPOINTS,
    CHECK_STORAGE,
    CHECK_KIND,
    CHECK_HOST_LIMITS,
    CHECK_CLOCK,
];

/// The table's source text.
pub const RULES_YAML: &str = include_str!("rules.yaml");

/// One classification rule.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Stable identifier, unique in the table.
    pub id: String,
    pub category: Category,
    /// Specificity; the highest-priority matching rule wins (see module docs).
    pub priority: u8,
    /// Where the rule comes from: thread addresses or corpus ids.
    pub cites: Vec<String>,
    /// Regexes; the first pattern (in order) with a non-excluded match is used.
    pub patterns: Vec<String>,
    /// Co-signals: each must match somewhere in the text for the rule to hit.
    #[serde(default)]
    pub with: Vec<String>,
    /// A match is ignored when one of these matches the line(s) it sits on.
    #[serde(default)]
    pub excludes: Vec<String>,
    pub cause: String,
    /// Commands the user types, in order.
    pub fix: Vec<String>,
    /// The doctor check that tells this cause apart from a look-alike.
    #[serde(default)]
    pub decided_by: Option<String>,
    /// For a family rule (`category` a family such as `engine-unreachable`): the members the
    /// text leaves open; all of the family's members when empty.
    #[serde(default)]
    pub candidates: Vec<Category>,
    /// Texts for a rule that wins no real text: a tool's documented wording, or (for the
    /// low-priority signal combinations that more specific rules always shadow on real
    /// texts) a line showing the combination. The rule must win each of them (tested).
    #[serde(default)]
    pub examples: Vec<String>,
}

/// The parsed table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Table {
    /// Named regex fragments, used in patterns as `{{name}}`.
    #[serde(default)]
    pub signals: BTreeMap<String, String>,
    pub rules: Vec<Rule>,
}

impl Table {
    /// Parses the table's YAML.
    pub fn parse(yaml: &str) -> Result<Table, serde_yaml::Error> {
        serde_yaml::from_str(yaml)
    }

    /// `pattern` with every `{{signal}}` replaced by `(?:<its regex>)`; signals may use
    /// other signals (resolved up to three levels deep).
    pub fn expand(&self, pattern: &str) -> String {
        let mut out = pattern.to_string();
        for _ in 0..3 {
            if !out.contains("{{") {
                break;
            }
            for (name, regex) in &self.signals {
                out = out.replace(&format!("{{{{{name}}}}}"), &format!("(?:{regex})"));
            }
        }
        out
    }
}

/// The table, parsed on first use; `classify::tests::rule_table_is_well_formed`
/// guarantees that parsing cannot fail at run time.
#[allow(clippy::expect_used)]
pub static TABLE: LazyLock<Table> =
    LazyLock::new(|| Table::parse(RULES_YAML).expect("rules.yaml is constant and parses (tested)"));
