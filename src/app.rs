//! From parsed arguments to an exit code: pick the reporter, load the config, dispatch, summarise.

use crate::cli::{Cli, Command};
use crate::commands::doctor::DoctorReport;
use crate::doctor::checks::Status;
use crate::doctor::failure::explain_failure;
use crate::events::{Event, Events, Outcome};
use crate::exit::{self, Stop};
use crate::report::{
    events_dir, make_reporter, render_checks, render_checks_json, render_explanation, render_hint,
    render_problem_checks, EventLog, OutputMode, Palette, Recording, Terminal, Verbosity,
};
use crate::{commands, config, Session};
use anyhow::Context;
use std::io::Write;
use tokio_util::sync::CancellationToken;

/// Run one command; returns the process exit code. Errors are printed here, once.
pub async fn run(cli: Cli, cancel: CancellationToken) -> i32 {
    let term = Terminal::detect(cli.color);
    console::set_colors_enabled(term.color());
    let output = match (&cli.command, cli.output) {
        (Command::Doctor(d), _) if d.json => OutputMode::Json,
        (_, o) => o,
    };

    let name = command_name(&cli.command);
    if let Command::Completions { shell } = &cli.command {
        let mut cmd = crate::cli::command();
        clap_complete::generate(*shell, &mut cmd, "kubetest", &mut std::io::stdout());
        return exit::OK;
    }

    let palette = Palette::new(term.color());
    // Every event of `up`, `run` and `down` is also recorded for `kubetest report`.
    let log = EventLog::new();
    let events = Events::new(Box::new(Recording::new(
        make_reporter(output, Verbosity::from_flags(cli.verbose, cli.quiet), term),
        log.clone(),
    )));
    let session = Session {
        events: events.clone(),
        cancel,
    };
    let result = dispatch(&session, &cli, output, &palette, &log).await;
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
    if let Err(e) = write_requested_report(&cli, &log) {
        print_error(&e, exit::OK, &palette);
    }
    code
}

/// `up --report FILE` / `run --report FILE`: the page from what was just recorded.
fn write_requested_report(cli: &Cli, log: &EventLog) -> anyhow::Result<()> {
    let file = match &cli.command {
        Command::Up(a) => a.report.as_ref(),
        Command::Run(a) => a.report.as_ref(),
        _ => None,
    };
    let Some(file) = file else {
        return Ok(());
    };
    let Some(recording) = log.path() else {
        anyhow::bail!(
            "no report written to {}: the events of this command were not recorded",
            file.display()
        );
    };
    let environment = crate::report::read_recording(&recording)?
        .into_iter()
        .find_map(|e| match e.event {
            Event::CommandStarted { environment, .. } => Some(environment),
            _ => None,
        })
        .unwrap_or_default();
    let dir = recording.parent().unwrap_or(std::path::Path::new("."));
    commands::report::write_page(dir, &environment, file)?;
    Ok(())
}

/// Runs the command; `Some(code)` when the command printed its own result and exits with
/// `code` (doctor), `None` when the usual summary follows.
async fn dispatch(
    session: &Session,
    cli: &Cli,
    output: OutputMode,
    palette: &Palette,
    log: &EventLog,
) -> anyhow::Result<Option<i32>> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let env_file = std::env::var(config::discover::ENV_VAR).ok();
    let (file, source) = config::discover::discover(cli.file.as_deref(), env_file.as_deref(), &cwd);
    if let Command::Doctor(args) = &cli.command {
        let report = commands::doctor::doctor(session, args, &file).await?;
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
                    _ if cli.quiet => render_problem_checks(r, palette),
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
    if let Command::Init(args) = &cli.command {
        // init writes a new file: `-f` or ./kubetest.yaml, never one found in a parent.
        let init_target = cli
            .file
            .clone()
            .unwrap_or_else(|| config::discover::FILE_NAME.into());
        let report = commands::init::init(args, &init_target)?;
        let text = match output {
            OutputMode::Json => serde_json::to_string(&report)? + "\n",
            _ if cli.quiet => String::new(),
            _ => commands::init::render_report(&report),
        };
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .context("cannot write to standard output")?;
        return Ok(Some(exit::OK));
    }
    let announce = || {
        session.events.emit(Event::ConfigFound {
            path: shown_path(&file, &cwd),
            source: source.as_str().to_owned(),
        })
    };
    if let Command::Validate = &cli.command {
        announce();
        return commands::validate::validate(session, &file).map(|()| None);
    }
    let mut loaded = config::load(&file)?;
    if let Some(url) = &cli.engine {
        loaded.config.engine.host = Some(url.clone());
        loaded.config.engine.host_source = Some("--engine".to_owned());
    }
    choose_cluster_target(&mut loaded, cli.cluster_target.as_deref())?;
    loaded.config.cluster.run_id = cli.run_id.clone();
    register_secrets(&loaded.config);
    match &cli.command {
        Command::Status => {
            return commands::status::status(&loaded, output, cli.quiet, palette)
                .await
                .map(Some)
        }
        Command::Logs(a) => {
            return commands::logs::logs(session, &loaded, a, output)
                .await
                .map(|()| Some(exit::OK))
        }
        Command::Report(a) => {
            let path = commands::report::report(&loaded, a).await?;
            let mut out = std::io::stdout().lock();
            writeln!(out, "report written to {}", path.display())
                .and_then(|()| out.flush())
                .context("cannot write to standard output")?;
            return Ok(Some(exit::OK));
        }
        Command::Run(a) if a.list => {
            return commands::run::list(&loaded, a, output).map(|()| Some(exit::OK))
        }
        _ => {}
    }
    // `up` makes the state directory; `run` and `down` record only where an environment is.
    let state_dir = crate::plan::Plan::from_config(&loaded).state_dir;
    if matches!(cli.command, Command::Up(_)) || state_dir.is_dir() {
        let name = command_name(&cli.command);
        if let Err(e) = log.open(
            &events_dir(&state_dir),
            name,
            session.events.start_unix_ms(),
        ) {
            session.events.warn(
                None,
                format!("{e}; `kubetest report` will not show this {name}"),
            );
        }
    }
    // Announced after the event log opened, so the recording is the stream the command printed.
    // Commands whose output is their answer (status, logs, run --list, report) returned above.
    announce();
    session.events.emit(Event::CommandStarted {
        command: command_name(&cli.command).to_owned(),
        environment: loaded.config.name.clone(),
        config: loaded.path.display().to_string(),
    });
    match &cli.command {
        Command::Up(a) => {
            commands::up::up(session, &loaded, a).await?;
            if a.run {
                commands::run::run(session, &loaded, &Default::default()).await?;
            }
            Ok(())
        }
        Command::Run(a) => commands::run::run(session, &loaded, a).await,
        Command::Down(a) => commands::down::down(session, &loaded, a).await,
        Command::Gc(a) => commands::gc::gc(session, &loaded, a).await,
        Command::Doctor(_)
        | Command::Completions { .. }
        | Command::Status
        | Command::Logs(_)
        | Command::Init(_)
        | Command::Report(_)
        | Command::Validate => Err(Stop::Usage("internal: command dispatched twice".into()).into()),
    }
    .map(|()| None)
}

/// `--cluster NAME`, else the target the state file records (src/config/targets.rs).
fn choose_cluster_target(
    loaded: &mut config::LoadedConfig,
    requested: Option<&str>,
) -> anyhow::Result<()> {
    let state_dir = crate::plan::Plan::from_config(loaded).state_dir;
    // An unreadable state file is reported by the command that needs it, not here.
    let state = crate::state::StateStore::new(state_dir)
        .load()
        .ok()
        .flatten();
    // Built images stay after `down` (build cache) and belong to no cluster: only what is
    // recorded on a cluster ties the environment to the target that made it.
    let recorded = state.as_ref().filter(|s| {
        s.cluster.is_some()
            || !s.cluster_objects.is_empty()
            || !s.run_cluster_objects.is_empty()
            || s.run_id.is_some()
            || s.local_registry.is_some()
    });
    config::targets::resolve(requested, recorded.map(|s| s.cluster_target.as_deref()))
        .and_then(|t| config::targets::select(&mut loaded.config, t.as_deref()))
        .map_err(|e| Stop::Usage(e.to_string()).into())
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
        Command::Gc(_) => "gc",
        Command::Doctor(_) => "doctor",
        Command::Status => "status",
        Command::Logs(_) => "logs",
        Command::Report(_) => "report",
        Command::Completions { .. } => "completions",
        Command::Init(_) => "init",
        Command::Validate => "validate",
    }
}

/// The config path as the user reads it: relative to the current directory when inside it.
fn shown_path(file: &std::path::Path, cwd: &std::path::Path) -> String {
    file.strip_prefix(cwd).unwrap_or(file).display().to_string()
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
