//! The build context: scan a directory with the ignore rules, hash its inputs, stream it as a tar.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use sha2::{Digest, Sha256};

use super::ignore::{IgnoreError, IgnoreRules, MatchInfo, CONTAINERIGNORE, DOCKERIGNORE};

/// Size of the read buffer used when hashing and of the chunks the tar stream yields.
const CHUNK: usize = 64 * 1024;
/// Chunks that may wait in the tar channel: memory held by a stream is about `QUEUE * CHUNK`.
const QUEUE: usize = 8;
/// Names tried, in order, when no Dockerfile is given (Buildah's order).
const DEFAULT_DOCKERFILES: [&str; 2] = ["Containerfile", "Dockerfile"];

/// What an entry of the context is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory (sent so that empty directories survive).
    Dir,
    /// A symbolic link, not followed; holds the link target.
    Symlink(PathBuf),
}

/// One entry of the build context.
#[derive(Clone, Debug)]
pub struct ContextFile {
    /// Path relative to the context root, `/`-separated.
    pub rel: String,
    /// Absolute (or root-joined) path on disk.
    pub abs: PathBuf,
    /// Permission bits (`0o7777` mask).
    pub mode: u32,
    /// Size in bytes at scan time (0 for directories and symlinks).
    pub size: u64,
    /// File, directory or symlink.
    pub kind: EntryKind,
}

/// A scanned build context.
#[derive(Clone, Debug)]
pub struct BuildContext {
    /// The context directory.
    pub root: PathBuf,
    /// The Dockerfile, relative to `root`, `/`-separated.
    pub dockerfile: String,
    /// Every entry sent to the engine, sorted by `rel`.
    pub files: Vec<ContextFile>,
}

/// A build context that cannot be scanned, hashed or found.
#[derive(thiserror::Error, Debug)]
pub enum ContextError {
    /// No Dockerfile where one was expected.
    #[error("no Dockerfile in {}: looked for {}", context.display(), list(looked_for))]
    DockerfileNotFound {
        /// The context directory.
        context: PathBuf,
        /// Every path tried.
        looked_for: Vec<PathBuf>,
    },
    /// The context is not a directory.
    #[error("build context {} is not a directory", path.display())]
    NotADirectory {
        /// The context path.
        path: PathBuf,
    },
    /// The Dockerfile path leaves the context.
    #[error("Dockerfile {path:?} is not inside the build context {}", root.display())]
    OutsideContext {
        /// The context directory.
        root: PathBuf,
        /// The Dockerfile path as given.
        path: String,
    },
    /// The ignore file is unreadable or invalid.
    #[error(transparent)]
    Ignore(#[from] IgnoreError),
    /// A file name is not UTF-8, which the context cannot carry faithfully.
    #[error("file name is not valid UTF-8: {}", path.display())]
    NonUtf8Path {
        /// The offending path.
        path: PathBuf,
    },
    /// Listing, inspecting or reading a path failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done ("read", "list", "inspect").
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

fn list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn io_err<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> ContextError + 'a {
    move |source| ContextError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// Finds the Dockerfile: `file` (relative to `context` unless absolute) when given, else
/// `Containerfile`, then `Dockerfile`, in `context`.
pub fn find_dockerfile(context: &Path, file: Option<&Path>) -> Result<PathBuf, ContextError> {
    let candidates: Vec<PathBuf> = match file {
        Some(f) => vec![context.join(f)],
        None => DEFAULT_DOCKERFILES
            .iter()
            .map(|n| context.join(n))
            .collect(),
    };
    match candidates.iter().find(|c| c.is_file()) {
        Some(found) => Ok(found.clone()),
        None => Err(ContextError::DockerfileNotFound {
            context: context.to_path_buf(),
            looked_for: candidates,
        }),
    }
}

/// Walks `root`, applying `.containerignore`/`.dockerignore` (or `<dockerfile>.dockerignore`).
///
/// Excluded directories are not entered unless a `!` pattern could re-include something
/// below them; directories that hold a re-included entry are sent too (as BuildKit does).
/// The Dockerfile and the ignore files are always sent. Symlinks are not followed;
/// sockets, FIFOs and devices are skipped.
pub fn scan(root: &Path, dockerfile_rel: &str) -> Result<BuildContext, ContextError> {
    let meta = std::fs::metadata(root).map_err(io_err("inspect", root))?;
    if !meta.is_dir() {
        return Err(ContextError::NotADirectory {
            path: root.to_path_buf(),
        });
    }
    let dockerfile = normalize_rel(dockerfile_rel).ok_or_else(|| ContextError::OutsideContext {
        root: root.to_path_buf(),
        path: dockerfile_rel.to_string(),
    })?;
    let rules = IgnoreRules::load_for(root, &dockerfile)?;
    let mut forced: BTreeSet<String> = [DOCKERIGNORE, CONTAINERIGNORE, dockerfile.as_str()]
        .iter()
        .map(|s| s.to_string())
        .collect();
    if let Some(rel) = rules
        .source()
        .and_then(|s| s.strip_prefix(root).ok())
        .and_then(|r| r.to_str())
    {
        forced.insert(rel.replace('\\', "/"));
    }
    let mut walker = Walker {
        rules: &rules,
        forced: &forced,
        files: Vec::new(),
    };
    walker.walk(root, "", None)?;
    let mut files = walker.files;
    files.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(BuildContext {
        root: root.to_path_buf(),
        dockerfile,
        files,
    })
}

/// `./a//b/` → `a/b`; `None` if it climbs out with `..` or is empty.
fn normalize_rel(rel: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for comp in rel.split(['/', '\\']) {
        match comp {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

struct Walker<'a> {
    rules: &'a IgnoreRules,
    forced: &'a BTreeSet<String>,
    files: Vec<ContextFile>,
}

impl Walker<'_> {
    /// Walks one directory; returns whether anything below it was included.
    fn walk(
        &mut self,
        dir: &Path,
        dir_rel: &str,
        info: Option<&MatchInfo>,
    ) -> Result<bool, ContextError> {
        let mut included = false;
        let read = std::fs::read_dir(dir).map_err(io_err("list", dir))?;
        for entry in read {
            let entry = entry.map_err(io_err("list", dir))?;
            let abs = entry.path();
            let name = entry
                .file_name()
                .into_string()
                .map_err(|_| ContextError::NonUtf8Path { path: abs.clone() })?;
            let rel = if dir_rel.is_empty() {
                name
            } else {
                format!("{dir_rel}/{name}")
            };
            let meta = std::fs::symlink_metadata(&abs).map_err(io_err("inspect", &abs))?;
            let (excluded, child_info) = self.rules.match_with_parent(&rel, info);
            let ft = meta.file_type();
            if ft.is_dir() {
                let forced_below = self
                    .forced
                    .range(format!("{rel}/")..)
                    .next()
                    .is_some_and(|f| f.starts_with(&format!("{rel}/")));
                if excluded && !forced_below && !self.rules.may_reinclude_below(&rel) {
                    continue;
                }
                let slot = self.files.len();
                let below = self.walk(&abs, &rel, Some(&child_info))?;
                if !excluded || below {
                    // Insert before the children only for readability; the list is sorted later.
                    self.files
                        .insert(slot, entry_for(rel, abs, &meta, EntryKind::Dir));
                    included = true;
                }
                continue;
            }
            if excluded && !self.forced.contains(&rel) {
                continue;
            }
            let kind = if ft.is_symlink() {
                let target = std::fs::read_link(&abs).map_err(io_err("read link", &abs))?;
                EntryKind::Symlink(target)
            } else if ft.is_file() {
                EntryKind::File
            } else {
                continue; // sockets, FIFOs, devices
            };
            self.files.push(entry_for(rel, abs, &meta, kind));
            included = true;
        }
        Ok(included)
    }
}

fn entry_for(rel: String, abs: PathBuf, meta: &std::fs::Metadata, kind: EntryKind) -> ContextFile {
    let size = if kind == EntryKind::File {
        meta.len()
    } else {
        0
    };
    ContextFile {
        rel,
        abs,
        mode: mode_of(meta, &kind),
        size,
        kind,
    }
}

#[cfg(unix)]
fn mode_of(meta: &std::fs::Metadata, _kind: &EntryKind) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o7777
}

#[cfg(not(unix))]
fn mode_of(meta: &std::fs::Metadata, kind: &EntryKind) -> u32 {
    match kind {
        EntryKind::Dir => 0o755,
        EntryKind::Symlink(_) => 0o777,
        EntryKind::File if meta.permissions().readonly() => 0o444,
        EntryKind::File => 0o644,
    }
}

/// SHA-256 (hex) over every entry's path, mode, kind and content (or link target), the
/// Dockerfile path, the build args, the target and the labels. File contents are streamed.
pub fn input_hash(
    ctx: &BuildContext,
    args: &BTreeMap<String, String>,
    target: Option<&str>,
    labels: &BTreeMap<String, String>,
) -> Result<String, ContextError> {
    let mut h = Sha256::new();
    h.update(b"kubetest-context-v1\0");
    field(&mut h, ctx.dockerfile.as_bytes());
    h.update((ctx.files.len() as u64).to_be_bytes());
    let mut buf = vec![0u8; CHUNK];
    for f in &ctx.files {
        field(&mut h, f.rel.as_bytes());
        h.update(f.mode.to_be_bytes());
        match &f.kind {
            EntryKind::Dir => h.update(b"D"),
            EntryKind::Symlink(target) => {
                h.update(b"L");
                field(&mut h, target.as_os_str().as_encoded_bytes());
            }
            EntryKind::File => {
                h.update(b"F");
                let mut file = std::fs::File::open(&f.abs).map_err(io_err("read", &f.abs))?;
                let mut content = Sha256::new();
                let mut len: u64 = 0;
                loop {
                    let n = match file.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(io_err("read", &f.abs)(e)),
                    };
                    content.update(&buf[..n]);
                    len += n as u64;
                }
                h.update(len.to_be_bytes());
                h.update(content.finalize());
            }
        }
    }
    h.update((args.len() as u64).to_be_bytes());
    for (k, v) in args {
        field(&mut h, k.as_bytes());
        field(&mut h, v.as_bytes());
    }
    match target {
        None => h.update([0u8]),
        Some(t) => {
            h.update([1u8]);
            field(&mut h, t.as_bytes());
        }
    }
    h.update((labels.len() as u64).to_be_bytes());
    for (k, v) in labels {
        field(&mut h, k.as_bytes());
        field(&mut h, v.as_bytes());
    }
    Ok(hex::encode(h.finalize()))
}

/// Length-prefixed so that adjacent fields cannot run into each other.
fn field(h: &mut Sha256, bytes: &[u8]) {
    h.update((bytes.len() as u64).to_be_bytes());
    h.update(bytes);
}

/// Streams the context as an uncompressed tar, ready for
/// `bollard::body_try_stream(stream)`.
///
/// A thread writes the archive (mtime 0, uid/gid 0, modes kept) into chunks of about
/// 64 KiB sent over a bounded channel, so memory stays flat whatever the context's size.
/// Dropping the stream makes the writer stop with an error at its next chunk.
pub fn tar_stream(
    ctx: BuildContext,
) -> impl futures::Stream<Item = Result<Bytes, io::Error>> + Send + 'static {
    let (mut rx, _writer) = spawn_tar(ctx);
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

type Chunk = Result<Bytes, io::Error>;

fn spawn_tar(
    ctx: BuildContext,
) -> (
    tokio::sync::mpsc::Receiver<Chunk>,
    Option<std::thread::JoinHandle<io::Result<()>>>,
) {
    let (tx, rx) = tokio::sync::mpsc::channel::<Chunk>(QUEUE);
    let spare = tx.clone();
    let spawned = std::thread::Builder::new()
        .name("kubetest-context-tar".to_string())
        .spawn(move || {
            let result = write_tar(&ctx, ChannelWriter::new(tx.clone()));
            if let Err(e) = &result {
                // Tell the reader why the archive stops, if it is still listening.
                let _ = tx.blocking_send(Err(io::Error::new(e.kind(), e.to_string())));
            }
            result
        });
    match spawned {
        Ok(handle) => (rx, Some(handle)),
        Err(e) => {
            let _ = spare.try_send(Err(e));
            (rx, None)
        }
    }
}

fn write_tar(ctx: &BuildContext, out: ChannelWriter) -> io::Result<()> {
    let mut builder = tar::Builder::new(out);
    for f in &ctx.files {
        let mut header = tar::Header::new_gnu();
        header.set_mode(f.mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        let with_path =
            |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", f.abs.display()));
        match &f.kind {
            EntryKind::Dir => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_size(0);
                builder
                    .append_data(&mut header, format!("{}/", f.rel), io::empty())
                    .map_err(with_path)?;
            }
            EntryKind::Symlink(target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_size(0);
                builder
                    .append_link(&mut header, &f.rel, target)
                    .map_err(with_path)?;
            }
            EntryKind::File => {
                let file = std::fs::File::open(&f.abs).map_err(with_path)?;
                // Size at open time: a file that changes afterwards must not corrupt the archive.
                let size = file.metadata().map_err(with_path)?.len();
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(size);
                let reader = ExactReader {
                    inner: file.take(size),
                    remaining: size,
                };
                builder
                    .append_data(&mut header, &f.rel, reader)
                    .map_err(with_path)?;
            }
        }
    }
    let mut out = builder.into_inner()?;
    out.flush()
}

/// Reads exactly `remaining` bytes, failing if the file ends sooner.
struct ExactReader<R> {
    inner: R,
    remaining: u64,
}

impl<R: Read> Read for ExactReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            return Ok(0);
        }
        let n = self.inner.read(buf)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file shrank while being archived",
            ));
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

/// Collects bytes into ~64 KiB chunks and sends them over the bounded channel.
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<Chunk>,
    buf: BytesMut,
}

impl ChannelWriter {
    fn new(tx: tokio::sync::mpsc::Sender<Chunk>) -> Self {
        Self {
            tx,
            buf: BytesMut::with_capacity(CHUNK),
        }
    }

    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = self.buf.split().freeze();
        self.buf.reserve(CHUNK);
        self.tx.blocking_send(Ok(chunk)).map_err(|_| {
            io::Error::new(
                io::ErrorKind::BrokenPipe,
                "build context stream was dropped",
            )
        })
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = CHUNK.saturating_sub(self.buf.len()).max(1);
        let n = data.len().min(room);
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use std::fs;

    fn write(root: &Path, rel: &str, content: &str) {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, content).unwrap();
    }

    fn rels(ctx: &BuildContext) -> Vec<&str> {
        ctx.files.iter().map(|f| f.rel.as_str()).collect()
    }

    fn sample() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        write(r, "Dockerfile", "FROM scratch\nCOPY . /\n");
        write(r, "src/main.rs", "fn main() {}\n");
        write(r, "src/lib.rs", "\n");
        write(r, "vendor/big/a.bin", "aaaa");
        write(r, "vendor/keep/x.txt", "keep me");
        write(r, "notes.md", "notes");
        write(r, "README.md", "readme");
        fs::create_dir_all(r.join("empty")).unwrap();
        write(
            r,
            ".dockerignore",
            "# comment\nvendor\n!vendor/keep\n*.md\n!README.md\nDockerfile\n.dockerignore\n",
        );
        dir
    }

    #[test]
    fn scan_honours_ignore_and_reinclude() {
        let dir = sample();
        let ctx = scan(dir.path(), "Dockerfile").unwrap();
        assert_eq!(
            rels(&ctx),
            [
                ".dockerignore",
                "Dockerfile",
                "README.md",
                "empty",
                "src",
                "src/lib.rs",
                "src/main.rs",
                "vendor",
                "vendor/keep",
                "vendor/keep/x.txt",
            ]
        );
        assert_eq!(ctx.dockerfile, "Dockerfile");
        let dir_entry = ctx.files.iter().find(|f| f.rel == "vendor").unwrap();
        assert_eq!(dir_entry.kind, EntryKind::Dir);
    }

    #[test]
    fn dockerfile_in_excluded_dir_is_still_sent() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "build/Containerfile", "FROM scratch\n");
        write(dir.path(), "build/other", "x");
        write(dir.path(), ".containerignore", "build\n");
        let found = find_dockerfile(dir.path(), Some(Path::new("build/Containerfile"))).unwrap();
        assert!(found.ends_with("build/Containerfile"));
        let ctx = scan(dir.path(), "./build/Containerfile").unwrap();
        assert_eq!(
            rels(&ctx),
            [".containerignore", "build", "build/Containerfile"]
        );
    }

    #[test]
    fn find_dockerfile_autodetects_and_reports() {
        let dir = tempfile::tempdir().unwrap();
        let err = find_dockerfile(dir.path(), None).unwrap_err().to_string();
        assert!(
            err.contains("Containerfile") && err.contains("Dockerfile"),
            "{err}"
        );
        write(dir.path(), "Dockerfile", "FROM scratch\n");
        assert!(find_dockerfile(dir.path(), None)
            .unwrap()
            .ends_with("Dockerfile"));
        write(dir.path(), "Containerfile", "FROM scratch\n");
        assert!(find_dockerfile(dir.path(), None)
            .unwrap()
            .ends_with("Containerfile"));
        let err = find_dockerfile(dir.path(), Some(Path::new("nope"))).unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
        assert!(matches!(
            scan(dir.path(), "../x"),
            Err(ContextError::OutsideContext { .. })
        ));
    }

    fn hash_of(root: &Path) -> String {
        let ctx = scan(root, "Dockerfile").unwrap();
        input_hash(&ctx, &BTreeMap::new(), None, &BTreeMap::new()).unwrap()
    }

    #[test]
    fn hash_tracks_inputs_only() {
        let dir = sample();
        let r = dir.path();
        let base = hash_of(r);
        assert_eq!(base, hash_of(r), "stable across scans");
        assert_eq!(base.len(), 64);

        write(r, "vendor/big/a.bin", "changed but ignored");
        write(r, "notes.md", "also ignored");
        assert_eq!(base, hash_of(r), "ignored files do not count");

        write(r, "src/lib.rs", "//\n");
        let content = hash_of(r);
        assert_ne!(base, content, "content");

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(r.join("src/lib.rs"), fs::Permissions::from_mode(0o755)).unwrap();
            assert_ne!(content, hash_of(r), "mode");
            fs::set_permissions(r.join("src/lib.rs"), fs::Permissions::from_mode(0o644)).unwrap();
            assert_eq!(content, hash_of(r));
        }

        fs::rename(r.join("src/lib.rs"), r.join("src/lib2.rs")).unwrap();
        assert_ne!(content, hash_of(r), "name");

        let ctx = scan(r, "Dockerfile").unwrap();
        let mut args = BTreeMap::new();
        let none = BTreeMap::new();
        let plain = input_hash(&ctx, &args, None, &none).unwrap();
        args.insert("VERSION".to_string(), "1".to_string());
        let with_arg = input_hash(&ctx, &args, None, &none).unwrap();
        assert_ne!(plain, with_arg);
        assert_ne!(
            with_arg,
            input_hash(&ctx, &args, Some("prod"), &none).unwrap()
        );
        let labelled = input_hash(&ctx, &args, None, &args).unwrap();
        assert_ne!(with_arg, labelled, "labels");
    }

    async fn collect(ctx: BuildContext) -> Vec<u8> {
        let mut out = Vec::new();
        let mut stream = Box::pin(tar_stream(ctx));
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.unwrap();
            assert!(chunk.len() <= CHUNK);
            out.extend_from_slice(&chunk);
        }
        out
    }

    #[tokio::test]
    async fn tar_unpacks_to_the_scanned_set() {
        let dir = sample();
        #[cfg(unix)]
        std::os::unix::fs::symlink("src/main.rs", dir.path().join("link")).unwrap();
        let long = format!("{}/file.txt", "d".repeat(120));
        write(dir.path(), &long, "long path");
        let ctx = scan(dir.path(), "Dockerfile").unwrap();
        let bytes = collect(ctx.clone()).await;
        let mut archive = tar::Archive::new(&bytes[..]);
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let path = entry
                .path()
                .unwrap()
                .to_string_lossy()
                .trim_end_matches('/')
                .to_string();
            let header = entry.header().clone();
            assert_eq!(header.mtime().unwrap(), 0);
            assert_eq!(header.uid().unwrap(), 0);
            let scanned = ctx.files.iter().find(|f| f.rel == path).unwrap();
            assert_eq!(header.mode().unwrap(), scanned.mode, "{path}");
            match &scanned.kind {
                EntryKind::File => {
                    let mut content = Vec::new();
                    entry.read_to_end(&mut content).unwrap();
                    assert_eq!(content, fs::read(&scanned.abs).unwrap());
                }
                EntryKind::Dir => assert!(header.entry_type().is_dir()),
                EntryKind::Symlink(t) => {
                    assert_eq!(entry.link_name().unwrap().unwrap().as_ref(), t.as_path());
                }
            }
            seen.push(path);
        }
        assert_eq!(seen, rels(&ctx));
    }

    #[tokio::test]
    async fn dropped_stream_stops_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "Dockerfile", "FROM scratch\n");
        for i in 0..16 {
            fs::write(dir.path().join(format!("f{i}")), vec![7u8; 256 * 1024]).unwrap();
        }
        let ctx = scan(dir.path(), "Dockerfile").unwrap();
        let (mut rx, handle) = spawn_tar(ctx);
        assert!(rx.recv().await.unwrap().is_ok());
        drop(rx);
        let handle = handle.unwrap();
        let joined = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            tokio::task::spawn_blocking(move || handle.join()),
        )
        .await
        .expect("writer thread did not stop")
        .unwrap()
        .expect("writer thread panicked");
        assert_eq!(joined.unwrap_err().kind(), io::ErrorKind::BrokenPipe);

        // And the public stream: take one chunk, drop it, nothing hangs or panics.
        let ctx = scan(dir.path(), "Dockerfile").unwrap();
        let mut stream = Box::pin(tar_stream(ctx));
        assert!(stream.next().await.unwrap().is_ok());
        drop(stream);
    }

    #[tokio::test]
    async fn missing_file_surfaces_as_stream_error() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "Dockerfile", "FROM scratch\n");
        write(dir.path(), "gone", "x");
        let ctx = scan(dir.path(), "Dockerfile").unwrap();
        fs::remove_file(dir.path().join("gone")).unwrap();
        let mut stream = Box::pin(tar_stream(ctx));
        let mut err = None;
        while let Some(item) = stream.next().await {
            if let Err(e) = item {
                err = Some(e);
            }
        }
        assert!(err.unwrap().to_string().contains("gone"));
    }
}
