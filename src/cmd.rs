//! The one way kubetest runs external programs (kind, podman machine): an argv, never a
//! shell string; stdout, stderr and the exit status are captured and carried into errors,
//! and each line can be handed to a callback the moment the program prints it.

use futures::StreamExt;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

/// A command to run.
#[derive(Debug, Clone)]
pub struct Cmd {
    program: PathBuf,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    timeout: Option<Duration>,
    /// Written to the program's standard input, which is then closed; none: `/dev/null`.
    stdin: Option<Vec<u8>>,
}

/// What a finished command printed and how it exited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// `None` when killed by a signal.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Which stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Output {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CmdError {
    #[error("`{program}` was not found on PATH")]
    NotFound { program: String },
    #[error("cannot start `{cmdline}`: {source}")]
    Spawn {
        cmdline: String,
        source: std::io::Error,
    },
    #[error("`{cmdline}` failed ({})\n{}", exit_text(*code), streams(stdout, stderr))]
    Failed {
        cmdline: String,
        code: Option<i32>,
        stdout: String,
        stderr: String,
    },
    #[error("`{cmdline}` did not finish within {} and was killed", humantime::format_duration(*after))]
    TimedOut { cmdline: String, after: Duration },
}

fn exit_text(code: Option<i32>) -> String {
    match code {
        Some(c) => format!("exit code {c}"),
        None => "killed by a signal".to_owned(),
    }
}

fn streams(stdout: &str, stderr: &str) -> String {
    let mut s = String::new();
    for (name, text) in [("stderr", stderr), ("stdout", stdout)] {
        let t = text.trim_end();
        if !t.is_empty() {
            s.push_str(&format!("--- {name} ---\n{t}\n"));
        }
    }
    if s.is_empty() {
        s.push_str("(no output)");
    }
    s.trim_end().to_owned()
}

impl Cmd {
    pub fn new(program: impl AsRef<Path>) -> Self {
        Self {
            program: program.as_ref().to_path_buf(),
            args: Vec::new(),
            env: Vec::new(),
            timeout: None,
            stdin: None,
        }
    }

    pub fn arg(mut self, a: impl AsRef<OsStr>) -> Self {
        self.args.push(a.as_ref().to_owned());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    pub fn env(mut self, k: impl AsRef<OsStr>, v: impl AsRef<OsStr>) -> Self {
        self.env
            .push((k.as_ref().to_owned(), v.as_ref().to_owned()));
        self
    }

    /// Feed `bytes` to the program's standard input (e.g. a credential helper's server name).
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(bytes.into());
        self
    }

    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = Some(t);
        self
    }

    /// The command as a user would type it (for messages), with its extra environment.
    pub fn cmdline(&self) -> String {
        let mut parts: Vec<String> = self
            .env
            .iter()
            .map(|(k, v)| format!("{}={}", k.to_string_lossy(), quote(&v.to_string_lossy())))
            .collect();
        parts.push(quote(&self.program.to_string_lossy()));
        parts.extend(self.args.iter().map(|a| quote(&a.to_string_lossy())));
        parts.join(" ")
    }

    /// Run to completion; a non-zero exit is an `Ok` output (the caller decides).
    pub async fn output(&self) -> Result<Output, CmdError> {
        self.output_with_lines(|_, _| {}).await
    }

    /// Like [`Self::output`], and each line (without its end) goes to `on_line` as soon as the
    /// program has printed it, while both streams are still captured whole.
    pub async fn output_with_lines(
        &self,
        mut on_line: impl FnMut(Stream, &str),
    ) -> Result<Output, CmdError> {
        let mut c = tokio::process::Command::new(&self.program);
        c.args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = c.spawn().map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                CmdError::NotFound {
                    program: self.program.display().to_string(),
                }
            } else {
                CmdError::Spawn {
                    cmdline: self.cmdline(),
                    source: e,
                }
            }
        })?;
        let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
        let input = child.stdin.take().zip(self.stdin.clone());
        let work = async {
            if let Some((mut pipe, bytes)) = input {
                use tokio::io::AsyncWriteExt;
                // A program that exits without reading its input closes the pipe: not an error
                // of ours; its exit status says what happened.
                let _ = pipe.write_all(&bytes).await;
                drop(pipe);
            }
            let streams = read_lines(stdout, stderr, &mut on_line).await?;
            let status = child.wait().await?;
            Ok::<_, std::io::Error>((status, streams))
        };
        let (status, (stdout, stderr)) = match self.timeout {
            Some(t) => tokio::time::timeout(t, work)
                .await
                .map_err(|_| CmdError::TimedOut {
                    cmdline: self.cmdline(),
                    after: t,
                })?,
            None => work.await,
        }
        .map_err(|e| CmdError::Spawn {
            cmdline: self.cmdline(),
            source: e,
        })?;
        Ok(Output {
            code: status.code(),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        })
    }

    /// Run; a non-zero exit is [`CmdError::Failed`] carrying both streams.
    pub async fn run(&self) -> Result<Output, CmdError> {
        self.run_with_lines(|_, _| {}).await
    }

    /// [`Self::run`] with each line handed to `on_line` as it is printed.
    pub async fn run_with_lines(
        &self,
        on_line: impl FnMut(Stream, &str),
    ) -> Result<Output, CmdError> {
        let out = self.output_with_lines(on_line).await?;
        if out.success() {
            Ok(out)
        } else {
            Err(CmdError::Failed {
                cmdline: self.cmdline(),
                code: out.code,
                stdout: out.stdout,
                stderr: out.stderr,
            })
        }
    }
}

/// Read both pipes to their end at once, line by line; returns everything read.
async fn read_lines(
    stdout: Option<impl AsyncRead + Unpin>,
    stderr: Option<impl AsyncRead + Unpin>,
    on_line: &mut impl FnMut(Stream, &str),
) -> std::io::Result<(Vec<u8>, Vec<u8>)> {
    let both =
        futures::stream::select(lines(stdout, Stream::Stdout), lines(stderr, Stream::Stderr));
    let mut both = std::pin::pin!(both);
    let (mut all_out, mut all_err) = (Vec::new(), Vec::new());
    while let Some(item) = both.next().await {
        let (which, line) = item?;
        let text = String::from_utf8_lossy(&line);
        on_line(which, text.trim_end_matches(['\n', '\r']));
        match which {
            Stream::Stdout => all_out.extend_from_slice(&line),
            Stream::Stderr => all_err.extend_from_slice(&line),
        }
    }
    Ok((all_out, all_err))
}

/// The lines of one pipe (each with its `\n`, the last one perhaps without).
fn lines(
    pipe: Option<impl AsyncRead + Unpin>,
    which: Stream,
) -> impl futures::Stream<Item = std::io::Result<(Stream, Vec<u8>)>> {
    futures::stream::unfold(pipe.map(BufReader::new), move |reader| async move {
        let mut reader = reader?;
        let mut line = Vec::new();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) => None,
            Ok(_) => Some((Ok((which, line)), Some(reader))),
            Err(e) => Some((Err(e), None)),
        }
    })
}

impl fmt::Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.cmdline())
    }
}

/// Quote for display the way a POSIX shell would need it.
fn quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@%+".contains(c))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn captures_streams_and_exit_code() {
        let out = Cmd::new("sh")
            .args(["-c", "echo out; echo err >&2; exit 3"])
            .output()
            .await
            .unwrap();
        assert_eq!(
            (out.code, out.stdout.as_str(), out.stderr.as_str()),
            (Some(3), "out\n", "err\n")
        );
        let err = Cmd::new("sh")
            .args(["-c", "echo 'ERROR: boom' >&2; exit 1"])
            .env("A", "b c")
            .run()
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with(
                "`A='b c' sh -c 'echo '\\''ERROR: boom'\\'' >&2; exit 1'` failed (exit code 1)"
            ),
            "{text}"
        );
        assert!(text.contains("--- stderr ---\nERROR: boom"), "{text}");
    }

    #[tokio::test]
    async fn lines_arrive_while_the_program_runs() {
        let started = std::time::Instant::now();
        let mut seen = Vec::new();
        let out = Cmd::new("sh")
            .args([
                "-c",
                "echo one >&2; echo out; sleep 0.5; printf 'two\\r\\nlast' >&2",
            ])
            .run_with_lines(|which, line| seen.push((which, line.to_owned(), started.elapsed())))
            .await
            .unwrap();
        let lines: Vec<(Stream, &str)> = seen.iter().map(|(w, l, _)| (*w, l.as_str())).collect();
        assert!(
            lines.contains(&(Stream::Stderr, "one")) && lines.contains(&(Stream::Stdout, "out"))
        );
        assert_eq!(
            lines[2..],
            [(Stream::Stderr, "two"), (Stream::Stderr, "last")]
        );
        let first = seen.iter().find(|(_, l, _)| l == "one").unwrap().2;
        let later = seen.iter().find(|(_, l, _)| l == "two").unwrap().2;
        assert!(
            later >= first + Duration::from_millis(400),
            "`one` came as printed ({first:?}), not at the end ({later:?})"
        );
        assert_eq!(
            (out.stdout.as_str(), out.stderr.as_str()),
            ("out\n", "one\ntwo\r\nlast")
        );
        // Failures still carry everything printed.
        let err = Cmd::new("sh")
            .args(["-c", "echo progress >&2; echo 'ERROR: boom' >&2; exit 1"])
            .run_with_lines(|_, _| {})
            .await
            .unwrap_err();
        assert!(err.to_string().contains("progress\nERROR: boom"), "{err}");
    }

    #[tokio::test]
    async fn missing_program_and_timeout() {
        let err = Cmd::new("kubetest-no-such-program")
            .output()
            .await
            .unwrap_err();
        assert!(matches!(err, CmdError::NotFound { .. }), "{err}");
        let err = Cmd::new("sleep")
            .arg("5")
            .timeout(Duration::from_millis(100))
            .output()
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("did not finish within 100ms and was killed"),
            "{err}"
        );
    }
}
