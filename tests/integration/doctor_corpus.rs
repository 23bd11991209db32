//! `doctor --explain` scored on the error-text corpus: the rule-writing set and the two held-out
//! sets (`heldout.yaml`, and `heldout2.yaml` split from a later collection).
//!
//! `cargo test --test integration doctor_corpus -- --nocapture --test-threads 1` prints the
//! figures. For the held-out sets only aggregates are printed (per-category accuracy, right /
//! confidently-wrong / unknown rates, confusion counts), never a text or an id: the set
//! measures whether the rules generalise and must not be read for writing them
//! (fixtures/doctor/corpus/README.md).

use kubetest::doctor::classify::{classify, classify_with_rule, Category};
use kubetest::doctor::rules::TABLE;
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

// The classifier's own real cases and look-alikes (the rules' first training data) run
// here as well, so this one test target shows that they still pass. The file names only
// `super::` items: `classify`, `classify_with_rule`, `Category`, `TABLE` imported above.
#[path = "../../src/doctor/classify_cases.rs"]
mod classify_cases;

/// One corpus case (fields as in /work/corpus/FORMAT.md; `fix` and `tool` are not scored).
#[derive(Debug, Deserialize)]
struct Case {
    id: String,
    source: String,
    tracker: String,
    category: String,
    text: String,
}

fn corpus(file: &str) -> Vec<Case> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/doctor/corpus")
        .join(file);
    let raw = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_yaml::from_str(&raw)
        .unwrap_or_else(|e| panic!("{} is not a case list: {e}", path.display()))
}

/// How the classifier did on one set (scoring rules: fixtures/doctor/corpus/README.md).
#[derive(Default)]
struct Score {
    total: usize,
    /// Strictly right: the expected category itself.
    right: usize,
    /// Right at family level, live check decides: a family verdict (`engine-unreachable`,
    /// `machine-unavailable`) whose open candidates include the expected category. Never
    /// counted as right in the strict figure, never as wrong.
    live_decides: usize,
    unknown: usize,
    /// Confidently wrong: a category other than the expected one, or a family verdict whose
    /// candidates do not include it; not `unknown`.
    wrong: usize,
    /// expected category → (cases, strictly right, live check decides).
    per_category: BTreeMap<String, (usize, usize, usize)>,
    /// (expected, got) → count, for misses only.
    confusion: BTreeMap<(String, String), usize>,
    /// (id, expected, got, text) of every miss; printed for the rule-writing set only.
    misses: Vec<(String, String, String, String)>,
}

impl Score {
    fn of(cases: &[Case]) -> Score {
        Score::of_answers(cases, |case| {
            let v = classify(&case.text);
            (v.category, v.candidates)
        })
    }

    /// The score of any answerer: the classifier, or the text-only expert baseline.
    fn of_answers(cases: &[Case], answer: impl Fn(&Case) -> (Category, Vec<Category>)) -> Score {
        let mut s = Score::default();
        for case in cases {
            let (category, candidates) = answer(case);
            let got = category.as_str().to_string();
            s.total += 1;
            let entry = s.per_category.entry(case.category.clone()).or_default();
            entry.0 += 1;
            if got == case.category {
                s.right += 1;
                entry.1 += 1;
                continue;
            }
            if category.is_family() && candidates.iter().any(|c| c.as_str() == case.category) {
                s.live_decides += 1;
                entry.2 += 1;
                *s.confusion
                    .entry((case.category.clone(), got.clone()))
                    .or_default() += 1;
                continue;
            }
            if got == Category::Unknown.as_str() {
                s.unknown += 1;
            } else {
                s.wrong += 1;
            }
            *s.confusion
                .entry((case.category.clone(), got.clone()))
                .or_default() += 1;
            s.misses.push((
                case.id.clone(),
                case.category.clone(),
                got,
                case.text.clone(),
            ));
        }
        s
    }

    fn pct(&self, n: usize) -> f64 {
        100.0 * n as f64 / self.total.max(1) as f64
    }

    /// Right at family level: strictly right, or a family verdict that leaves the expected
    /// category open for its live check.
    fn family_right(&self) -> usize {
        self.right + self.live_decides
    }

    /// Aggregate figures only: no text, no id.
    fn print_aggregates(&self, name: &str) {
        println!(
            "{name}: {} cases; STRICT right {} ({:.1}%), right-live-check-decides {} ({:.1}%), confidently wrong {} ({:.1}%), unknown {} ({:.1}%)",
            self.total,
            self.right,
            self.pct(self.right),
            self.live_decides,
            self.pct(self.live_decides),
            self.wrong,
            self.pct(self.wrong),
            self.unknown,
            self.pct(self.unknown)
        );
        println!(
            "{name}: FAMILY-LEVEL right {} ({:.1}%) = strict right + live check decides",
            self.family_right(),
            self.pct(self.family_right())
        );
        println!("  per category (strict right/cases, +live check decides):");
        for (category, (n, right, live)) in &self.per_category {
            println!(
                "    {category:<24} {right:>3}/{n:<3} {:>5.1}%   +{live}",
                100.0 * *right as f64 / *n as f64
            );
        }
        println!("  confusion (expected -> got: count; a family `got` leaves the expected open):");
        for ((expected, got), n) in &self.confusion {
            println!("    {expected} -> {got}: {n}");
        }
    }
}

/// The thread a case was copied from: its source address without a `#fragment`, query or
/// trailing slash (several texts of one thread share it).
fn thread(source: &str) -> &str {
    let end = source.find(['#', '?']).unwrap_or(source.len());
    source[..end].trim_end_matches('/')
}

/// How many of `cases` share an id, a text or (with `by_thread`) a source thread with
/// `other`. Counts only: held-out cases are never printed.
fn overlap(cases: &[Case], other: &[Case], by_thread: bool) -> (usize, usize, usize) {
    let ids: HashSet<&str> = other.iter().map(|c| c.id.as_str()).collect();
    let texts: HashSet<&str> = other.iter().map(|c| c.text.trim()).collect();
    let threads: HashSet<&str> = other.iter().map(|c| thread(&c.source)).collect();
    let count = |f: &dyn Fn(&Case) -> bool| cases.iter().filter(|c| f(c)).count();
    (
        count(&|c| ids.contains(c.id.as_str())),
        count(&|c| texts.contains(c.text.trim())),
        if by_thread {
            count(&|c| threads.contains(thread(&c.source)))
        } else {
            0
        },
    )
}

#[test]
fn split_is_disjoint_and_holds_out_30_percent() {
    let train = corpus("train.yaml");
    let held = corpus("heldout.yaml");
    let held2 = corpus("heldout2.yaml");
    let train_ids: HashSet<&str> = train.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(train_ids.len(), train.len(), "duplicate id in train.yaml");
    // Counts only: the held-out cases are not printed.
    let (ids, texts, _) = overlap(&held, &train, false);
    assert_eq!(ids, 0, "{ids} held-out ids also in train.yaml");
    assert_eq!(texts, 0, "{texts} held-out texts also in train.yaml");
    // The second held-out set (split from a later collection) shares no id, text or
    // source thread with the rule-writing set or the first held-out set.
    let earlier: Vec<Case> = corpus("train.yaml")
        .into_iter()
        .chain(corpus("heldout.yaml"))
        .collect();
    let (ids, texts, threads) = overlap(&held2, &earlier, true);
    assert_eq!(
        ids, 0,
        "{ids} heldout2 ids also in train.yaml or heldout.yaml"
    );
    assert_eq!(
        texts, 0,
        "{texts} heldout2 texts also in train.yaml or heldout.yaml"
    );
    assert_eq!(
        threads, 0,
        "{threads} heldout2 cases share a thread with train.yaml or heldout.yaml"
    );
    let held2_ids: HashSet<&str> = held2.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        held2_ids.len(),
        held2.len(),
        "duplicate id in heldout2.yaml"
    );
    let held_out = held.len() + held2.len();
    let share = held_out as f64 / (held_out + train.len()) as f64;
    assert!(share >= 0.30, "held-out share {share:.3} < 0.30");
    assert!(held.len() + train.len() >= 300);
    for case in train.iter().chain(&held).chain(&held2) {
        assert!(case.source.starts_with("http"), "a case without a source");
        assert!(!case.tracker.is_empty(), "a case without a tracker");
        assert!(
            Category::all()
                .iter()
                .any(|c| c.as_str() == case.category && !c.is_family() && *c != Category::Unknown),
            "a case with a category the classifier does not know (or a family verdict, which is no label): {}",
            case.category
        );
    }
}

/// The rule-writing set: every miss is printed, so rules can be written from it.
#[test]
fn train_set_score() {
    let train = corpus("train.yaml");
    let s = Score::of(&train);
    for (id, expected, got, text) in &s.misses {
        let rule = classify_with_rule(text).1.unwrap_or("-");
        println!(
            "MISS {id}: expected {expected}, got {got} (rule {rule})\n    {}",
            text.replace('\n', "\n    ")
        );
    }
    s.print_aggregates("train");
    // Per winning rule on the rule-writing set: right / live-decides / wrong.
    let mut per_rule: BTreeMap<&str, (usize, usize, usize)> = BTreeMap::new();
    for case in &train {
        let (verdict, rule) = classify_with_rule(&case.text);
        let entry = per_rule.entry(rule.unwrap_or("-")).or_default();
        if verdict.category.as_str() == case.category {
            entry.0 += 1;
        } else if verdict
            .candidates
            .iter()
            .any(|c| c.as_str() == case.category)
        {
            entry.1 += 1;
        } else if verdict.category != Category::Unknown {
            entry.2 += 1;
        }
    }
    println!("  per winning rule (right / live check decides / confidently wrong):");
    for (rule, (r, l, w)) in &per_rule {
        println!("    {rule:<36} {r:>3} {l:>3} {w:>3}");
    }
}

/// Regression floors on the rule-writing set, as measured when the rules last changed,
/// rounded conservatively: family-level right (strict right + live check decides), strict
/// right, and confidently wrong. Last measured with held-out scoring #8 (rules at 5101505:
/// 236/306 strict, 278 family-level, 3 confidently wrong, 25 unknown): the floors rose from
/// 88 / 75 and the ceiling fell from 3.0 to 1.0.
const TRAIN_FAMILY_RIGHT_AT_LEAST: f64 = 90.5;
const TRAIN_STRICT_RIGHT_AT_LEAST: f64 = 77.0;
const TRAIN_WRONG_AT_MOST: f64 = 1.0;

#[test]
fn train_set_floor() {
    let s = Score::of(&corpus("train.yaml"));
    assert!(
        s.pct(s.family_right()) >= TRAIN_FAMILY_RIGHT_AT_LEAST,
        "train family-level accuracy {:.1}% < {TRAIN_FAMILY_RIGHT_AT_LEAST}%",
        s.pct(s.family_right())
    );
    assert!(
        s.pct(s.right) >= TRAIN_STRICT_RIGHT_AT_LEAST,
        "train strict accuracy {:.1}% < {TRAIN_STRICT_RIGHT_AT_LEAST}%",
        s.pct(s.right)
    );
    assert!(
        s.pct(s.wrong) <= TRAIN_WRONG_AT_MOST,
        "train confidently wrong {:.1}% > {TRAIN_WRONG_AT_MOST}%",
        s.pct(s.wrong)
    );
}

/// The goals of issue #16 on the held-out set.
const GOAL_RIGHT_AT_LEAST: f64 = 90.0;
const GOAL_WRONG_AT_MOST: f64 = 3.0;
/// Regression floors on the held-out set: the figures last measured (scoring #8,
/// 2026-12-04, rules at 5101505: 60.4% strict right, 70.8% family-level right, 10.4%
/// confidently wrong, 18.9% unknown — the same as #7 at 07f12a2), rounded conservatively. They are set only by a new
/// measurement, never tuned towards. Family-level right counts a family verdict that leaves
/// the expected category open for the live check (fixtures/doctor/corpus/README.md).
const HELD_OUT_STRICT_RIGHT_AT_LEAST: f64 = 60.0;
const HELD_OUT_FAMILY_RIGHT_AT_LEAST: f64 = 70.0;
const HELD_OUT_WRONG_AT_MOST: f64 = 11.0;
/// Whether the goals were met (strictly) when the floors were last measured; only then are
/// they asserted.
const GOALS_MET_WHEN_MEASURED: bool = false;

/// The held-out set: aggregate figures only (see the module docs).
#[test]
fn held_out_figures() {
    let s = Score::of(&corpus("heldout.yaml"));
    s.print_aggregates("held-out");
    let (right, family, wrong) = (s.pct(s.right), s.pct(s.family_right()), s.pct(s.wrong));
    for (name, value) in [("strict", right), ("family-level", family)] {
        if value >= GOAL_RIGHT_AT_LEAST && wrong <= GOAL_WRONG_AT_MOST {
            println!("held-out ({name}): the goals of issue #16 are met (>= {GOAL_RIGHT_AT_LEAST}% right, <= {GOAL_WRONG_AT_MOST}% confidently wrong)");
        } else {
            println!("held-out ({name}): GOALS NOT MET YET — {value:.1}% right (goal >= {GOAL_RIGHT_AT_LEAST}%), {wrong:.1}% confidently wrong (goal <= {GOAL_WRONG_AT_MOST}%)");
        }
    }
    // Messages carry figures only, never a held-out text or id.
    assert!(
        right >= HELD_OUT_STRICT_RIGHT_AT_LEAST,
        "held-out strict accuracy {right:.1}% fell below the floor {HELD_OUT_STRICT_RIGHT_AT_LEAST}%"
    );
    assert!(
        family >= HELD_OUT_FAMILY_RIGHT_AT_LEAST,
        "held-out family-level accuracy {family:.1}% fell below the floor {HELD_OUT_FAMILY_RIGHT_AT_LEAST}%"
    );
    assert!(
        wrong <= HELD_OUT_WRONG_AT_MOST,
        "held-out confidently wrong {wrong:.1}% rose above the ceiling {HELD_OUT_WRONG_AT_MOST}%"
    );
    if GOALS_MET_WHEN_MEASURED {
        assert!(right >= GOAL_RIGHT_AT_LEAST && wrong <= GOAL_WRONG_AT_MOST);
    }
}

/// Regression floors on the second held-out set (heldout2.yaml, split from the collection
/// of 2026-12-04 evening): the figures of its scorings #1 (rules at 07f12a2) and #2 (rules
/// at 5101505), which were the same: 51.8% strict right, 60.7% family-level right, 5.4%
/// confidently wrong, 33.9% unknown; rounded conservatively.
const HELD_OUT2_STRICT_RIGHT_AT_LEAST: f64 = 51.0;
const HELD_OUT2_FAMILY_RIGHT_AT_LEAST: f64 = 60.0;
const HELD_OUT2_WRONG_AT_MOST: f64 = 6.0;

/// The second held-out set: aggregate figures only, like [`held_out_figures`].
#[test]
fn held_out2_figures() {
    let s = Score::of(&corpus("heldout2.yaml"));
    s.print_aggregates("held-out 2");
    let (right, family, wrong) = (s.pct(s.right), s.pct(s.family_right()), s.pct(s.wrong));
    for (name, value) in [("strict", right), ("family-level", family)] {
        if value >= GOAL_RIGHT_AT_LEAST && wrong <= GOAL_WRONG_AT_MOST {
            println!("held-out 2 ({name}): the goals of issue #16 are met (>= {GOAL_RIGHT_AT_LEAST}% right, <= {GOAL_WRONG_AT_MOST}% confidently wrong)");
        } else {
            println!("held-out 2 ({name}): GOALS NOT MET YET — {value:.1}% right (goal >= {GOAL_RIGHT_AT_LEAST}%), {wrong:.1}% confidently wrong (goal <= {GOAL_WRONG_AT_MOST}%)");
        }
    }
    // Messages carry figures only, never a held-out text or id.
    assert!(
        right >= HELD_OUT2_STRICT_RIGHT_AT_LEAST,
        "held-out 2 strict accuracy {right:.1}% fell below the floor {HELD_OUT2_STRICT_RIGHT_AT_LEAST}%"
    );
    assert!(
        family >= HELD_OUT2_FAMILY_RIGHT_AT_LEAST,
        "held-out 2 family-level accuracy {family:.1}% fell below the floor {HELD_OUT2_FAMILY_RIGHT_AT_LEAST}%"
    );
    assert!(
        wrong <= HELD_OUT2_WRONG_AT_MOST,
        "held-out 2 confidently wrong {wrong:.1}% rose above the ceiling {HELD_OUT2_WRONG_AT_MOST}%"
    );
}

/// What the text alone allows: two engineers labelled the second collection's 105
/// rule-writing cases from their texts only, blind (expert-text-only.yaml). Scored by the same
/// rules as the classifier, their figures bound what any text classifier can be expected to
/// reach on such texts; the classifier's own figures on these cases, taken before they were
/// read, are in the corpus README (development set).
#[test]
fn text_only_expert_baseline() {
    #[derive(Deserialize)]
    struct Answers {
        a: String,
        b: String,
    }
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/doctor/corpus/expert-text-only.yaml");
    let answers: BTreeMap<String, Answers> =
        serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let cases: Vec<Case> = corpus("train.yaml")
        .into_iter()
        .filter(|c| answers.contains_key(&c.id))
        .collect();
    assert_eq!(cases.len(), 105, "every labelled case is in train.yaml");
    let category = |name: &str| {
        *Category::all()
            .iter()
            .find(|c| c.as_str() == name)
            .unwrap_or_else(|| panic!("`{name}` is not a category"))
    };
    let mut figures = Vec::new();
    for (name, pick) in [
        (
            "expert A",
            (|a: &Answers| a.a.clone()) as fn(&Answers) -> String,
        ),
        ("expert B", |a: &Answers| a.b.clone()),
        // Both must agree, else `unknown`: the most careful answer two experts give.
        ("experts agreeing", |a: &Answers| {
            if a.a == a.b {
                a.a.clone()
            } else {
                "unknown".into()
            }
        }),
    ] {
        let score = Score::of_answers(&cases, |case| {
            let c = category(&pick(&answers[&case.id]));
            (c, c.members().to_vec())
        });
        score.print_aggregates(name);
        figures.push((score.right, score.live_decides, score.wrong, score.unknown));
    }
    let agree = answers.values().filter(|a| a.a == a.b).count();
    println!("experts A and B give the same answer on {agree}/105");
    // The file is fixed, so are its figures (README): A, B, and their agreement.
    assert_eq!(
        figures,
        [(70, 12, 13, 10), (72, 11, 12, 10), (67, 8, 9, 21)]
    );
    assert_eq!(agree, 94);
}
