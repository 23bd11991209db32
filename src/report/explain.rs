//! How a classified error looks: `doctor --explain` output and the hint under a failure.

use super::style::Palette;
use crate::doctor::classify::{Category, Classification};

/// The full `doctor --explain` answer for a person.
pub fn render_explanation(c: &Classification, p: &Palette) -> String {
    let mut out = format!("{} {}\n", p.bold.apply_to("category:"), c.category.as_str());
    if let Some(line) = &c.decided_live {
        let names: Vec<&str> = c.candidates.iter().map(|k| k.as_str()).collect();
        out.push_str(&format!(
            "{} {} (the text left {} open; the live check saw: {line})\n",
            p.bold.apply_to("decided live:"),
            c.category.as_str(),
            names.join(", ")
        ));
    } else if !c.candidates.is_empty() {
        let names: Vec<&str> = c.candidates.iter().map(|k| k.as_str()).collect();
        out.push_str(&format!(
            "{} {} (the text cannot tell them apart; the live check can)\n",
            p.bold.apply_to("one of:"),
            names.join(", ")
        ));
    }
    if let Some(m) = &c.matched {
        out.push_str(&format!("{} {m}\n", p.bold.apply_to("matched:")));
    }
    out.push_str(&format!("{} {}\n", p.bold.apply_to("cause:"), c.cause));
    if let Some(check) = c.decided_by {
        out.push_str(&format!(
            "{} the `{check}` check of `kubetest doctor` tells this apart from a look-alike (`--live` runs it)\n",
            p.bold.apply_to("decided by:")
        ));
    }
    for f in &c.fix {
        out.push_str(&format!("{} {f}\n", p.bold.apply_to("try:")));
    }
    out
}

/// The lines printed under an infrastructure error, or `None` when nothing is recognised.
pub fn render_hint(c: &Classification, p: &Palette) -> Option<String> {
    if c.category == Category::Unknown {
        return None;
    }
    let mut out = format!("{} {}", p.warn.apply_to("likely cause:"), c.cause);
    for f in &c.fix {
        out.push_str(&format!("\n{} {f}", p.warn.apply_to("try:")));
    }
    out.push_str(&format!("\n{} kubetest doctor", p.warn.apply_to("then:")));
    Some(out)
}
