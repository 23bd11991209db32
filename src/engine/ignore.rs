//! Docker's `.dockerignore` / `.containerignore` rules, as moby's `patternmatcher` and `ignorefile` apply them.
//!
//! Parsing follows `ignorefile.ReadAll` (UTF-8 BOM stripped from the first line, lines that
//! *start* with `#` skipped before trimming, `!` exceptions, `filepath.Clean`, one leading `/`
//! dropped). Matching follows `patternmatcher` as BuildKit's `fsutil` walker calls it
//! (`MatchesUsingParentResults` along the path from the root): patterns are anchored at the
//! context root, `*`/`?` stop at `/`, `**` spans directories, a pattern that matches a parent
//! directory matches everything below it, and the last matching line wins.

use std::path::{Path, PathBuf};

/// Name of the ignore file Docker reads.
pub const DOCKERIGNORE: &str = ".dockerignore";
/// Name of the ignore file Podman/Buildah read before `.dockerignore`.
pub const CONTAINERIGNORE: &str = ".containerignore";

/// An ignore file (or text) that could not be read or parsed.
#[derive(thiserror::Error, Debug)]
pub enum IgnoreError {
    /// A line holds a pattern Docker would refuse.
    #[error("{}:{line}: {message}", file.display())]
    Pattern {
        /// The ignore file (`<input>` for [`IgnoreRules::parse`]).
        file: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with the line.
        message: String,
    },
    /// The ignore file exists but could not be read.
    #[error("cannot read {}: {source}", file.display())]
    Read {
        /// The ignore file.
        file: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// Parsed ignore patterns, in file order.
#[derive(Clone, Debug, Default)]
pub struct IgnoreRules {
    patterns: Vec<Pattern>,
    source: Option<PathBuf>,
}

/// Per-pattern "matched this directory" flags handed from a directory to its entries
/// (moby's `MatchInfo`).
#[derive(Clone, Debug, Default)]
pub(crate) struct MatchInfo(Vec<bool>);

#[derive(Clone, Debug)]
struct Pattern {
    exclusion: bool,
    /// The cleaned pattern, without its `!`.
    text: String,
    kind: Kind,
}

/// moby's `matchType`, decided while translating the pattern.
#[derive(Clone, Debug)]
enum Kind {
    /// No wildcard: compare the whole path.
    Exact,
    /// `lit**`: the path starts with `lit`.
    Prefix(String),
    /// `**lit`: the path ends with `lit` (or equals it without its leading `/`).
    Suffix(String),
    /// Anything else: what moby turns into a regular expression.
    Glob(Vec<Tok>),
}

#[derive(Clone, Debug)]
enum Tok {
    Lit(char),
    /// `?`: one character other than `/`.
    Any,
    /// `*`: any run of characters other than `/`.
    Star,
    /// `**` not at the end: `(.*/)?`, nothing or anything ending in `/`.
    DirStar,
    /// `**` at the end: `.*`.
    TailStar,
    /// `[...]`, `[^...]`.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
    /// A bare `^`: moby leaves it unescaped, so the regexp treats it as start-of-text.
    Caret,
}

impl IgnoreRules {
    /// Parses ignore-file text. Errors name the file as `<input>`.
    pub fn parse(text: &str) -> Result<Self, IgnoreError> {
        Self::parse_named(text, Path::new("<input>"))
    }

    /// Reads `.containerignore` from `context_dir` if present, else `.dockerignore`, else
    /// returns empty rules (Buildah's `ContainerIgnoreFile` order).
    pub fn load(context_dir: &Path) -> Result<Self, IgnoreError> {
        for name in [CONTAINERIGNORE, DOCKERIGNORE] {
            if let Some(rules) = Self::load_file(&context_dir.join(name))? {
                return Ok(rules);
            }
        }
        Ok(Self::default())
    }

    /// Like [`IgnoreRules::load`], but a per-Dockerfile ignore file beside the Dockerfile
    /// (`<dockerfile>.dockerignore`, else `<dockerfile>.containerignore`) takes precedence,
    /// as in BuildKit and Buildah.
    pub fn load_for(context_dir: &Path, dockerfile_rel: &str) -> Result<Self, IgnoreError> {
        let dockerfile = context_dir.join(dockerfile_rel);
        for suffix in [DOCKERIGNORE, CONTAINERIGNORE] {
            let mut name = dockerfile.clone().into_os_string();
            name.push(suffix);
            if let Some(rules) = Self::load_file(Path::new(&name))? {
                return Ok(rules);
            }
        }
        Self::load(context_dir)
    }

    /// The file these rules came from, if any.
    pub fn source(&self) -> Option<&Path> {
        self.source.as_deref()
    }

    /// True if the path (relative to the context root, `/`-separated, no leading `./`) is
    /// left out of the build context.
    pub fn is_excluded(&self, rel_path: &str) -> bool {
        let rel_path = rel_path.trim_end_matches('/');
        if self.patterns.is_empty() || rel_path.is_empty() || rel_path == "." {
            return false;
        }
        let mut info: Option<MatchInfo> = None;
        let mut excluded = false;
        for (end, _) in rel_path
            .match_indices('/')
            .chain(std::iter::once((rel_path.len(), "")))
        {
            let (m, next) = self.match_with_parent(&rel_path[..end], info.as_ref());
            excluded = m;
            info = Some(next);
        }
        excluded
    }

    /// True if some `!` pattern could match a path below `rel_dir`, so a walker that found
    /// `rel_dir` excluded must still descend into it.
    pub fn may_reinclude_below(&self, rel_dir: &str) -> bool {
        let mut prefix = rel_dir.trim_end_matches('/').to_string();
        prefix.push('/');
        self.patterns
            .iter()
            .filter(|p| p.exclusion)
            .any(|p| p.could_match_below(&prefix))
    }

    /// One step of moby's `MatchesUsingParentResults`: whether `path` is excluded given what
    /// matched its parent directory (`None` for an entry at the root).
    pub(crate) fn match_with_parent(
        &self,
        path: &str,
        parent: Option<&MatchInfo>,
    ) -> (bool, MatchInfo) {
        let parent = parent.map(|p| p.0.as_slice()).filter(|p| !p.is_empty());
        let mut info = vec![false; self.patterns.len()];
        let mut matched = false;
        for (i, pat) in self.patterns.iter().enumerate() {
            let mut m = parent.is_some_and(|p| p.get(i).copied().unwrap_or(false));
            if !m {
                // An exclusion can only flip a match, an inclusion only a non-match.
                if pat.exclusion != matched {
                    continue;
                }
                m = pat.matches(path);
                if !m && parent.is_none() {
                    m = ancestors(path).any(|a| pat.matches(a));
                }
            }
            info[i] = m;
            if m {
                matched = !pat.exclusion;
            }
        }
        (matched, MatchInfo(info))
    }

    fn load_file(file: &Path) -> Result<Option<Self>, IgnoreError> {
        match std::fs::read(file) {
            Ok(bytes) => {
                let text = String::from_utf8(bytes).map_err(|e| {
                    let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
                    IgnoreError::Pattern {
                        file: file.to_path_buf(),
                        line: 1 + valid.iter().filter(|&&b| b == b'\n').count(),
                        message: "line is not valid UTF-8".to_string(),
                    }
                })?;
                let mut rules = Self::parse_named(&text, file)?;
                rules.source = Some(file.to_path_buf());
                Ok(Some(rules))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(IgnoreError::Read {
                file: file.to_path_buf(),
                source,
            }),
        }
    }

    fn parse_named(text: &str, file: &Path) -> Result<Self, IgnoreError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut patterns = Vec::new();
        for (idx, raw) in text.lines().enumerate() {
            let err = |message: String| IgnoreError::Pattern {
                file: file.to_path_buf(),
                line: idx + 1,
                message,
            };
            // Comments are recognised before trimming: " # x" is a pattern.
            if raw.starts_with('#') {
                continue;
            }
            let line = raw.trim();
            if line.is_empty() {
                continue;
            }
            let (exclusion, rest) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            if rest.is_empty() {
                return Err(err("illegal exclusion pattern: \"!\"".to_string()));
            }
            let mut text = clean(rest);
            if text.len() > 1 && text.starts_with('/') {
                text.remove(0);
            }
            let kind =
                compile(&text).map_err(|reason| err(format!("bad pattern {text:?}: {reason}")))?;
            patterns.push(Pattern {
                exclusion,
                text,
                kind,
            });
        }
        Ok(Self {
            patterns,
            source: None,
        })
    }
}

impl Pattern {
    fn matches(&self, path: &str) -> bool {
        match &self.kind {
            Kind::Exact => path == self.text,
            Kind::Prefix(prefix) => path.starts_with(prefix.as_str()),
            Kind::Suffix(suffix) => {
                path.ends_with(suffix.as_str())
                    || suffix.strip_prefix('/').is_some_and(|s| path == s)
            }
            Kind::Glob(toks) => glob_match(toks, path, false),
        }
    }

    /// Could this pattern match some path that starts with `prefix` (which ends in `/`)?
    fn could_match_below(&self, prefix: &str) -> bool {
        match &self.kind {
            Kind::Exact => self.text.starts_with(prefix),
            Kind::Prefix(p) => p.starts_with(prefix) || prefix.starts_with(p.as_str()),
            Kind::Suffix(_) => true,
            Kind::Glob(toks) => glob_match(toks, prefix, true),
        }
    }
}

/// `path`'s proper ancestors, shortest first: `a/b/c` gives `a`, `a/b`.
fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/').map(move |(i, _)| &path[..i])
}

/// Go's `path.Clean` for `/`-separated paths.
fn clean(p: &str) -> String {
    let rooted = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for comp in p.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            c => out.push(c),
        }
    }
    let body = out.join("/");
    if rooted {
        format!("/{body}")
    } else if body.is_empty() {
        ".".to_string()
    } else {
        body
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Detected {
    Exact,
    Prefix,
    Suffix,
    Regexp,
}

/// Translates a cleaned pattern the way moby's `Pattern.compile` does, and rejects what
/// Go's `filepath.Match` rejects (moby calls it to validate every pattern).
fn compile(pattern: &str) -> Result<Kind, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut toks = Vec::new();
    let mut detected = Detected::Exact;
    let mut pos = 0;
    let mut first = true;
    while pos < chars.len() {
        let ch = chars[pos];
        pos += 1;
        match ch {
            '*' if chars.get(pos) == Some(&'*') => {
                pos += 1;
                if chars.get(pos) == Some(&'/') {
                    pos += 1;
                }
                if pos == chars.len() {
                    if detected == Detected::Exact {
                        detected = Detected::Prefix;
                    } else {
                        toks.push(Tok::TailStar);
                        detected = Detected::Regexp;
                    }
                } else {
                    toks.push(Tok::DirStar);
                    detected = Detected::Regexp;
                }
                if first {
                    detected = Detected::Suffix;
                }
            }
            '*' => {
                toks.push(Tok::Star);
                detected = Detected::Regexp;
            }
            '?' => {
                toks.push(Tok::Any);
                detected = Detected::Regexp;
            }
            '\\' => match chars.get(pos) {
                Some(&c) => {
                    pos += 1;
                    toks.push(Tok::Lit(c));
                    detected = Detected::Regexp;
                }
                None => return Err("trailing backslash".to_string()),
            },
            '[' => {
                let (tok, next) = parse_class(&chars, pos)?;
                toks.push(tok);
                pos = next;
                detected = Detected::Regexp;
            }
            ']' => {
                toks.push(Tok::Lit(']'));
                detected = Detected::Regexp;
            }
            '^' => toks.push(Tok::Caret),
            c => toks.push(Tok::Lit(c)),
        }
        first = false;
    }
    Ok(match detected {
        Detected::Exact => Kind::Exact,
        Detected::Prefix => Kind::Prefix(pattern[..pattern.len() - 2].to_string()),
        Detected::Suffix => Kind::Suffix(pattern[2..].to_string()),
        Detected::Regexp => Kind::Glob(toks),
    })
}

/// Parses a class after its `[` with `filepath.Match`'s rules; returns the token and the
/// position after the closing `]`.
fn parse_class(chars: &[char], mut pos: usize) -> Result<(Tok, usize), String> {
    let negated = chars.get(pos) == Some(&'^');
    if negated {
        pos += 1;
    }
    let mut ranges = Vec::new();
    loop {
        if chars.get(pos) == Some(&']') && !ranges.is_empty() {
            return Ok((Tok::Class { negated, ranges }, pos + 1));
        }
        let lo = class_char(chars, &mut pos)?;
        let mut hi = lo;
        if chars.get(pos) == Some(&'-') {
            pos += 1;
            hi = class_char(chars, &mut pos)?;
            if hi < lo {
                return Err(format!("invalid character class range {lo}-{hi}"));
            }
        }
        ranges.push((lo, hi));
    }
}

/// Go's `getEsc`: one (possibly `\`-escaped) class character that must be followed by more.
fn class_char(chars: &[char], pos: &mut usize) -> Result<char, String> {
    let mut c = match chars.get(*pos) {
        None => return Err("unclosed character class".to_string()),
        Some('-') | Some(']') => {
            return Err("'-' or ']' must be escaped inside a character class".to_string())
        }
        Some(&c) => c,
    };
    *pos += 1;
    if c == '\\' {
        c = *chars
            .get(*pos)
            .ok_or_else(|| "unclosed character class".to_string())?;
        *pos += 1;
    }
    if *pos >= chars.len() {
        return Err("unclosed character class".to_string());
    }
    Ok(c)
}

/// Runs the tokens over `s`, tracking every reachable position. With `partial`, answers
/// whether the tokens could match some string that starts with `s`.
fn glob_match(toks: &[Tok], s: &str, partial: bool) -> bool {
    let s: Vec<char> = s.chars().collect();
    let n = s.len();
    let mut cur = vec![false; n + 1];
    cur[0] = true;
    for tok in toks {
        if partial && cur[n] {
            return true;
        }
        let mut next = vec![false; n + 1];
        let mut any = false;
        for p in (0..=n).filter(|&p| cur[p]) {
            match tok {
                Tok::Lit(c) => {
                    if s.get(p) == Some(c) {
                        next[p + 1] = true;
                    }
                }
                Tok::Any => {
                    if s.get(p).is_some_and(|&c| c != '/') {
                        next[p + 1] = true;
                    }
                }
                Tok::Class { negated, ranges } => {
                    if let Some(&c) = s.get(p) {
                        let hit = ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi);
                        if hit != *negated {
                            next[p + 1] = true;
                        }
                    }
                }
                Tok::Star => {
                    next[p] = true;
                    for q in p..n {
                        if s[q] == '/' {
                            break;
                        }
                        next[q + 1] = true;
                    }
                }
                Tok::DirStar | Tok::TailStar => {
                    // Regexp `.` does not match a newline.
                    let end = s[p..].iter().position(|&c| c == '\n').map_or(n, |i| p + i);
                    if partial && end == n {
                        return true;
                    }
                    next[p] = true;
                    for q in p..end {
                        if matches!(tok, Tok::TailStar) || s[q] == '/' {
                            next[q + 1] = true;
                        }
                    }
                }
                Tok::Caret => {
                    if p == 0 {
                        next[0] = true;
                    }
                }
            }
        }
        for (slot, v) in cur.iter_mut().zip(next) {
            *slot = v;
            any |= v;
        }
        if !any {
            return false;
        }
    }
    cur[n]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (ignore-file text, path, excluded?) — from Docker's documentation and moby's tests.
    const CASES: &[(&str, &str, bool)] = &[
        // docs: `*/temp*` — one level down only
        ("*/temp*", "somedir/temporary.txt", true),
        ("*/temp*", "somedir/temp", true),
        ("*/temp*", "temp", false),
        ("*/temp*", "a/b/temp", false),
        // docs: `*/*/temp*` — two levels down
        ("*/*/temp*", "somedir/subdir/temporary.txt", true),
        ("*/*/temp*", "somedir/temporary.txt", false),
        // docs: `temp?`
        ("temp?", "tempa", true),
        ("temp?", "tempb", true),
        ("temp?", "temp", false),
        ("temp?", "tempab", false),
        ("temp?", "sub/tempa", false),
        // anchored at the root
        ("foo", "a/foo", false),
        ("foo", "foo", true),
        // `*` and `?` do not cross `/`
        ("*", "a/b", true), // via the parent `a`
        ("a*c", "ab/c", false),
        ("a?c", "a/c", false),
        // docs: `**/*.go`
        ("**/*.go", "main.go", true),
        ("**/*.go", "a/b/c.go", true),
        ("**/*.go", "a/b/c.gox", false),
        // `**` alone matches everything; `**/x` matches `x` at the root
        ("**", "anything/at/all", true),
        ("**/foo", "foo", true),
        ("**/foo", "a/b/foo", true),
        ("**/foo", "a/xfoo", false),
        ("a/**/b", "a/b", true),
        ("a/**/b", "a/x/y/b", true),
        // parent match excludes everything below
        ("dir", "dir/sub/file.txt", true),
        ("dir/sub", "dir/sub/deeper/f", true),
        ("dir/sub", "dir/other", false),
        // docs: `*.md` + `!README.md`
        ("*.md\n!README.md", "README.md", false),
        ("*.md\n!README.md", "CHANGES.md", true),
        // docs: ordering — last matching line wins
        (
            "*.md\n!README*.md\nREADME-secret.md",
            "README-secret.md",
            true,
        ),
        (
            "*.md\n!README*.md\nREADME-secret.md",
            "README-public.md",
            false,
        ),
        ("*.md\n!README*.md\nREADME-secret.md", "other.md", true),
        (
            "*.md\nREADME-secret.md\n!README*.md",
            "README-secret.md",
            false,
        ),
        // leading and trailing `/`, `.`/`..` cleaned
        ("/foo", "foo", true),
        ("/foo/bar/", "foo/bar/baz", true),
        ("foo/", "foo", true),
        ("./a/../b", "b", true),
        ("a//b/./c", "a/b/c", true),
        ("../foo", "foo", false),
        // comments (only at column 1) and blank lines; BOM and whitespace trimmed
        ("# foo", "# foo", false),
        ("#foo\nbar", "bar", true),
        (" #foo", "#foo", true),
        ("\u{feff}foo", "foo", true),
        ("  foo  \n\n", "foo", true),
        ("! foo\nfoo\n!  foo", "foo", false),
        // character classes as Go's filepath.Match
        ("[abc].txt", "b.txt", true),
        ("[a-c].txt", "d.txt", false),
        ("[^a-c].txt", "d.txt", true),
        ("[^a-c].txt", "a.txt", false),
        ("[!a].txt", "!.txt", true), // `!` is not a negation in Go
        ("[!a].txt", "b.txt", false),
        ("[\\]x]", "]", true),
        // escapes
        ("\\*.txt", "*.txt", true),
        ("\\*.txt", "a.txt", false),
        ("\\!keep", "!keep", true),
        ("a\\?", "a?", true),
        ("a\\?", "ab", false),
        // nested re-includes
        ("dir\n!dir/keep", "dir/keep", false),
        ("dir\n!dir/keep", "dir/keep/deep/file", false),
        ("dir\n!dir/keep", "dir/other", true),
        ("dir\n!dir/keep", "dir", true),
        ("dir\n!dir/*.txt\ndir/b.txt", "dir/a.txt", false),
        ("dir\n!dir/*.txt\ndir/b.txt", "dir/b.txt", true),
        ("*\n!src\nsrc/*.tmp", "src/main.rs", false),
        ("*\n!src\nsrc/*.tmp", "src/x.tmp", true),
        ("*\n!src\nsrc/*.tmp", "target/x", true),
        // `foo/**` keeps `foo` itself, excludes its contents
        ("foo/**", "foo", false),
        ("foo/**", "foo/a/b", true),
        // moby quirks: `**` always means `(.*/)?`, `lit**` is a plain prefix
        ("a**b", "ab", true),
        ("a**b", "ax/b", true),
        ("a**b", "axb", false),
        ("foo**", "foobar/x", true),
        ("**foo", "a/xfoo", true),
        // a parent matched only through an earlier pattern is not re-checked (fsutil)
        ("d/x\n!d", "d/x", true),
        ("d/x\n!d", "d/y", false),
        // `^` outside a class is a regexp anchor once the pattern is a glob
        ("a^b*", "a^bc", false),
        ("a^b", "a^b", true),
    ];

    #[test]
    fn table() {
        assert!(CASES.len() >= 45);
        let mut failures = Vec::new();
        for (i, &(text, path, want)) in CASES.iter().enumerate() {
            let rules = IgnoreRules::parse(text).unwrap();
            if rules.is_excluded(path) != want {
                failures.push(format!("#{i}: {text:?} on {path:?}: expected {want}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn bare_exclusion_is_an_error_with_line() {
        for text in ["foo\n!\n", "foo\n\n!   \n"] {
            let err = IgnoreRules::parse(text).unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains(":3:") || msg.contains(":2:"), "{msg}");
            assert!(msg.contains("illegal exclusion"), "{msg}");
        }
        let err = IgnoreRules::parse("a\n!\n").unwrap_err();
        assert!(matches!(err, IgnoreError::Pattern { line: 2, .. }), "{err}");
    }

    #[test]
    fn bad_patterns_are_errors() {
        for text in ["[abc", "a\\", "[]a]", "[a-]", "[-a]", "[z-a]", "[^]"] {
            let err = IgnoreRules::parse(text).unwrap_err();
            assert!(
                matches!(err, IgnoreError::Pattern { line: 1, .. }),
                "{text}: {err}"
            );
        }
    }

    #[test]
    fn reinclude_below() {
        let r = IgnoreRules::parse("vendor\n!vendor/keep").unwrap();
        assert!(r.may_reinclude_below("vendor"));
        assert!(!r.may_reinclude_below("node_modules"));
        let r = IgnoreRules::parse("vendor\nnode_modules").unwrap();
        assert!(!r.may_reinclude_below("vendor"));
        let r = IgnoreRules::parse("*\n!**/*.go").unwrap();
        assert!(r.may_reinclude_below("deep/dir"));
        let r = IgnoreRules::parse("*\n!*/keep").unwrap();
        assert!(r.may_reinclude_below("x"));
        assert!(!r.may_reinclude_below("x/y"));
        let r = IgnoreRules::parse("*\n!a/b/c/d").unwrap();
        assert!(r.may_reinclude_below("a/b"));
        assert!(!r.may_reinclude_below("a/x"));
        let r = IgnoreRules::parse("*\n!src**").unwrap();
        assert!(r.may_reinclude_below("src/x"));
        assert!(!r.may_reinclude_below("lib"));
        let r = IgnoreRules::parse("*\n!a/**/z").unwrap();
        assert!(r.may_reinclude_below("a/very/deep/dir"));
        assert!(!r.may_reinclude_below("b"));
    }

    #[test]
    fn load_prefers_containerignore() {
        let dir = tempfile::tempdir().unwrap();
        assert!(IgnoreRules::load(dir.path()).unwrap().source().is_none());
        std::fs::write(dir.path().join(DOCKERIGNORE), "a\n").unwrap();
        let r = IgnoreRules::load(dir.path()).unwrap();
        assert!(r.is_excluded("a") && !r.is_excluded("b"));
        std::fs::write(dir.path().join(CONTAINERIGNORE), "b\n").unwrap();
        let r = IgnoreRules::load(dir.path()).unwrap();
        assert!(!r.is_excluded("a") && r.is_excluded("b"));
        assert_eq!(r.source(), Some(dir.path().join(CONTAINERIGNORE).as_path()));
        std::fs::write(dir.path().join("Dockerfile.dockerignore"), "c\n").unwrap();
        let r = IgnoreRules::load_for(dir.path(), "Dockerfile").unwrap();
        assert!(r.is_excluded("c") && !r.is_excluded("b"));
        std::fs::write(dir.path().join(DOCKERIGNORE), "ok\n!\n").unwrap();
        std::fs::remove_file(dir.path().join(CONTAINERIGNORE)).unwrap();
        let err = IgnoreRules::load(dir.path()).unwrap_err();
        assert!(err.to_string().contains(".dockerignore:2:"), "{err}");
    }

    #[test]
    fn clean_matches_go() {
        for (input, want) in [
            ("", "."),
            ("a/b/", "a/b"),
            ("/", "/"),
            ("/..", "/"),
            ("../../a", "../../a"),
            ("a/../../b", "../b"),
            ("./a/./b/..", "a"),
            ("//a//b", "/a/b"),
        ] {
            assert_eq!(clean(input), want, "{input}");
        }
    }
}
