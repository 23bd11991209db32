//! Classifies a raw infrastructure error message into a category, cause and fix.
//!
//! The knowledge lives in the rule table (`rules.yaml`, see [`super::rules`]); this module
//! only combines its signals.
//!
//! How signals combine into a verdict:
//! 1. A rule is a *primary* signal (`patterns`: a tool's own phrase, or a combination
//!    such as "dial unix" + an engine socket shape + "no such file or directory"), plus
//!    optional co-signals (`with`: each must appear somewhere in the text — e.g. the
//!    tool that printed it, or an errno word on another line), minus `excludes` (a
//!    primary match is ignored when its line matches one). Shared fragments such as
//!    socket-path shapes and errno words are named `signals` of the table.
//! 2. Every rule is tried; the hits with the highest priority are kept. Specific phrases
//!    have high priorities, generic signal combinations low ones, so a precise phrase
//!    always beats a generic combination.
//! 3. If the top hits share one category, the first of them in table order wins;
//!    `matched` is the exact substring its pattern matched, and `<group>` placeholders
//!    in cause and fix are filled from the pattern's named captures.
//! 4. If top hits name different categories, the signals conflict: the result is
//!    [`Category::Unknown`] naming every candidate and the check that decides — never a
//!    confident guess, because a wrong category sends the user to the wrong fix. When the
//!    winner is only a generic combination (priority below 60), a hit of another specific
//!    category within 10 priority points also conflicts with it.
//! 5. No hit: [`Category::Unknown`].
//!
//! [`Category::Other`] means "recognised as an infrastructure error of a known tool, with
//! a cause outside the specific categories". [`Category::Unknown`] means nothing (or
//! nothing unambiguous) matched.

use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

use super::rules::{Rule, TABLE};

/// What went wrong, in kubetest's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    MachineNotRunning,
    MachineSshUnreachable,
    MachineStuckStarting,
    MachineExists,
    SocketMissing,
    SocketPermission,
    DaemonNotRunning,
    EngineBusy,
    StorageExhausted,
    HostLimits,
    KindNodeExists,
    KindPodmanLogsRace,
    KindRootlessCgroup,
    ImageNotLoaded,
    RlimitDenied,
    CgroupUnsupported,
    NetworkGvproxy,
    ClockSkew,
    /// Family verdict: the engine's endpoint cannot be used, and the text does not say
    /// whether its socket is missing, nobody listens on it, it may not be opened, or the
    /// engine is too slow; the `engine-endpoints` check decides.
    EngineUnreachable,
    /// Family verdict: the podman (or lima/colima) machine cannot be used, and the text does
    /// not say whether it is stopped, stuck starting, unreachable over SSH or without its
    /// network proxy; the `podman-machine` check decides.
    MachineUnavailable,
    Other,
    Unknown,
}

impl Category {
    /// The kebab-case name, as in JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::MachineNotRunning => "machine-not-running",
            Category::MachineSshUnreachable => "machine-ssh-unreachable",
            Category::MachineStuckStarting => "machine-stuck-starting",
            Category::MachineExists => "machine-exists",
            Category::SocketMissing => "socket-missing",
            Category::SocketPermission => "socket-permission",
            Category::DaemonNotRunning => "daemon-not-running",
            Category::EngineBusy => "engine-busy",
            Category::StorageExhausted => "storage-exhausted",
            Category::HostLimits => "host-limits",
            Category::KindNodeExists => "kind-node-exists",
            Category::KindPodmanLogsRace => "kind-podman-logs-race",
            Category::KindRootlessCgroup => "kind-rootless-cgroup",
            Category::ImageNotLoaded => "image-not-loaded",
            Category::RlimitDenied => "rlimit-denied",
            Category::CgroupUnsupported => "cgroup-unsupported",
            Category::NetworkGvproxy => "network-gvproxy",
            Category::ClockSkew => "clock-skew",
            Category::EngineUnreachable => "engine-unreachable",
            Category::MachineUnavailable => "machine-unavailable",
            Category::Other => "other",
            Category::Unknown => "unknown",
        }
    }

    /// Every category, in declaration order.
    pub fn all() -> &'static [Category] {
        &[
            Category::MachineNotRunning,
            Category::MachineSshUnreachable,
            Category::MachineStuckStarting,
            Category::MachineExists,
            Category::SocketMissing,
            Category::SocketPermission,
            Category::DaemonNotRunning,
            Category::EngineBusy,
            Category::StorageExhausted,
            Category::HostLimits,
            Category::KindNodeExists,
            Category::KindPodmanLogsRace,
            Category::KindRootlessCgroup,
            Category::ImageNotLoaded,
            Category::RlimitDenied,
            Category::CgroupUnsupported,
            Category::NetworkGvproxy,
            Category::ClockSkew,
            Category::EngineUnreachable,
            Category::MachineUnavailable,
            Category::Other,
            Category::Unknown,
        ]
    }

    /// For a family verdict, the categories it stands for (only a live check tells them
    /// apart); empty for every other category.
    pub fn members(self) -> &'static [Category] {
        match self {
            Category::EngineUnreachable => &[
                Category::SocketMissing,
                Category::DaemonNotRunning,
                Category::SocketPermission,
                Category::EngineBusy,
            ],
            Category::MachineUnavailable => &[
                Category::MachineNotRunning,
                Category::MachineStuckStarting,
                Category::MachineSshUnreachable,
                Category::NetworkGvproxy,
            ],
            _ => &[],
        }
    }

    /// Whether this is a family verdict ([`Category::members`] is not empty).
    pub fn is_family(self) -> bool {
        !self.members().is_empty()
    }

    /// The family this category belongs to, if any.
    pub fn family(self) -> Option<Category> {
        Category::all()
            .iter()
            .copied()
            .find(|f| f.members().contains(&self))
    }

    /// The check of `kubetest doctor` that tells a family's members apart.
    pub fn family_check(self) -> Option<&'static str> {
        match self {
            Category::EngineUnreachable => Some(super::rules::CHECK_ENGINE_ENDPOINTS),
            Category::MachineUnavailable => Some(super::rules::CHECK_PODMAN_MACHINE),
            _ => None,
        }
    }
}

impl std::fmt::Display for Category {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The verdict on one error text.
#[derive(Debug, Clone, Serialize)]
pub struct Classification {
    pub category: Category,
    pub cause: String,
    pub fix: Vec<String>,
    /// The exact substring of the input that the winning pattern matched.
    pub matched: Option<String>,
    /// The doctor check whose live result tells this cause apart from a look-alike.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<&'static str>,
    /// For a family verdict ([`Category::is_family`]): the categories the text leaves
    /// open, which the `decided_by` check tells apart. Empty otherwise.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<Category>,
    /// The live check's line that settled a family verdict into one of its `candidates`
    /// (`doctor --explain … --live`, see [`super::decide`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_live: Option<String>,
}

/// A rule with its regexes compiled (signals expanded).
struct CompiledRule {
    rule: &'static Rule,
    patterns: Vec<Regex>,
    with: Vec<Regex>,
    excludes: Vec<Regex>,
}

/// Compiles a constant pattern from the rule table; `tests::every_rule_compiles`
/// guarantees this cannot fail at run time.
#[allow(clippy::expect_used)]
fn compile(pattern: &str) -> Regex {
    Regex::new(&TABLE.expand(pattern))
        .expect("rule table patterns are constant and compile (tested)")
}

fn compile_all(patterns: &[String]) -> Vec<Regex> {
    patterns.iter().map(|p| compile(p)).collect()
}

static COMPILED: LazyLock<Vec<CompiledRule>> = LazyLock::new(|| {
    TABLE
        .rules
        .iter()
        .map(|rule| CompiledRule {
            rule,
            patterns: compile_all(&rule.patterns),
            with: compile_all(&rule.with),
            excludes: compile_all(&rule.excludes),
        })
        .collect()
});

/// One rule's match in the text.
struct Hit {
    index: usize,
    rule: &'static Rule,
    matched: String,
    captures: Vec<(String, String)>,
}

/// The byte range of the whole line(s) that `start..end` lies on.
fn line_span(text: &str, start: usize, end: usize) -> (usize, usize) {
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[end..].find('\n').map_or(text.len(), |i| end + i);
    (line_start, line_end)
}

impl CompiledRule {
    fn hit(&self, index: usize, text: &str) -> Option<Hit> {
        if !self.with.iter().all(|w| w.is_match(text)) {
            return None;
        }
        for pattern in &self.patterns {
            for caps in pattern.captures_iter(text) {
                let Some(whole) = caps.get(0) else { continue };
                let (from, to) = line_span(text, whole.start(), whole.end());
                let line = &text[from..to];
                if self.excludes.iter().any(|e| e.is_match(line)) {
                    continue;
                }
                let captures = pattern
                    .capture_names()
                    .flatten()
                    .filter_map(|name| {
                        caps.name(name)
                            .map(|m| (name.to_string(), m.as_str().to_string()))
                    })
                    .collect();
                return Some(Hit {
                    index,
                    rule: self.rule,
                    matched: whole.as_str().to_string(),
                    captures,
                });
            }
        }
        None
    }
}

/// Replaces `<group>` with the captured value of `group`, leaving others in place.
fn fill(template: &str, captures: &[(String, String)]) -> String {
    captures
        .iter()
        .fold(template.to_string(), |acc, (name, value)| {
            acc.replace(&format!("<{name}>"), value)
        })
}

/// Classifies `text`, the raw error output of podman, docker, kind, kubectl or kubetest.
pub fn classify(text: &str) -> Classification {
    classify_with_rule(text).0
}

/// `text` with the quotes that log formats escape (`msg="… \"x\" …"` of logrus/logfmt, JSON
/// log lines, and those nested once more) unescaped, so one pattern reads a message the same
/// whether it was printed or logged. `None` when there is nothing to unescape.
fn unescape_log_quotes(text: &str) -> Option<String> {
    if !text.contains("\\\"") {
        return None;
    }
    // A quote nested in a quoted log field is escaped once per level (\", \\\", …); other
    // backslashes (Windows paths, named pipes) stay as they are.
    Some(text.replace("\\\\\\\"", "\\\"").replace("\\\"", "\""))
}

/// [`classify`], also naming the winning rule (for tests and debugging).
pub fn classify_with_rule(text: &str) -> (Classification, Option<&'static str>) {
    let Some(unescaped) = unescape_log_quotes(text) else {
        return classify_plain(text);
    };
    let (mut c, rule) = classify_plain(&unescaped);
    // Report the matched text as it stands in the input where it can be found there.
    if let Some(m) = &c.matched {
        if !text.contains(m.as_str()) {
            let escaped = m.replace('"', "\\\"");
            if text.contains(escaped.as_str()) {
                c.matched = Some(escaped);
            }
        }
    }
    (c, rule)
}

/// [`classify_with_rule`] on `text` as it is.
fn classify_plain(text: &str) -> (Classification, Option<&'static str>) {
    let mut hits: Vec<Hit> = COMPILED
        .iter()
        .enumerate()
        .filter_map(|(index, rule)| rule.hit(index, text))
        .collect();
    hits.sort_by(|a, b| {
        b.rule
            .priority
            .cmp(&a.rule.priority)
            .then(a.index.cmp(&b.index))
    });

    let Some(best) = hits.first() else {
        return (unknown(), None);
    };
    let top = contenders(&hits, best);
    let categories = distinct(top.iter().map(|h| h.rule.category));
    if let [only] = categories[..] {
        if only.is_family() {
            return family_verdict(&hits, &top);
        }
        return (confident(best), Some(best.rule.id.as_str()));
    }
    // Signals of different categories. Within one family (its verdict and/or members),
    // the specific evidence decides or the family is the answer; across families nothing
    // is guessed.
    let family = categories
        .iter()
        .map(|c| {
            if c.is_family() {
                *c
            } else {
                c.family().unwrap_or(*c)
            }
        })
        .reduce(|a, b| if a == b { a } else { Category::Unknown });
    match family {
        Some(f) if f.is_family() => family_verdict(&hits, &top),
        _ => (ambiguous(&top), None),
    }
}

/// The categories in `it`, each once, in order.
fn distinct(it: impl Iterator<Item = Category>) -> Vec<Category> {
    let mut out: Vec<Category> = Vec::new();
    for c in it {
        if !out.contains(&c) {
            out.push(c);
        }
    }
    out
}

/// The confident verdict of one hit.
fn confident(hit: &Hit) -> Classification {
    let rule = hit.rule;
    Classification {
        category: rule.category,
        cause: fill(&rule.cause, &hit.captures),
        fix: rule.fix.iter().map(|f| fill(f, &hit.captures)).collect(),
        matched: Some(hit.matched.clone()),
        decided_by: rule.decided_by.as_deref(),
        candidates: Vec::new(),
        decided_live: None,
    }
}

/// The categories a hit stands for: its own, or a family rule's candidates.
fn stands_for(rule: &Rule) -> Vec<Category> {
    if !rule.category.is_family() {
        return vec![rule.category];
    }
    if rule.candidates.is_empty() {
        rule.category.members().to_vec()
    } else {
        rule.candidates.clone()
    }
}

/// The top hits lie within one family. Member evidence in the text (a top hit, or any
/// hit of at least [`MEMBER_EVIDENCE_FROM`] naming one of the family rule's candidates —
/// an errno word, say) that names exactly one category decides it; otherwise the verdict
/// is the family, with the categories left open and the check that tells them apart.
fn family_verdict(hits: &[Hit], top: &[&Hit]) -> (Classification, Option<&'static str>) {
    let open: Vec<Category> = distinct(top.iter().flat_map(|h| stands_for(h.rule)));
    let family = open
        .first()
        .and_then(|c| c.family())
        .unwrap_or(Category::Unknown);
    let member_hits: Vec<&Hit> = hits
        .iter()
        .filter(|h| {
            !h.rule.category.is_family()
                && open.contains(&h.rule.category)
                && h.rule.priority >= MEMBER_EVIDENCE_FROM
        })
        .collect();
    let named = distinct(member_hits.iter().map(|h| h.rule.category));
    if let ([_], Some(hit)) = (&named[..], member_hits.first()) {
        return (confident(hit), Some(hit.rule.id.as_str()));
    }
    let candidates = if named.len() >= 2 { named } else { open };
    let check = family.family_check();
    let names: Vec<&str> = candidates.iter().map(|c| c.as_str()).collect();
    let decides = format!(
        "The text alone cannot tell {} apart; the `{}` check of `kubetest doctor` does (`doctor --explain … --live` runs it).",
        names.join(" / "),
        check.unwrap_or("kubetest doctor")
    );
    let rule_hit = top.iter().find(|h| h.rule.category.is_family());
    let classification = match rule_hit {
        Some(h) => Classification {
            category: family,
            cause: format!("{} {decides}", fill(&h.rule.cause, &h.captures)),
            fix: h.rule.fix.iter().map(|f| fill(f, &h.captures)).collect(),
            matched: Some(h.matched.clone()),
            decided_by: check,
            candidates,
            decided_live: None,
        },
        None => Classification {
            category: family,
            cause: format!(
                "The signals fit several causes of one family ({}). {decides}",
                top.iter()
                    .map(|h| format!("{} (\"{}\")", h.rule.category, h.matched))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            fix: vec!["kubetest doctor".to_string()],
            matched: None,
            decided_by: check,
            candidates,
            decided_live: None,
        },
    };
    (classification, rule_hit.map(|h| h.rule.id.as_str()))
}

/// The verdict of the rule `id` without matching any text (for errors kubetest recognises
/// by their type); `captures` fill its placeholders. `None` if there is no such rule.
pub fn from_rule(id: &str, captures: &[(&str, &str)]) -> Option<Classification> {
    let rule = TABLE.rules.iter().find(|r| r.id == id)?;
    let captures: Vec<(String, String)> = captures
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect();
    Some(Classification {
        category: rule.category,
        cause: fill(&rule.cause, &captures),
        fix: rule.fix.iter().map(|f| fill(f, &captures)).collect(),
        matched: None,
        decided_by: rule.decided_by.as_deref(),
        candidates: Vec::new(),
        decided_live: None,
    })
}

/// Below this priority a rule is a combination of generic signals, not a tool's own phrase.
const GENERIC_BELOW: u8 = 60;
/// How close (in priority) a hit of another category must come to a generic winner for the
/// two to count as conflicting signals.
const CONFLICT_MARGIN: u8 = 10;
/// A hit below this priority is too weak to decide between a family's members.
const MEMBER_EVIDENCE_FROM: u8 = 40;

/// The hits that compete with `best`: those of equal priority, and — when `best` is only a
/// generic signal combination — hits of another specific category within
/// [`CONFLICT_MARGIN`] of it. More than one category among them means the signals conflict.
fn contenders<'a>(hits: &'a [Hit], best: &'a Hit) -> Vec<&'a Hit> {
    let generic = best.rule.priority < GENERIC_BELOW;
    hits.iter()
        .filter(|h| {
            h.rule.priority == best.rule.priority
                || (generic
                    && h.rule.category != Category::Other
                    && h.rule.priority + CONFLICT_MARGIN >= best.rule.priority)
        })
        .collect()
}

fn unknown() -> Classification {
    Classification {
        category: Category::Unknown,
        cause: "No rule recognises this text as a container-engine, podman machine or kind \
                infrastructure error. Run the live checks to look for one."
            .to_string(),
        fix: vec!["kubetest doctor".to_string()],
        matched: None,
        decided_by: None,
        candidates: Vec::new(),
        decided_live: None,
    }
}

/// Equal-priority hits of different categories: say so, name them all, guess nothing.
fn ambiguous(top: &[&Hit]) -> Classification {
    let candidates: Vec<String> = top
        .iter()
        .map(|h| format!("{} (\"{}\")", h.rule.category, h.matched))
        .collect();
    Classification {
        category: Category::Unknown,
        cause: format!(
            "Ambiguous: the text matches {} equally well. The live checks tell them apart.",
            candidates.join(" and ")
        ),
        fix: vec!["kubetest doctor".to_string()],
        matched: None,
        decided_by: top.iter().find_map(|h| h.rule.decided_by.as_deref()),
        candidates: Vec::new(),
        decided_live: None,
    }
}

#[cfg(test)]
#[path = "classify_cases.rs"]
mod cases;

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::super::rules::{Table, CHECK_IDS, RULES_YAML};
    use super::*;

    #[test]
    fn every_rule_compiles() {
        for rule in &TABLE.rules {
            for p in rule.patterns.iter().chain(&rule.with).chain(&rule.excludes) {
                let expanded = TABLE.expand(p);
                assert!(
                    !expanded.contains("{{"),
                    "rule {}: unknown signal in {p}",
                    rule.id
                );
                assert!(
                    Regex::new(&expanded).is_ok(),
                    "rule {}: bad regex {p}",
                    rule.id
                );
            }
        }
        for (name, regex) in &TABLE.signals {
            let expanded = TABLE.expand(regex);
            assert!(Regex::new(&expanded).is_ok(), "signal {name}: bad regex");
        }
        assert_eq!(COMPILED.len(), TABLE.rules.len());
    }

    #[test]
    fn rule_table_is_well_formed() {
        let table = Table::parse(RULES_YAML).unwrap();
        let mut ids = HashSet::new();
        for rule in &table.rules {
            assert!(
                ids.insert(rule.id.as_str()),
                "duplicate rule id {}",
                rule.id
            );
            assert!(!rule.patterns.is_empty(), "rule {} has no pattern", rule.id);
            assert!(!rule.fix.is_empty(), "rule {} has no fix", rule.id);
            assert!(!rule.cause.is_empty(), "rule {} has no cause", rule.id);
            assert!(!rule.cites.is_empty(), "rule {} cites nothing", rule.id);
            assert_ne!(
                rule.category,
                Category::Unknown,
                "rule {} is unknown",
                rule.id
            );
            if rule.category.is_family() {
                for c in &rule.candidates {
                    assert!(
                        rule.category.members().contains(c),
                        "rule {}: candidate {c} is not a member of {}",
                        rule.id,
                        rule.category
                    );
                }
                assert_eq!(
                    rule.decided_by.as_deref(),
                    rule.category.family_check(),
                    "rule {}: a family rule is decided by its family's check",
                    rule.id
                );
            } else {
                assert!(
                    rule.candidates.is_empty(),
                    "rule {}: candidates belong to family rules only",
                    rule.id
                );
            }
            if let Some(check) = &rule.decided_by {
                assert!(
                    CHECK_IDS.contains(&check.as_str()),
                    "rule {}: unknown check {check}",
                    rule.id
                );
            }
        }
    }

    /// Placeholders in a cause must be captured by every pattern of the rule (so the
    /// cause never shows a raw `<group>`); placeholders in fixes must be captured by some
    /// pattern or be one the user fills in.
    #[test]
    fn placeholders_are_backed_by_captures() {
        let placeholder = Regex::new(r"<([a-z_]+)>").unwrap();
        let user_filled = ["name", "pid", "pod", "machine", "image", "instance"];
        for rule in &TABLE.rules {
            let per_pattern: Vec<HashSet<String>> = rule
                .patterns
                .iter()
                .map(|p| {
                    Regex::new(&TABLE.expand(p))
                        .unwrap()
                        .capture_names()
                        .flatten()
                        .map(str::to_string)
                        .collect()
                })
                .collect();
            for c in placeholder.captures_iter(&rule.cause) {
                let g = &c[1];
                assert!(
                    per_pattern.iter().all(|s| s.contains(g)),
                    "rule {}: cause placeholder <{g}> not captured by every pattern",
                    rule.id
                );
            }
            for f in &rule.fix {
                for c in placeholder.captures_iter(f) {
                    let g = &c[1];
                    assert!(
                        per_pattern.iter().any(|s| s.contains(g)) || user_filled.contains(&g),
                        "rule {}: fix placeholder <{g}> is neither captured nor user-filled",
                        rule.id
                    );
                }
            }
        }
    }

    #[test]
    fn documented_examples_classify_by_their_rule() {
        for rule in &TABLE.rules {
            for text in &rule.examples {
                let (c, winner) = classify_with_rule(text);
                assert_eq!(winner, Some(rule.id.as_str()), "{text}: {}", c.cause);
            }
        }
    }

    #[test]
    fn category_names_match_serde() {
        assert_eq!(Category::all().len(), 22);
        for c in Category::all() {
            let json = serde_json::to_string(c).unwrap();
            assert_eq!(json, format!("\"{}\"", c.as_str()));
        }
    }

    #[test]
    fn json_shape() {
        let c = classify(
            "ERROR: failed to create cluster: node(s) already exist for a cluster with the name \"kt\"",
        );
        let v: serde_json::Value = serde_json::to_value(&c).unwrap();
        assert_eq!(v["category"], "kind-node-exists");
        assert_eq!(
            v["matched"],
            "node(s) already exist for a cluster with the name \"kt\""
        );
        assert_eq!(v["fix"][1], "kind delete cluster --name kt");
        assert_eq!(v["decided_by"], "kind");
        assert!(v["cause"].as_str().unwrap().contains("\"kt\""));
        let obj = v.as_object().unwrap();
        let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["category", "cause", "decided_by", "fix", "matched"]);

        let u = serde_json::to_value(classify("everything is fine")).unwrap();
        assert_eq!(u["category"], "unknown");
        assert!(u["matched"].is_null());
        assert!(u.get("decided_by").is_none());
    }

    #[test]
    fn matched_is_a_substring_of_the_input() {
        let text = "Error: crun: setrlimit `RLIMIT_NOFILE`: Operation not permitted: OCI permission denied";
        let c = classify(text);
        assert_eq!(c.category, Category::RlimitDenied);
        let m = c.matched.unwrap();
        assert!(text.contains(&m));
        assert_eq!(m, "setrlimit `RLIMIT_NOFILE`: Operation not permitted");
    }

    #[test]
    fn equal_priority_different_categories_is_ambiguous() {
        // Two broad symptoms on separate lines: a pod that cannot get its image, and a
        // full disk. Either may be the cause; the classifier must not pick one.
        let text = "demo-7d9f   0/1   ImagePullBackOff   0   2m\n\
                    write /var/lib/containers/storage/overlay/l/ABC: no space left on device";
        let c = classify(text);
        assert_eq!(c.category, Category::Unknown);
        assert!(c.cause.contains("image-not-loaded"), "{}", c.cause);
        assert!(c.cause.contains("storage-exhausted"), "{}", c.cause);
        assert!(c.matched.is_none());
        assert!(c.decided_by.is_some());
    }

    #[test]
    fn close_generic_signals_within_one_family_give_the_family() {
        // A missing socket alone is socket-missing (a generic combination, priority 45)...
        let missing = "error: the docker socket /Users/me/.rd/docker.sock does not exist";
        assert_eq!(classify(missing).category, Category::SocketMissing);
        // ...but next to a timed-out call on a socket (engine-busy, 40) the signals
        // conflict. Both are members of one family, so the verdict is the family, naming
        // both and the check that tells them apart — not a guess, not a bare unknown.
        let both = format!("request to unix:///var/run/docker.sock timed out after 30s\n{missing}");
        let c = classify(&both);
        assert_eq!(c.category, Category::EngineUnreachable, "{}", c.cause);
        assert_eq!(c.candidates.len(), 2, "{}", c.cause);
        assert!(c.candidates.contains(&Category::EngineBusy));
        assert!(c.candidates.contains(&Category::SocketMissing));
        assert!(c.cause.contains("engine-busy"), "{}", c.cause);
        assert!(c.cause.contains("socket-missing"), "{}", c.cause);
        assert_eq!(c.decided_by, Some("engine-endpoints"));
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["candidates"].as_array().map(Vec::len), Some(2));
    }

    #[test]
    fn family_wording_gives_the_family_unless_an_errno_decides() {
        // The docker CLI asks "Is the docker daemon running?" for a missing socket and a
        // refused one alike: the text cannot decide, the engine-endpoints check can.
        let cli = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?";
        let c = classify(cli);
        assert_eq!(c.category, Category::EngineUnreachable);
        assert_eq!(
            c.candidates,
            [Category::SocketMissing, Category::DaemonNotRunning]
        );
        assert_eq!(c.decided_by, Some("engine-endpoints"));
        assert!(c.cause.contains("`engine-endpoints` check"), "{}", c.cause);
        // An errno word for the same socket elsewhere in the text decides within the family.
        let enoent =
            format!("{cli}\ndial unix /var/run/docker.sock: connect: no such file or directory");
        assert_eq!(classify(&enoent).category, Category::SocketMissing);
        let refused = format!("{cli}\ndial unix /var/run/docker.sock: connect: connection refused");
        assert_eq!(classify(&refused).category, Category::DaemonNotRunning);
        // Equal signals of different families stay unknown: the engine's family and the
        // machine's (a refused forwarded port, machine-not-running at the same priority).
        let other = format!("{cli}\nError: failed to connect: dial tcp 127.0.0.1:50123: connect: connection refused");
        let c = classify(&other);
        assert_eq!(c.category, Category::Unknown, "{}", c.cause);
        assert!(c.candidates.is_empty());
    }

    #[test]
    fn family_members_and_checks() {
        for c in Category::all() {
            if c.is_family() {
                assert!(c.family_check().is_some(), "{c}");
                for m in c.members() {
                    assert_eq!(m.family(), Some(*c));
                    assert!(!m.is_family());
                }
            } else {
                assert!(c.family_check().is_none(), "{c}");
            }
        }
    }

    #[test]
    fn excludes_are_scoped_to_the_matching_line() {
        // The lock-table line is excluded from storage-full, but a real disk-full line
        // elsewhere in the same paste still counts.
        let text = "Error: error allocating lock for new pod: no space left on device";
        assert_eq!(classify(text).category, Category::Other);
        let both = format!("{text}\nwrite /var/tmp/x: no space left on device");
        // podman-locks-exhausted (75) outranks storage-full (50).
        assert_eq!(classify(&both).category, Category::Other);
        let only_disk = "write /var/tmp/x: no space left on device";
        assert_eq!(classify(only_disk).category, Category::StorageExhausted);
    }

    #[test]
    fn logged_quotes_read_like_printed_ones() {
        // dockerd/logrus (and JSON log lines) escape the quotes of the message they log; the
        // message means the same as printed.
        let printed =
            r#"Error response from daemon: unable to find "systemd" in controller set: unknown"#;
        let logged = r#"level=error msg="Handler for POST /v1.36/containers/x/start returned error: unable to find \"systemd\" in controller set: unknown""#;
        assert_eq!(classify(printed).category, Category::CgroupUnsupported);
        let c = classify(logged);
        assert_eq!(c.category, Category::CgroupUnsupported, "{}", c.cause);
        // `matched` is still text of the input, with its escapes.
        let m = c.matched.unwrap();
        assert!(logged.contains(&m), "{m}");
        // Windows pipes keep their backslashes when a text also has escaped quotes.
        let pipe =
            r#"msg="open \\.\pipe\docker_engine: The system cannot find the file specified.""#;
        assert_eq!(unescape_log_quotes(pipe), None);
        let both = r#"msg="\"x\"" open \\.\pipe\docker_engine: The system cannot find the file specified."#;
        assert_eq!(classify(both).category, Category::DaemonNotRunning);
    }

    #[test]
    fn unfilled_placeholders_stay_for_the_user() {
        let c = classify(
            "Error: qemu exited unexpectedly with exit code 1, stderr: qemu-system-x86_64: \
             cannot create PID file: Cannot lock pid file: Resource temporarily unavailable",
        );
        assert_eq!(c.category, Category::MachineStuckStarting);
        assert!(c.fix.contains(&"kill <pid>".to_string()));
        let c = classify(
            "Error: cannot start VM \"podman-machine-default\": another instance of \
             \"/opt/podman/qemu/bin/qemu-system-x86_64\" is already running with process ID 84143: \
             please stop and restart the VM",
        );
        assert!(c.fix.contains(&"kill 84143".to_string()), "{:?}", c.fix);
    }
}
