//! A failure bundle on disk: size-bounded files, and the index (`README.txt`) naming each one.

use anyhow::Context;
use std::path::{Path, PathBuf};

/// No file of a bundle grows past this; longer text keeps its end and says what was cut.
pub const MAX_FILE_BYTES: usize = 4 * 1024 * 1024;

/// The index file of every bundle.
pub const INDEX: &str = "README.txt";

/// Writes the files of one bundle and remembers what each holds for the index.
pub struct Bundle {
    dir: PathBuf,
    title: String,
    glance: Vec<String>,
    entries: Vec<(String, String)>,
    cut: Vec<String>,
    max_bytes: usize,
    /// Whether the index explains the size cap (not for copies of files, which are never cut).
    size_note: bool,
}

impl Bundle {
    /// A bundle in `dir` (created); `title` heads the index.
    pub fn create(dir: &Path, title: impl Into<String>) -> anyhow::Result<Self> {
        // 0700, its files 0600 and masked: a bundle quotes dependency logs (state::private).
        crate::state::private::create_dir(dir)
            .with_context(|| format!("cannot create the bundle directory {}", dir.display()))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            title: title.into(),
            glance: Vec::new(),
            entries: Vec::new(),
            cut: Vec::new(),
            size_note: true,
            max_bytes: MAX_FILE_BYTES,
        })
    }

    /// A smaller bound (tests).
    pub fn with_max_bytes(mut self, max: usize) -> Self {
        self.max_bytes = max;
        self
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Write `text` to `rel` (a path inside the bundle), cut to the size bound, and list it
    /// in the index as `what`.
    pub fn write(&mut self, rel: &str, what: &str, text: &str) -> anyhow::Result<PathBuf> {
        let path = self.dir.join(rel);
        let (body, cut) = bounded(text, self.max_bytes);
        crate::state::private::write_artifact(&path, &body)?;
        if cut > 0 {
            self.cut
                .push(format!("{rel}: the first {cut} bytes were cut"));
        }
        self.entries.push((rel.to_owned(), what.to_owned()));
        Ok(path)
    }

    /// A line of the index's "At a glance" section (what failed, what state things are in).
    pub fn glance(&mut self, line: impl Into<String>) {
        self.glance.push(line.into());
    }

    /// Leave the size-cap paragraph out of the index: the bundle holds copied files, whole.
    pub fn without_size_note(&mut self) {
        self.size_note = false;
    }

    /// List a file some phase already wrote inside the bundle.
    pub fn list(&mut self, rel: &str, what: &str) {
        self.entries.push((rel.to_owned(), what.to_owned()));
    }

    /// Write the index; returns the bundle's directory.
    pub fn finish(self) -> anyhow::Result<PathBuf> {
        let path = self.dir.join(INDEX);
        crate::state::private::write_artifact(&path, &self.index())?;
        Ok(self.dir)
    }

    /// The index text: what happened, then each file and what it holds.
    pub fn index(&self) -> String {
        let width = self.entries.iter().map(|(p, _)| p.len()).max().unwrap_or(0);
        let mut out = format!("{}\n", self.title);
        if !self.glance.is_empty() {
            out.push_str("\nAt a glance:\n");
            for g in &self.glance {
                out.push_str(&format!("  {g}\n"));
            }
        }
        out.push_str("\nFiles:\n");
        for (p, what) in &self.entries {
            out.push_str(&format!("  {p:width$}  {what}\n"));
        }
        if !self.size_note {
            return out;
        }
        out.push_str(&format!(
            "\nEvery file is at most {} MB; a longer text keeps its end.\n",
            self.max_bytes / (1024 * 1024)
        ));
        if self.cut.is_empty() {
            out.push_str("Nothing was cut.\n");
        } else {
            out.push_str("Cut:\n");
            for c in &self.cut {
                out.push_str(&format!("  {c}\n"));
            }
        }
        out
    }
}

/// `text` cut to at most `max` bytes, keeping the end (the latest output) and saying so on
/// the first line; returns how many bytes were dropped.
pub fn bounded(text: &str, max: usize) -> (std::borrow::Cow<'_, str>, usize) {
    if text.len() <= max {
        return (text.into(), 0);
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    // Start at a line.
    if let Some(nl) = text[start..].find('\n') {
        start += nl + 1;
    }
    let note = format!(
        "[kubetest: the first {start} bytes were cut; the last {} bytes follow]\n",
        text.len() - start
    );
    (format!("{note}{}", &text[start..]).into(), start)
}

/// A name usable as one path component: letters, digits, `.`, `_` and `-` kept, the rest `-`.
pub fn slug(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    if s.is_empty() || s.chars().all(|c| c == '.') {
        "_".into()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_keeps_its_end_and_says_so() {
        let text: String = (1..=1000).map(|i| format!("line {i}\n")).collect();
        let (out, cut) = bounded(&text, 100);
        assert!(cut > 0);
        assert!(out.starts_with("[kubetest: the first "), "{out}");
        assert!(out.ends_with("line 1000\n"));
        assert!(out.lines().nth(1).unwrap().starts_with("line "), "{out}");
        let (same, none) = bounded("short\n", 100);
        assert_eq!((same.as_ref(), none), ("short\n", 0));
    }

    #[test]
    fn index_names_every_file_and_what_was_cut() {
        let tmp = tempfile::tempdir().unwrap();
        let mut b = Bundle::create(&tmp.path().join("b"), "scenario x failed")
            .unwrap()
            .with_max_bytes(1024 * 1024);
        b.write("a.txt", "the failure", "x\n").unwrap();
        b.write("deps/pg.log", "full log", &"y\n".repeat(600_000))
            .unwrap();
        let dir = b.finish().unwrap();
        let index = std::fs::read_to_string(dir.join(INDEX)).unwrap();
        assert!(index.starts_with("scenario x failed\n"), "{index}");
        assert!(index.contains("  a.txt        the failure\n"), "{index}");
        assert!(index.contains("deps/pg.log: the first"), "{index}");
        let log = std::fs::metadata(dir.join("deps/pg.log")).unwrap().len();
        assert!(log <= 1024 * 1024 + 100, "{log}");
    }

    #[test]
    fn copied_files_get_no_size_cap_paragraph() {
        let tmp = tempfile::tempdir().unwrap();
        let mut b = Bundle::create(&tmp.path().join("c"), "files collected").unwrap();
        b.without_size_note();
        b.list("coverage/box", "/cover of dependency box");
        let index = b.index();
        assert!(
            index.contains("coverage/box  /cover of dependency box"),
            "{index}"
        );
        assert!(!index.contains("at most"), "{index}");
        assert!(!index.contains("Nothing was cut"), "{index}");
    }

    #[test]
    fn slugs_are_one_path_component() {
        assert_eq!(slug("demo/app=web"), "demo-app-web");
        assert_eq!(slug(".."), "_");
    }
}
