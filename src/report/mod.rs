//! Reporters: how events look. Interactive progress bars, plain lines, JSON lines; the event
//! log `kubetest report` reads.

mod checks;
mod explain;
mod github;
mod interactive;
mod json;
mod junit;
mod plain;
mod record;
mod style;
mod summary;

pub use checks::{render_checks, render_checks_json, render_problem_checks};
pub use explain::{render_explanation, render_hint};
pub use github::render_annotations;
pub use interactive::InteractiveReporter;
pub use json::JsonReporter;
pub use junit::{render_junit, steps_text};
pub use plain::PlainReporter;
pub use record::{
    events_dir, parse as parse_recording, read as read_recording, recordings, EventLog,
    RecordError, Recorded, Recording,
};
pub use style::{secs, Palette, Verbosity};
pub use summary::render_summary;

use crate::events::Reporter;
use std::io::IsTerminal;

/// What the user asked for with `--output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputMode {
    /// Progress bars on a terminal; plain lines in CI, when piped, or with TERM=dumb.
    Auto,
    /// One line per event.
    Plain,
    /// One JSON object per event (JSON lines) on stdout.
    Json,
}

/// What the user asked for with `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ColorChoice {
    /// Colour on a terminal, unless `NO_COLOR` is set or `TERM=dumb`.
    #[default]
    Auto,
    /// Always colour, even when piped or with `NO_COLOR`.
    Always,
    /// Never colour.
    Never,
}

/// Facts about where output goes, read once from the process environment.
#[derive(Debug, Clone, Copy)]
pub struct Terminal {
    pub is_tty: bool,
    pub ci: bool,
    pub no_color: bool,
    pub dumb: bool,
    pub color_choice: ColorChoice,
}

impl Terminal {
    pub fn detect(color_choice: ColorChoice) -> Self {
        let env_set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
        Self {
            is_tty: std::io::stdout().is_terminal(),
            ci: std::env::var("CI").is_ok_and(|v| v != "false" && v != "0" && !v.is_empty()),
            no_color: env_set("NO_COLOR"),
            dumb: std::env::var("TERM").is_ok_and(|t| t == "dumb"),
            color_choice,
        }
    }

    pub fn interactive(&self) -> bool {
        self.is_tty && !self.ci && !self.dumb
    }

    pub fn color(&self) -> bool {
        match self.color_choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => self.is_tty && !self.no_color && !self.dumb,
        }
    }
}

/// The reporter for this run, writing to stdout.
pub fn make_reporter(mode: OutputMode, verbosity: Verbosity, term: Terminal) -> Box<dyn Reporter> {
    let palette = Palette::new(term.color());
    match mode {
        OutputMode::Json => Box::new(JsonReporter::new(Box::new(std::io::stdout()))),
        OutputMode::Plain => Box::new(PlainReporter::new(
            Box::new(std::io::stdout()),
            verbosity,
            palette,
        )),
        OutputMode::Auto if term.interactive() => Box::new(InteractiveReporter::new(
            indicatif::ProgressDrawTarget::stdout(),
            verbosity,
            palette,
        )),
        OutputMode::Auto => Box::new(PlainReporter::new(
            Box::new(std::io::stdout()),
            verbosity,
            palette,
        )),
    }
}
