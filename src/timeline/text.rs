//! How durations, times, outcomes and paths read on the page.

use super::compare::{Change, Delta};
use crate::events::Outcome;
use std::time::{Duration, UNIX_EPOCH};

/// `58 ms`, `2.4 s`, `3 min 05 s`.
pub fn duration(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else {
        format!("{} min {:02} s", ms / 60_000, (ms % 60_000) / 1000)
    }
}

/// `+1.2 s` or `−300 ms`.
pub fn signed(diff_ms: i64) -> String {
    let sign = if diff_ms < 0 { '\u{2212}' } else { '+' };
    format!("{sign}{}", duration(diff_ms.unsigned_abs()))
}

/// `2026-11-18T10:13:20Z`.
pub fn wall_clock(unix_ms: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(unix_ms)).to_string()
}

/// The outcome as a word (`unfinished` when the task never ended).
pub fn outcome(o: Option<Outcome>) -> &'static str {
    o.map(Outcome::as_str).unwrap_or("unfinished")
}

/// A symbol that says the outcome without colour.
pub fn outcome_symbol(o: Option<Outcome>) -> &'static str {
    match o {
        Some(Outcome::Ok) => "\u{2713}",
        Some(Outcome::Cached | Outcome::Reused) => "\u{21ba}",
        Some(Outcome::Skipped) => "\u{2013}",
        Some(Outcome::Flaky) => "~",
        Some(Outcome::Failed) => "\u{2717}",
        Some(Outcome::Cancelled) | None => "!",
    }
}

/// `▲ +1.2 s slower`, `▼ −0.3 s faster`, `= same`.
pub fn change(d: &Delta) -> String {
    match d.change() {
        Change::Slower => format!("\u{25b2} {} slower", signed(d.diff_ms())),
        Change::Faster => format!("\u{25bc} {} faster", signed(d.diff_ms())),
        Change::Same => "= same".to_owned(),
    }
}

/// The CSS class of a change.
pub fn change_class(d: &Delta) -> &'static str {
    match d.change() {
        Change::Slower => "slower",
        Change::Faster => "faster",
        Change::Same => "same",
    }
}

/// At most `max` characters, with `…` when cut.
pub fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max.saturating_sub(1)) {
        Some((i, _)) if s.chars().count() > max => format!("{}\u{2026}", &s[..i]),
        _ => s.to_owned(),
    }
}

/// A link to a file or directory: `file://` for an absolute path, `./…` for a relative one
/// (relative to the page), with everything but unreserved characters and `/` percent-encoded,
/// so a path can never become another scheme (`javascript:`) or break out of the attribute.
pub fn path_href(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 8);
    out.push_str(if path.starts_with('/') {
        "file://"
    } else {
        "./"
    });
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_at_a_glance() {
        assert_eq!(duration(58), "58 ms");
        assert_eq!(duration(2437), "2.4 s");
        assert_eq!(duration(185_000), "3 min 05 s");
        assert_eq!(signed(-300), "\u{2212}300 ms");
        assert_eq!(signed(1200), "+1.2 s");
    }

    #[test]
    fn truncation_counts_characters() {
        assert_eq!(truncate("abcdef", 4), "abc\u{2026}");
        assert_eq!(truncate("abcd", 4), "abcd");
        assert_eq!(truncate("ééééé", 3), "éé\u{2026}");
    }

    #[test]
    fn hrefs_cannot_change_scheme_or_escape_the_attribute() {
        assert_eq!(path_href("/tmp/a b/x"), "file:///tmp/a%20b/x");
        assert_eq!(
            path_href("javascript:alert(1)"),
            "./javascript%3Aalert%281%29"
        );
        assert_eq!(path_href("a\"><script>"), "./a%22%3E%3Cscript%3E");
    }
}
