//! Scenario names are free text ("an order is stored"); their slug (`an-order-is-stored-3f9a1c`)
//! names the scenario's namespace and labels it, while reports keep the name as written.

/// Longest slug: `kt-<slug>-<5 random>` stays well inside a 63-character DNS label.
pub const MAX_LEN: usize = 40;

/// Hex digits of the name's hash appended to a slug that is not the name itself.
const HASH_LEN: usize = 6;

/// The scenario's slug: lowercase ASCII letters and digits joined by single `-`, at most
/// [`MAX_LEN`] characters. A name that already is such a label is its own slug; any other
/// gets a short hash of the whole name appended, so two names that read alike ("Order flow",
/// "order flow!", or two long names sharing their first 33 characters) never share a slug,
/// and the slug is the same in every process and on every run.
pub fn slug(name: &str) -> String {
    let mut base = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            base.push(c);
        } else if !base.is_empty() && !base.ends_with('-') {
            base.push('-');
        }
    }
    while base.ends_with('-') {
        base.pop();
    }
    if base == name && base.len() <= MAX_LEN {
        return base;
    }
    let keep = MAX_LEN - HASH_LEN - 1;
    let mut cut: String = base.chars().take(keep).collect();
    while cut.ends_with('-') {
        cut.pop();
    }
    let hash = format!("{:0width$x}", fnv1a(name) & 0xff_ffff, width = HASH_LEN);
    if cut.is_empty() {
        format!("scenario-{hash}")
    } else {
        format!("{cut}-{hash}")
    }
}

/// FNV-1a (64 bit): stable across processes and Rust versions, unlike `DefaultHasher`.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_label(s: &str) -> bool {
        crate::config::k8s_names::is_dns1123_label(s) && s.len() <= MAX_LEN
    }

    #[test]
    fn a_kebab_case_name_is_its_own_slug() {
        assert_eq!(slug("orders-flow"), "orders-flow");
        assert_eq!(slug("a1"), "a1");
    }

    #[test]
    fn sentences_become_labels_with_a_stable_hash() {
        let s = slug("An order is stored, then shipped!");
        assert!(s.starts_with("an-order-is-stored-then-shipped-"), "{s}");
        assert!(is_label(&s), "{s}");
        assert_eq!(s, slug("An order is stored, then shipped!"));
    }

    #[test]
    fn names_that_read_alike_get_different_slugs() {
        let names = [
            "Order flow",
            "order flow",
            "order-flow",
            "order  flow!",
            "ORDER_FLOW",
        ];
        let slugs: std::collections::BTreeSet<String> = names.iter().map(|n| slug(n)).collect();
        assert_eq!(slugs.len(), names.len(), "{slugs:?}");
    }

    #[test]
    fn long_names_are_cut_and_stay_unique() {
        let a = format!("{} one", "very long scenario name ".repeat(4));
        let b = format!("{} two", "very long scenario name ".repeat(4));
        let (sa, sb) = (slug(&a), slug(&b));
        assert!(is_label(&sa) && is_label(&sb), "{sa} {sb}");
        assert_eq!(sa.len(), MAX_LEN);
        assert_ne!(sa, sb);
        let kebab = "x".repeat(60);
        assert!(is_label(&slug(&kebab)));
    }

    #[test]
    fn names_without_ascii_letters_still_get_a_slug() {
        let s = slug("заказ сохранён");
        assert!(s.starts_with("scenario-") && is_label(&s), "{s}");
        assert_ne!(s, slug("заказ удалён"));
    }
}
