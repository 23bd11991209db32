//! Secret values — env values whose keys look secret — and masking them in everything kubetest
//! prints or saves: events (so every reporter), error messages, failure bundles, reports.
//!
//! A key looks secret when it contains `PASSWORD`, `PASSWD`, `TOKEN` or `SECRET`, or ends in
//! `_KEY` (any case). Values shorter than [`MIN_LEN`] are not masked (masking `x` everywhere
//! would garble every line), and a value is masked only where it stands as a whole word — not
//! inside a longer run of letters and digits — so a password `test` masks `user:test@db` but
//! leaves `kubetest` alone.

use crate::events::Event;
use std::borrow::Cow;
use std::sync::{PoisonError, RwLock};

/// What a masked value becomes.
pub const MASK: &str = "******";

/// Shorter values are not masked.
pub const MIN_LEN: usize = 3;

/// The secret values registered in this process, longest first.
static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Whether an environment variable of this name holds a secret.
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_uppercase();
    ["PASSWORD", "PASSWD", "TOKEN", "SECRET"]
        .iter()
        .any(|w| k.contains(w))
        || k.ends_with("_KEY")
}

/// Register the values of the secret-looking keys among `pairs` (key, value) for masking.
pub fn register<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) {
    register_values(
        pairs
            .into_iter()
            .filter(|(k, _)| is_secret_key(k))
            .map(|(_, v)| v),
    );
}

/// Register values that are secret whatever their name (registry passwords and tokens read
/// from credential stores) for masking.
pub fn register_values<'a>(values: impl IntoIterator<Item = &'a str>) {
    let new: Vec<String> = values
        .into_iter()
        .filter(|v| v.chars().count() >= MIN_LEN)
        .map(str::to_owned)
        .collect();
    if new.is_empty() {
        return;
    }
    let mut all = SECRETS.write().unwrap_or_else(PoisonError::into_inner);
    for v in new {
        if !all.contains(&v) {
            all.push(v);
        }
    }
    // Longest first, so a secret that contains another is masked whole.
    all.sort_by_key(|v| std::cmp::Reverse(v.len()));
}

/// `text` with every registered secret masked.
pub fn mask(text: &str) -> Cow<'_, str> {
    let secrets = SECRETS.read().unwrap_or_else(PoisonError::into_inner);
    mask_with(text, &secrets)
}

/// Whether any secret is registered (masking is skipped entirely when none is).
pub fn any() -> bool {
    !SECRETS
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .is_empty()
}

/// `text` with every value of `secrets` (longest first) masked where it stands as a word.
pub fn mask_with<'t>(text: &'t str, secrets: &[String]) -> Cow<'t, str> {
    let mut out: Cow<'t, str> = Cow::Borrowed(text);
    for s in secrets {
        if out.contains(s.as_str()) {
            out = Cow::Owned(mask_one(&out, s));
        }
    }
    out
}

fn is_word_char(c: Option<char>) -> bool {
    c.is_some_and(|c| c.is_alphanumeric())
}

fn mask_one(text: &str, secret: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = 0;
    let mut from = 0;
    while let Some(i) = text[from..].find(secret) {
        let start = from + i;
        let end = start + secret.len();
        let before = text[..start].chars().next_back();
        let after = text[end..].chars().next();
        if is_word_char(before) || is_word_char(after) {
            from = start + secret.chars().next().map_or(1, char::len_utf8);
            continue;
        }
        out.push_str(&text[rest..start]);
        out.push_str(MASK);
        rest = end;
        from = end;
    }
    out.push_str(&text[rest..]);
    out
}

/// The event with every string in it masked; the event itself when no secret is registered.
pub fn mask_event(event: Event) -> Event {
    if !any() {
        return event;
    }
    let Ok(mut value) = serde_json::to_value(&event) else {
        return event;
    };
    if !mask_strings(&mut value) {
        return event;
    }
    serde_json::from_value(value).unwrap_or(event)
}

/// Masks every string leaf; says whether anything changed.
fn mask_strings(v: &mut serde_json::Value) -> bool {
    match v {
        serde_json::Value::String(s) => match mask(s) {
            Cow::Owned(m) => {
                *s = m;
                true
            }
            Cow::Borrowed(_) => false,
        },
        serde_json::Value::Array(items) => items.iter_mut().fold(false, |c, i| mask_strings(i) | c),
        serde_json::Value::Object(map) => map.values_mut().fold(false, |c, i| mask_strings(i) | c),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_keys() {
        for k in [
            "POSTGRES_PASSWORD",
            "password",
            "DB_PASSWD",
            "GITHUB_TOKEN",
            "token",
            "CLIENT_SECRET",
            "AWS_SECRET_ACCESS_KEY",
            "API_KEY",
            "stripe_key",
        ] {
            assert!(is_secret_key(k), "{k}");
        }
        for k in ["POSTGRES_USER", "KEYCLOAK_URL", "PORT", "MONKEY", "KEY_ID"] {
            assert!(!is_secret_key(k), "{k}");
        }
    }

    #[test]
    fn masks_whole_words_only() {
        let s = vec!["test".to_owned()];
        assert_eq!(
            mask_with("postgres://app:test@db:5432 kubetest tests test", &s),
            "postgres://app:******@db:5432 kubetest tests ******"
        );
        assert_eq!(mask_with("PASSWORD=test\n", &s), "PASSWORD=******\n");
        assert!(matches!(mask_with("nothing here", &s), Cow::Borrowed(_)));
    }

    #[test]
    fn longest_secret_first_and_unicode() {
        let s = vec!["s3cr3t-long".to_owned(), "s3cr3t".to_owned()];
        assert_eq!(mask_with("a s3cr3t-long b s3cr3t", &s), "a ****** b ******");
        let s = vec!["pässwörd".to_owned()];
        assert_eq!(mask_with("é pässwörd é", &s), "é ****** é");
        assert_eq!(mask_with("xpässwörd", &s), "xpässwörd");
    }
}
