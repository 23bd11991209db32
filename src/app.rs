//! From parsed arguments to an exit code: pick the reporter, load the config, dispatch, summarise.

use crate::cli::{Cli, Command};
use crate::commands::doctor::DoctorReport;
use crate::doctor::checks::Status;
use crate::doctor::failure::explain_failure;
use crate::events::{Event, Events, Outcome};
use crate::exit::{self, Stop};
use crate::report::{
    make_reporter, render_checks, render_checks_json, render_explanation, render_hint, OutputMode,
    Palette, Terminal, Verbosity,
};
use crate::{commands, config, Session};
use anyhow::Context;
use clap::CommandFactory;
use std::io::Write;
use tokio_util::sync::CancellationToken;

/// Run one command; returns the process exit code. Errors are printed here, once.
pub async fn run(cli: Cli, cancel: CancellationToken) -> i32 {
    let term = Terminal::detect();
    console::set_colors_enabled(term.color());
    let output = match (&cli.command, cli.output) {
        (Command::Doctor(d), _) if d.json => OutputMode::Json,
        (_, o) => o,
    };

    let name = command_name(&cli.command);
    if let Command::Completions { shell } = &cli.command {
        let mut cmd = Cli::command();
        clap_complete::generate(*shell, &mut cmd, "kubetest", &mut std::io::stdout());
        return exit::OK;
    }

    let palette = Palette::new(term.color());
    let events = Events::new(make_reporter(
        output,
        Verbosity::from_flags(cli.verbose, cli.quiet),
        term,
    ));
    let session = Session {
        events: events.clone(),
        cancel,
    };
    let result = dispatch(&session, &cli, output, &palette).await;
    // `doctor`, `status` and `logs` print their answer as the whole result (no phases, no
    // summary line): their output is what a script reads.
    if let Ok(Some(code)) = &result {
        return *code;
    }
    let code = match &result {
        Ok(_) => exit::OK,
        Err(e) => exit::code_for(e),
    };
    let outcome = match code {
        exit::OK => Outcome::Ok,
        exit::INTERRUPTED => Outcome::Cancelled,
        _ => Outcome::Failed,
    };
    events.emit(Event::CommandFinished {
        command: name.to_owned(),
        outcome,
        exit_code: code,
        elapsed_ms: events.elapsed_ms(),
        phases: events.phase_summaries(),
        scenarios: events.scenario_counts(),
        bundles: events.bundles(),
        error: result.as_ref().err().map(|e| format!("{e:#}")),
    });
    if let Err(e) = &result {
        print_error(e, code, &palette);
    }
    code
}

/// Runs the command; `Some(code)` when the command printed its own result and exits with
/// `code` (doctor), `None` when the usual summary follows.
async fn dispatch(
    session: &Session,
    cli: &Cli,
    output: OutputMode,
    palette: &Palette,
) -> anyhow::Result<Option<i32>> {
    if let Command::Doctor(args) = &cli.command {
        let report = commands::doctor::doctor(session, args, &cli.file).await?;
        let (text, code) = match (&report, output) {
            (DoctorReport::Explanation(c), OutputMode::Json) => {
                (serde_json::to_string(c)? + "\n", exit::OK)
            }
            (DoctorReport::Explanation(c), _) => {
                let mut text = render_explanation(&c.classification, palette);
                if let Some(live) = &c.live {
                    text.push_str("live check on this machine:\n");
                    text.push_str(&render_checks(std::slice::from_ref(live), palette));
                }
                (text, exit::OK)
            }
            (DoctorReport::Checks(r), mode) => {
                let code = if r.iter().any(|c| c.status == Status::Fail) {
                    exit::INFRA
                } else {
                    exit::OK
                };
                let text = match mode {
                    OutputMode::Json => render_checks_json(r),
                    _ => render_checks(r, palette),
                };
                (text, code)
            }
        };
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .context("cannot write to standard output")?;
        return Ok(Some(code));
    }
    let mut loaded = config::load(&cli.file)?;
    if let Some(url) = &cli.engine {
        loaded.config.engine.host = Some(url.clone());
        loaded.config.engine.host_source = Some("--engine".to_owned());
    }
    loaded.config.cluster.run_id = cli.run_id.clone();
    register_secrets(&loaded.config);
    match &cli.command {
        Command::Status => {
            return commands::status::status(&loaded, output, palette)
                .await
                .map(Some)
        }
        Command::Logs(a) => {
            return commands::logs::logs(session, &loaded, a, output)
                .await
                .map(|()| Some(exit::OK))
        }
        _ => {}
    }
    session.events.emit(Event::CommandStarted {
        command: command_name(&cli.command).to_owned(),
        environment: loaded.config.name.clone(),
        config: loaded.path.display().to_string(),
    });
    match &cli.command {
        Command::Up(a) => commands::up::up(session, &loaded, a).await,
        Command::Run(a) => commands::run::run(session, &loaded, a).await,
        Command::Down(a) => commands::down::down(session, &loaded, a).await,
        Command::Doctor(_) | Command::Completions { .. } | Command::Status | Command::Logs(_) => {
            Err(Stop::Usage("internal: command dispatched twice".into()).into())
        }
    }
    .map(|()| None)
}

/// Values of secret-looking env keys of the dependencies and the setup steps: masked in every
/// event, error and bundle from here on (see `crate::secrets`).
fn register_secrets(c: &config::Config) {
    let deps = c.dependencies.values().flat_map(|d| d.env.iter());
    let setup = c
        .setup
        .iter()
        .filter_map(|s| s.run.as_ref())
        .flat_map(|r| r.env.iter());
    crate::secrets::register(deps.chain(setup).map(|(k, v)| (k.as_str(), v.as_str())));
}

fn command_name(c: &Command) -> &'static str {
    match c {
        Command::Up(_) => "up",
        Command::Run(_) => "run",
        Command::Down(_) => "down",
        Command::Doctor(_) => "doctor",
        Command::Status => "status",
        Command::Logs(_) => "logs",
        Command::Completions { .. } => "completions",
    }
}

/// The error once, on stderr: the outermost message, then each cause on its own line, then
/// for infrastructure failures the likely cause and fix that `doctor` would name.
fn print_error(e: &anyhow::Error, code: i32, palette: &Palette) {
    let mut err = std::io::stderr().lock();
    let mask = |t: String| crate::secrets::mask(&t).into_owned();
    let _ = writeln!(
        err,
        "{} {}",
        palette.fail.apply_to("error:"),
        mask(e.to_string())
    );
    for cause in e.chain().skip(1) {
        let _ = writeln!(err, "  caused by: {}", mask(cause.to_string()));
    }
    if code == exit::INFRA {
        if let Some(hint) = render_hint(&explain_failure(e), palette) {
            let _ = writeln!(err, "{hint}");
        }
    }
}
