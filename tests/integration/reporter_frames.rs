//! The interactive reporter with ticking on, frame by frame, through a virtual terminal.
//!
//! The reporter runs in a child process (this test binary again) whose stdout and stderr are a
//! real pseudo-terminal, chosen by `make_reporter` exactly as `kubetest` chooses it. Every byte
//! the child writes to either stream — indicatif's bars, its `println` lines, and anything a
//! progress bar draws before it joins the `MultiProgress` — is read from the pty and fed into a
//! `vt100` parser; the screen after each read is one frame.

use kubetest::events::{Events, Stamped};
use kubetest::report::{make_reporter, OutputMode, Terminal, Verbosity};
use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Command, Stdio};
use std::time::Duration;

const ROWS: u16 = 50;
const COLS: u16 = 140;
const CHILD_ENV: &str = "KUBETEST_FRAMES_CHILD";

/// What the child showed: the final screen and every frame before it.
struct Frames {
    frames: Vec<Vec<String>>,
}

impl Frames {
    fn last(&self) -> &[String] {
        self.frames.last().map(Vec::as_slice).unwrap_or(&[])
    }
}

fn screen_rows(screen: &vt100::Screen) -> Vec<String> {
    let mut rows: Vec<String> = screen
        .rows(0, COLS)
        .map(|l| l.trim_end().to_owned())
        .collect();
    while rows.last().is_some_and(String::is_empty) {
        rows.pop();
    }
    rows
}

/// Run the replay of `events` (JSON lines) in a child on a pty of ROWS×COLS; collect frames.
fn on_pty(events: &str) -> Frames {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.jsonl");
    std::fs::write(&file, events).unwrap();
    let (mut master, slave) = openpty();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "reporter_frames::replay_child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
            "--quiet",
        ])
        .env(CHILD_ENV, &file)
        .env("TERM", "xterm-256color")
        .env("NO_COLOR", "1")
        .env_remove("CI")
        .stdin(Stdio::null())
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::from(slave))
        .spawn()
        .unwrap();
    let mut parser = vt100::Parser::new(ROWS, COLS, 0);
    let mut frames: Vec<Vec<String>> = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match master.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                parser.process(&buf[..n]);
                let rows = screen_rows(parser.screen());
                if frames.last() != Some(&rows) {
                    frames.push(rows);
                }
            }
            // Linux: EIO once every slave descriptor is closed (the child exited).
            Err(_) => break,
        }
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "replay child failed: {:?}", frames.last());
    Frames { frames }
}

fn openpty() -> (std::fs::File, OwnedFd) {
    let (mut master, mut slave) = (-1, -1);
    let size = libc::winsize {
        ws_row: ROWS,
        ws_col: COLS,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: openpty writes two descriptors into the out-pointers; the name and termios
    // pointers may be null; `size` outlives the call.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &size,
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just opened and are owned by nobody else.
    unsafe {
        (
            std::fs::File::from_raw_fd(master),
            OwnedFd::from_raw_fd(slave),
        )
    }
}

/// The child's side: replay the events through the reporter `kubetest` would pick on this
/// terminal, at their recorded pace (halved), ticking on.
#[test]
fn replay_child() {
    let Some(file) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let text = std::fs::read_to_string(file).unwrap();
    let term = Terminal::detect(kubetest::report::ColorChoice::Auto);
    assert!(term.interactive(), "the child's stdout is a terminal");
    let events = Events::new(make_reporter(OutputMode::Auto, Verbosity::Normal, term));
    let mut at = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let ev: Stamped = serde_json::from_str(line).unwrap();
        std::thread::sleep(Duration::from_millis(ev.at_ms.saturating_sub(at) / 2));
        at = ev.at_ms;
        events.emit(ev.event);
    }
    // A ticker still running would draw within a few ticks.
    std::thread::sleep(Duration::from_millis(400));
}

const SPINNER: &[char] = &['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/// Rows with a spinner frame on them: live (or frozen) progress lines.
fn spinner_rows(rows: &[String]) -> Vec<String> {
    rows.iter()
        .filter(|r| r.contains(SPINNER))
        .cloned()
        .collect()
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(crate::support::root().join("fixtures/events").join(name)).unwrap()
}

fn assert_clean_end(frames: &Frames, command: &str) {
    let rows = frames.last();
    let stale = spinner_rows(rows);
    assert!(
        stale.is_empty(),
        "{} stale spinner line(s) after the summary: {stale:#?}\nscreen:\n{}",
        stale.len(),
        rows.join("\n")
    );
    assert!(
        rows.iter()
            .any(|r| r.starts_with(&format!("summary of `kubetest {command}`"))),
        "no summary on the screen:\n{}",
        rows.join("\n")
    );
}

#[test]
fn build_failure_leaves_no_spinner_line_with_ticking_on() {
    let frames = on_pty(&fixture("up-build-failure.jsonl"));
    assert!(
        frames
            .frames
            .iter()
            .any(|f| f.iter().any(|r| r.contains("STEP 2/3: RUN make"))),
        "a frame showed the build's current step"
    );
    assert_clean_end(&frames, "up");
}

/// No two frames in a row show two live lines for one phase or task (a stale copy of a
/// line). One frame alone may: a read of the pty can end in the middle of a redraw.
fn assert_no_duplicate_live_lines(frames: &Frames) {
    let twice = |f: &[String]| -> Vec<String> {
        let mut names: Vec<String> = spinner_rows(f)
            .iter()
            .filter_map(|r| r.split_whitespace().nth(1).map(str::to_owned))
            .collect();
        names.sort();
        let mut dups: Vec<String> = names
            .windows(2)
            .filter(|w| w[0] == w[1])
            .map(|w| w[0].clone())
            .collect();
        dups.dedup();
        dups
    };
    for pair in frames.frames.windows(2) {
        let (a, b) = (twice(&pair[0]), twice(&pair[1]));
        let both: Vec<&String> = a.iter().filter(|n| b.contains(n)).collect();
        assert!(
            both.is_empty(),
            "a live line twice ({both:?}):\n{}",
            pair[1].join("\n")
        );
    }
}

/// Every distinct live line of every frame, in order.
fn live_lines(frames: &Frames) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for f in &frames.frames {
        for r in spinner_rows(f) {
            let r = r.trim_end().to_owned();
            if !out.contains(&r) {
                out.push(r);
            }
        }
    }
    out
}

fn any_frame(frames: &Frames, want: &str) -> bool {
    frames
        .frames
        .iter()
        .any(|f| f.iter().any(|r| r.contains(SPINNER) && r.contains(want)))
}

#[test]
fn up_shows_kinds_steps_and_wait_counts_then_ends_clean() {
    let frames = on_pty(&fixture("up-ready.jsonl"));
    for want in [
        "kind cluster demo kind: Preparing nodes",
        "kind cluster demo kind: Installing CNI",
        "demo/app=web 0/2 ready, 2m59s left · watching pods app=web",
        "demo/app=web 0/2 ready, 2m59s left · demo/web-7d4b9c6f5-b2 Pending (ContainerCreating)",
        "demo/app=web 1/2 ready, 2m5",
        "demo/app=worker 0/1 ready, 2m59s left",
    ] {
        assert!(
            any_frame(&frames, want),
            "no live line with `{want}` in any of {} frames; the live lines seen:\n{}",
            frames.frames.len(),
            live_lines(&frames).join("\n")
        );
    }
    assert_no_duplicate_live_lines(&frames);
    assert_clean_end(&frames, "up");
    let rows = frames.last();
    assert!(
        rows.iter().any(|r| r.contains("✔ ready demo/app=web ok")),
        "{}",
        rows.join("\n")
    );
}

#[test]
fn run_shows_eventually_attempts_then_ends_clean() {
    let frames = on_pty(&fixture("run-eventually.jsonl"));
    for want in [
        "web-works counter reaches 3: attempt 1, last: body JSON .count: expected 3, found 1",
        "web-works counter reaches 3: attempt 3, last: connection refused (127.0.0.1:18080)",
    ] {
        assert!(
            any_frame(&frames, want),
            "no live line with `{want}`; last:\n{}",
            frames.last().join("\n")
        );
    }
    assert_no_duplicate_live_lines(&frames);
    assert_clean_end(&frames, "run");
    let rows = frames.last().join("\n");
    for want in [
        "scenarios web-fails: failure bundle in .kubetest/artifacts/run-1795000000000/web-fails",
        "scenarios: 2 scenarios: 1 passed, 1 failed, 0 flaky, 0 not run",
    ] {
        assert!(rows.contains(want), "missing `{want}`:\n{rows}");
    }
}
