//! Command-line definitions (clap derive) and nothing else.

use crate::report::{ColorChoice, OutputMode};
use crate::scenario::shard::Shard;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

const ABOUT: &str = "Bring up an end-to-end test environment for a Kubernetes application, run scenarios against it, tear it down, and diagnose the container infrastructure when it breaks.";

const AFTER: &str = "\
Typical use:
  kubetest up        # build images, create the kind cluster, start dependencies, deploy, wait ready
  kubetest run       # run the scenarios; exit code 1 if any fails (`--list` shows them)
  kubetest validate  # check config, scenarios and manifests; no engine or cluster needed
  kubetest down      # remove exactly what `up` made (`--id ID`: a run whose state is lost)
  kubetest gc --older-than 2h   # shared cluster: release runs of cancelled CI jobs
  kubetest doctor    # say what is wrong with the engine, podman machine or kind, and how to fix it
  kubetest status    # is everything `up` made still there and working? (exit 3 if not)
  kubetest logs      # the dependency containers' logs; `deployment/NAME` for pods

The config is -f, else $KUBETEST_FILE, else the first kubetest.yaml here or in a parent.

Exit codes: 0 ok, 1 scenarios failed, 2 invalid config or usage, 3 infrastructure failure,
4 environment locked by another kubetest, 130 interrupted.";

#[derive(Debug, Parser)]
#[command(name = "kubetest", version, about = ABOUT, after_help = AFTER, propagate_version = true)]
pub struct Cli {
    /// The environment file (default: `KUBETEST_FILE`, else the first kubetest.yaml in the
    /// current directory or one of its parents).
    #[arg(short = 'f', long = "file", global = true, value_name = "PATH")]
    pub file: Option<PathBuf>,

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

    /// Colour: `auto` (a terminal without `NO_COLOR`), `always` or `never`.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "auto",
        value_name = "WHEN"
    )]
    pub color: ColorChoice,
    /// This run's identity on a shared cluster: namespaces become `<namespace>-<ID>` and
    /// `down` removes only this run's (default with `cluster.shared`: the CI job id, else random).
    #[arg(long = "id", global = true, value_name = "ID", env = "KUBETEST_RUN_ID")]
    pub run_id: Option<String>,
    /// The cluster target: a name under `clusters:` (default: the one `up` recorded, else the
    /// `cluster:` block). `down` spells it `--target`, as its `--cluster` deletes the cluster.
    #[arg(
        long = "cluster",
        visible_alias = "target",
        global = true,
        value_name = "NAME",
        env = "KUBETEST_CLUSTER"
    )]
    pub cluster_target: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Bring the environment up: preflight, build ‖ cluster, load, dependencies, deploy, ready.
    #[command(
        after_help = "Example:\n  kubetest up -f examples/quickstart/kubetest.yaml\n  kubetest up --rebuild --jobs 2   # force all builds, two at a time\n  kubetest up --run                # then run every scenario"
    )]
    Up(UpArgs),
    /// Run the declared scenarios against the environment `up` made.
    #[command(
        after_help = "Example:\n  kubetest run --tag smoke --junit report.xml\n  kubetest run --shard 2/4          # this CI job's quarter of the scenarios"
    )]
    Run(RunArgs),
    /// Tear down exactly what `up` created; safe to run twice or after a crash.
    #[command(
        after_help = "Example:\n  kubetest down\n  kubetest down --images --cluster  # also built images, and the cluster even if reused\n  kubetest down --id gh-9876-1-e2e  # shared cluster: a run whose state file is lost (found by label)"
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
    /// Write a commented kubetest.yaml from the project tree (and a compose file's services).
    #[command(
        after_help = "Looks for Containerfiles/Dockerfiles (images), a kind config (cluster.config), manifest\ndirectories (deploy.manifests; kustomize and Helm layouts are named in comments) and writes\nscenarios/example.yaml. `-f` names the file to write.\n\nExample:\n  kubetest init\n  kubetest init --from-compose docker-compose.yml\n  kubetest init --from-compose compose.yaml --force   # replace an existing kubetest.yaml"
    )]
    Init(InitArgs),
    /// Write the last recorded `up` and `run` as one HTML page: timeline, critical path, scenarios.
    #[command(
        after_help = "`up`, `run` and `down` record their events under .kubetest/events/ (the last few of each).\nThe page is self-contained (no network): a Gantt timeline with one row per task and the\ncritical path, per-phase totals, every scenario with its result, the failing step and its\nbundle, and how each task compares with the previous recorded run.\n\nExample:\n  kubetest report --open\n  kubetest report -o timeline.html\n  kubetest run --report timeline.html   # write it right after the run"
    )]
    Report(ReportArgs),
    /// Check the config, every scenario file and the manifests' YAML; touches no engine or cluster.
    #[command(
        after_help = "Lists every error as file:line:col; exit 0 when all is valid, 2 otherwise.\n\nExample:\n  kubetest validate                       # in CI, before `kubetest up`\n  kubetest validate -f examples/quickstart/kubetest.yaml"
    )]
    Validate,
    /// On a shared cluster, release the runs whose namespaces are older than a limit (lost CI jobs).
    #[command(
        after_help = "Finds this environment's runs by their namespaces' labels (kubetest.io/run,\nkubetest.io/environment); a run's age is its newest namespace's. Each stale run is released\nas its `down` would: namespaces deleted, its own cluster-scoped objects deleted, its label\nremoved from shared ones (deleted with the last run's). The run the local state file records\nis never touched. Runs that hold shared objects but have no namespace are reported; release\nthem with `kubetest down --id ID`.\n\nExample:\n  kubetest gc --older-than 2h --dry-run   # what would go\n  kubetest gc --older-than 2h             # in a scheduled CI job"
    )]
    Gc(GcArgs),
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
    /// Concurrent image builds (default: `build.jobs`, else the number of CPUs but at least 4).
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
    /// Write the HTML timeline (as `kubetest report`) to FILE when `up` ends.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Then run every scenario, as `kubetest run` would (exit 1 if one fails).
    #[arg(long)]
    pub run: bool,
}

#[derive(Debug, Args, Default, Clone)]
pub struct RunArgs {
    /// Run only scenarios with these names.
    pub names: Vec<String>,
    /// Run only scenarios with this tag (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Leave out scenarios with this tag (repeatable; wins over `--tag`).
    #[arg(long = "skip-tag", value_name = "TAG")]
    pub skip_tags: Vec<String>,
    /// Print the selected scenarios (name, tags, file) instead of running them.
    #[arg(long)]
    pub list: bool,
    /// Keep each scenario's namespace instead of deleting it (`on-failure`: only failed ones).
    #[arg(
        long,
        value_enum,
        value_name = "WHEN",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "always"
    )]
    pub keep_namespaces: Option<KeepNamespaces>,
    /// Scenarios run at once (default: number of CPUs).
    #[arg(long, value_name = "N", value_parser = positive)]
    pub parallel: Option<usize>,
    /// Run the I-th of N deterministic shards, e.g. `2/4`.
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    pub shard: Option<Shard>,
    /// Stop at the first failing scenario.
    #[arg(long)]
    pub fail_fast: bool,
    /// Retry a failed scenario up to K times (a pass on retry is reported as flaky).
    #[arg(long, value_name = "K", default_value_t = 0)]
    pub retries: u32,
    /// Write a JUnit XML report.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write the HTML timeline (as `kubetest report`) to FILE when the run ends.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
}

#[derive(Debug, Args, Default, Clone)]
pub struct ReportArgs {
    /// Where to write the page (default: .kubetest/report.html beside the config).
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Open the page in the desktop's browser (`xdg-open`, `open` on macOS).
    #[arg(long)]
    pub open: bool,
}

#[derive(Debug, Args, Default, Clone)]
pub struct InitArgs {
    /// Convert this compose file's services into `dependencies`.
    #[arg(long, value_name = "FILE")]
    pub from_compose: Option<PathBuf>,
    /// Replace an existing kubetest.yaml.
    #[arg(long)]
    pub force: bool,
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

#[derive(Debug, Args, Clone)]
pub struct GcArgs {
    /// Release runs whose newest namespace is older than this, e.g. `2h`, `90m`, `1d`.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub older_than: std::time::Duration,
    /// Report what would be released; change nothing.
    #[arg(long)]
    pub dry_run: bool,
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

/// `--keep-namespaces[=on-failure]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KeepNamespaces {
    /// Keep every scenario's namespace.
    Always,
    /// Keep only the namespaces of scenarios that failed.
    OnFailure,
}

/// A count that must be at least 1 (`--parallel 0` would run nothing).
fn positive(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".to_owned()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

fn parse_shard(s: &str) -> Result<Shard, String> {
    s.parse()
}

/// The clap command with, per subcommand, the global options that mean nothing to it hidden
/// from its help (they are still accepted, so a `-f` in an alias does not break it).
pub fn command() -> clap::Command {
    use clap::CommandFactory;
    let cmd = Cli::command();
    let globals: Vec<clap::Arg> = cmd
        .get_arguments()
        .filter(|a| a.is_global_set())
        .cloned()
        .collect();
    let hide = |cmd: clap::Command, sub: &str, ids: &[&str]| {
        let hidden: Vec<clap::Arg> = globals
            .iter()
            .filter(|a| ids.contains(&a.get_id().as_str()))
            .map(|a| a.clone().global(false).hide(true))
            .collect();
        // clap does not propagate a global to a subcommand that has an argument of that id.
        cmd.mut_subcommand(sub, |c| c.args(hidden))
    };
    let all: Vec<&str> = globals.iter().map(|a| a.get_id().as_str()).collect();
    let cmd = hide(cmd, "completions", &all);
    let cmd = hide(cmd, "validate", &["engine", "cluster_target"]);
    let cmd = hide(cmd, "init", &["engine", "cluster_target"]);
    let cmd = hide(cmd, "doctor", &["cluster_target"]);
    // `down --cluster` (delete a reused cluster) came first: there the target is `--target`.
    let cmd = cmd.mut_subcommand("down", |c| {
        c.arg(
            clap::Arg::new("cluster_target")
                .long("target")
                .value_name("NAME")
                .env("KUBETEST_CLUSTER")
                .help("The cluster target `up` used (default: the one the state file records)"),
        )
    });
    let cmd = hide(cmd, "gc", &["engine"]);
    hide(cmd, "report", &["engine", "cluster_target"])
}

/// Parse the process arguments (exits with clap's message and code 2 on a usage error).
pub fn parse() -> Cli {
    use clap::FromArgMatches;
    let matches = command().get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}
