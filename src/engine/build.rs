//! One image build through the engine API: the context streamed as the request body, the
//! build log streamed back line by line, and either the image id or a failure that names
//! the step and shows the last log lines.

use super::context::{tar_stream, BuildContext};
use bollard::errors::Error as BollardError;
use bollard::query_parameters::BuildImageOptionsBuilder;
use bollard::Docker;
use futures::StreamExt;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;

/// How many log lines a failure shows.
pub const FAILURE_LINES: usize = 30;

/// Everything the engine needs for one build.
pub struct BuildRequest {
    pub tag: String,
    pub context: BuildContext,
    pub args: BTreeMap<String, String>,
    pub target: Option<String>,
    pub labels: BTreeMap<String, String>,
}

/// What the build reports while it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildLine {
    /// A new Dockerfile step (`STEP 2/3: RUN make` on Podman, `Step 2/3 : RUN make` on Docker).
    Step(String),
    Log(String),
}

/// A failed build: which image, at which step, the engine's message and the last lines.
#[derive(Debug, Clone, thiserror::Error)]
pub struct BuildFailure {
    pub image: String,
    pub step: Option<String>,
    pub message: String,
    pub last_lines: Vec<String>,
}

impl fmt::Display for BuildFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "build of {} failed", self.image)?;
        if let Some(s) = &self.step {
            write!(f, " at {s}")?;
        }
        write!(f, ": {}", self.message.trim_end())?;
        if !self.last_lines.is_empty() {
            write!(f, "\n  last {} log lines:", self.last_lines.len())?;
            for l in &self.last_lines {
                write!(f, "\n  | {l}")?;
            }
        }
        Ok(())
    }
}

/// Podman's storage lost a layer the build wanted as cache: another process removed an
/// image sharing it while this build ran (`checking if cached image exists from a previous
/// build: getting top layer info: layer not known`). The same build succeeds when run again.
pub fn lost_cache_layer(f: &BuildFailure) -> bool {
    f.message.contains("layer not known")
}

/// `Step 2/3 : RUN make` / `STEP 2/3: RUN make` → `step 2/3 \`RUN make\``.
pub fn parse_step(line: &str) -> Option<String> {
    let rest = line
        .strip_prefix("STEP ")
        .or_else(|| line.strip_prefix("Step "))?;
    let (num, instr) = rest.split_once(':')?;
    let num = num.trim();
    let ok = !num.is_empty() && num.chars().all(|c| c.is_ascii_digit() || c == '/');
    ok.then(|| format!("step {num} `{}`", instr.trim()))
}

/// Run the build; `on_line` sees every step and log line as it arrives.
pub async fn build(
    docker: &Docker,
    req: BuildRequest,
    mut on_line: impl FnMut(BuildLine),
) -> Result<String, BuildFailure> {
    let args: HashMap<&String, &String> = req.args.iter().collect();
    let labels: HashMap<&String, &String> = req.labels.iter().collect();
    let mut opts = BuildImageOptionsBuilder::default()
        .dockerfile(&req.context.dockerfile)
        .t(&req.tag)
        .rm(true)
        // Docker keeps the container of a failed RUN step without this.
        .forcerm(true)
        .buildargs(&args)
        .labels(&labels);
    if let Some(t) = &req.target {
        opts = opts.target(t);
    }
    let body = bollard::body_try_stream(tar_stream(req.context));
    let mut stream = docker.build_image(opts.build(), None, Some(body));

    let mut tail: VecDeque<String> = VecDeque::with_capacity(FAILURE_LINES);
    let mut partial = String::new();
    let mut step: Option<String> = None;
    let mut id: Option<String> = None;
    let fail = |message: String, step: &Option<String>, tail: &VecDeque<String>| BuildFailure {
        image: req.tag.clone(),
        step: step.clone(),
        message,
        last_lines: tail.iter().cloned().collect(),
    };

    while let Some(item) = stream.next().await {
        let info = match item {
            Ok(info) => info,
            Err(BollardError::DockerStreamError { error }) => {
                return Err(fail(error, &step, &tail))
            }
            Err(BollardError::DockerResponseServerError {
                status_code,
                message,
            }) => {
                return Err(fail(
                    format!("the engine refused the build (HTTP {status_code}): {message}"),
                    &step,
                    &tail,
                ))
            }
            Err(e) => return Err(fail(format!("lost the build stream: {e}"), &step, &tail)),
        };
        if let Some(detail) = info.error_detail {
            return Err(fail(
                detail
                    .message
                    .unwrap_or_else(|| "unknown build error".into()),
                &step,
                &tail,
            ));
        }
        if let Some(aux) = info.aux {
            if let Some(i) = aux.id {
                id = Some(i);
            }
        }
        if let Some(text) = info.stream {
            partial.push_str(&text);
            while let Some(nl) = partial.find('\n') {
                let line: String = partial.drain(..=nl).collect();
                let line = line.trim_end().to_owned();
                if line.is_empty() {
                    continue;
                }
                if let Some(s) = parse_step(&line) {
                    step = Some(s.clone());
                    on_line(BuildLine::Step(line.clone()));
                }
                if tail.len() == FAILURE_LINES {
                    tail.pop_front();
                }
                tail.push_back(line.clone());
                on_line(BuildLine::Log(line));
            }
        }
    }
    match id {
        Some(id) => Ok(id),
        None => match docker.inspect_image(&req.tag).await {
            Ok(img) => img
                .id
                .ok_or_else(|| fail("the engine reported no image id".into(), &step, &tail)),
            Err(e) => Err(fail(
                format!("the build ended without an image: {e}"),
                &step,
                &tail,
            )),
        },
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_lost_cache_layer_is_told_from_a_real_failure() {
        let f = |message: &str| BuildFailure {
            image: "localhost/a:1".into(),
            step: Some("step 3/6 `COPY marker.txt /marker.txt`".into()),
            message: message.into(),
            last_lines: Vec::new(),
        };
        // Podman 4.3, seen when a parallel `down --images` removed an image sharing the layer.
        assert!(lost_cache_layer(&f(
            "checking if cached image exists from a previous build: getting top layer info: layer not known"
        )));
        assert!(!lost_cache_layer(&f("exit status 2")));
    }

    use super::*;

    #[test]
    fn steps_of_both_engines() {
        assert_eq!(
            parse_step("STEP 2/3: RUN make").as_deref(),
            Some("step 2/3 `RUN make`")
        );
        assert_eq!(
            parse_step("Step 2/3 : RUN make").as_deref(),
            Some("step 2/3 `RUN make`")
        );
        assert_eq!(
            parse_step("STEP 1: FROM scratch").as_deref(),
            Some("step 1 `FROM scratch`")
        );
        assert_eq!(parse_step("Stepping: on"), None);
        assert_eq!(parse_step(" ---> Running in 1a2b"), None);
    }

    #[test]
    fn failure_shows_image_step_and_lines() {
        let f = BuildFailure {
            image: "localhost/a:1".into(),
            step: Some("step 2/3 `RUN make`".into()),
            message: "exit status 2\n".into(),
            last_lines: vec!["make: *** no rule".into()],
        };
        assert_eq!(
            f.to_string(),
            "build of localhost/a:1 failed at step 2/3 `RUN make`: exit status 2\n  last 1 log lines:\n  | make: *** no rule"
        );
    }
}
