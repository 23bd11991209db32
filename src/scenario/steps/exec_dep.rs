//! `exec:` with `dependency:` — a command inside a dependency container, through the engine's
//! exec API, with the same expectations as a host command.

use super::{check_output, StepFailure, StepOutput};
use crate::engine::containers;
use crate::scenario::model::ExecStep;
use crate::scenario::template::{render, Vars};
use bollard::Docker;

pub async fn run_exec_dependency(
    docker: &Docker,
    container: &str,
    step: &ExecStep,
    vars: &Vars,
) -> Result<StepOutput, StepFailure> {
    let argv: Vec<String> = step
        .command
        .iter()
        .map(|a| render(a, vars))
        .collect::<Result<_, _>>()
        .map_err(|e| StepFailure::new(e.to_string()))?;
    let out = containers::exec(docker, container, &argv)
        .await
        .map_err(|e| StepFailure::new(format!("in container {container}: {e:#}")))?;
    let code = i32::try_from(out.code).ok();
    check_output(&step.expect, code, &out.stdout, &out.stderr)?;
    let json =
        serde_json::from_str::<serde_json::Value>(&out.stdout).unwrap_or(serde_json::Value::Null);
    Ok(StepOutput {
        value: serde_json::json!({"exit_code": out.code, "stdout": out.stdout.trim_end(), "stderr": out.stderr.trim_end(), "json": json}),
        summary: format!("exit code {} in {container}", out.code),
    })
}
