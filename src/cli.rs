//! Command-line definitions (clap derive) and nothing else.

use crate::report::OutputMode;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

const ABOUT: &str = "Bring up an end-to-end test environment for a Kubernetes application, run scenarios against it, tear it down, and diagnose the container infrastructure when it breaks.";

const AFTER: &str = "\
Typical use:
  kubetest up        # build images, create the kind cluster, start dependencies, deploy, wait ready
  kubetest run       # run the scenarios; exit code 1 if any fails
  kubetest down      # remove exactly what `up` made
  kubetest doctor    # say what is wrong with the engine, podman machine or kind, and how to fix it
  kubetest status    # is everything `up` made still there and working? (exit 3 if not)
  kubetest logs      # the dependency containers' logs; `deployment/NAME` for pods

Exit codes: 0 ok, 1 scenarios failed, 2 invalid config or usage, 3 infrastructure failure,
4 environment locked by another kubetest, 130 interrupted.";

#[derive(Debug, Parser)]
#[command(name = "kubetest", version, about = ABOUT, after_help = AFTER, propagate_version = true)]
pub struct Cli {
    /// The environment file.
    #[arg(
        short = 'f',
        long = "file",
        global = true,
        default_value = "kubetest.yaml",
        value_name = "PATH"
    )]
    pub file: PathBuf,

    /// How to show progress: bars on a terminal, plain lines, or JSON lines.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "auto",
        env = "KUBETEST_OUTPUT"
    )]
    pub output: OutputMode,

    /// More detail: build logs and every step (repeatable).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Only warnings, failures and the summary.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Use this engine endpoint and no other (`unix:///…`, `tcp://…`); overrides
    /// `engine.host`, `CONTAINER_HOST` and `DOCKER_HOST`.
    #[arg(long, global = true, value_name = "ENDPOINT")]
    pub engine: Option<String>,

    /// This run's identity on a shared cluster: namespaces become `<namespace>-<ID>` and
    /// `down` removes only this run's (default with `cluster.shared`: the CI job id, else random).
    #[arg(long = "id", global = true, value_name = "ID", env = "KUBETEST_RUN_ID")]
    pub run_id: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Bring the environment up: preflight, build ‖ cluster, load, dependencies, deploy, ready.
    #[command(
        after_help = "Example:\n  kubetest up -f examples/quickstart/kubetest.yaml\n  kubetest up --rebuild --jobs 2   # force all builds, two at a time"
    )]
    Up(UpArgs),
    /// Run the declared scenarios against the environment `up` made.
    #[command(
        after_help = "Example:\n  kubetest run --tag smoke --junit report.xml\n  kubetest run --shard 2/4          # this CI job's quarter of the scenarios"
    )]
    Run(RunArgs),
    /// Tear down exactly what `up` created; safe to run twice or after a crash.
    #[command(
        after_help = "Example:\n  kubetest down\n  kubetest down --images --cluster  # also built images, and the cluster even if reused"
    )]
    Down(DownArgs),
    /// Diagnose the container engine, podman machine, kind and cluster; or explain an error.
    #[command(
        after_help = "Example:\n  kubetest doctor\n  kubetest doctor --json --timeout 5s\n  kubetest doctor --explain 'machine did not transition into running state'\n  kubetest doctor --live --explain 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock'\n  podman machine start 2>&1 | kubetest doctor --explain -"
    )]
    Doctor(DoctorArgs),
    /// Check that everything the state file records still exists and works; exit 3 if not.
    #[command(
        after_help = "Asks the engine and the cluster about each recorded container, network, image,\ncluster and namespace. Exit code 0: all as recorded; 3: something is missing or broken.\n\nExample:\n  kubetest status\n  kubetest status --output json   # one JSON object"
    )]
    Status,
    /// Print the logs of dependency containers and pods, each line prefixed with its source.
    #[command(
        after_help = "TARGET is a dependency name (default: all of them), `deployment/NAME`, `statefulset/NAME`,\n`daemonset/NAME`, `job/NAME` or `pod/NAME`. Pods are looked up in `deploy.namespace` unless\n`--namespace` says otherwise. (`-f` is the config file everywhere, so following is `-F`.)\n\nExample:\n  kubetest logs postgres --tail 50\n  kubetest logs deployment/web -F\n  kubetest logs -l app=web --since 5m"
    )]
    Logs(LogsArgs),
    /// Print a shell completion script.
    #[command(
        after_help = "Example:\n  kubetest completions bash > ~/.local/share/bash-completion/completions/kubetest\n  kubetest completions zsh > \"${fpath[1]}/_kubetest\""
    )]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Args, Default, Clone)]
pub struct UpArgs {
    /// Concurrent image builds (default: number of CPUs, or `build.jobs`).
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Build every image even when its inputs did not change.
    #[arg(long)]
    pub rebuild: bool,
    /// Delete and recreate the cluster even when it is healthy.
    #[arg(long)]
    pub recreate: bool,
    /// Adopt a kind cluster of the same name that kubetest did not create.
    #[arg(long)]
    pub reuse: bool,
    /// Stop at the first failed build instead of letting the others finish.
    #[arg(long)]
    pub fail_fast: bool,
    /// Run the `setup:` steps even when nothing they depend on changed.
    #[arg(long)]
    pub setup: bool,
}

#[derive(Debug, Args, Default, Clone)]
pub struct RunArgs {
    /// Run only scenarios with these names.
    pub names: Vec<String>,
    /// Run only scenarios with this tag (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Scenarios run at once (default: number of CPUs).
    #[arg(long, value_name = "N")]
    pub parallel: Option<usize>,
    /// Run the I-th of N deterministic shards, e.g. `2/4`.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// Stop at the first failing scenario.
    #[arg(long)]
    pub fail_fast: bool,
    /// Retry a failed scenario up to K times (a pass on retry is reported as flaky).
    #[arg(long, value_name = "K", default_value_t = 0)]
    pub retries: u32,
    /// Write a JUnit XML report.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}

#[derive(Debug, Args, Default, Clone)]
pub struct LogsArgs {
    /// Dependencies by name, or pods as `deployment/NAME`, `pod/NAME`, ….
    #[arg(value_name = "TARGET")]
    pub targets: Vec<String>,
    /// Pods matching this label selector, e.g. `app=web`.
    #[arg(short = 'l', long, value_name = "SELECTOR")]
    pub selector: Option<String>,
    /// Namespace of the pods (default: `deploy.namespace`).
    #[arg(short = 'n', long, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    /// Keep printing new lines until Ctrl-C.
    #[arg(short = 'F', long)]
    pub follow: bool,
    /// Only lines newer than this, e.g. `10m`.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub since: Option<std::time::Duration>,
    /// Only the last N lines of each source.
    #[arg(long, value_name = "N")]
    pub tail: Option<usize>,
}

#[derive(Debug, Args, Default, Clone)]
pub struct DownArgs {
    /// Also remove the images `up` built (by default they stay, as build cache).
    #[arg(long)]
    pub images: bool,
    /// Also delete the cluster when `up` reused it instead of creating it.
    #[arg(long)]
    pub cluster: bool,
}

#[derive(Debug, Args, Default, Clone)]
pub struct DoctorArgs {
    /// Classify an error message (`-` reads standard input) instead of running the checks.
    #[arg(long, value_name = "TEXT")]
    pub explain: Option<String>,
    /// With `--explain`: also run the doctor check that decides between the look-alike
    /// causes of the text (socket missing vs daemon stopped vs engine busy…).
    #[arg(long, requires = "explain")]
    pub live: bool,
    /// JSON output (same as `--output json`).
    #[arg(long)]
    pub json: bool,
    /// Time limit of each check, e.g. `20s` (default); a command inside a check gets three
    /// quarters of it, so a hung command is named in the report.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub timeout: Option<std::time::Duration>,
}
