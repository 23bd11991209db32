//! `run:` a host command — an argv, or one string for `sh -c` with `shell: true` — with the
//! environment's kubeconfig and dependency ports in its environment. In a `shell: true`
//! script, `{{ x }}` is passed as a variable, so a captured value is never run as shell code.

use super::{check_output, StepFailure, StepOutput};
use crate::cmd::Cmd;
use crate::scenario::model::RunStep;
use crate::scenario::template::{render, render_shell, Vars};
use std::time::Duration;

pub async fn run_host(
    step: &RunStep,
    vars: &Vars,
    env: &[(String, String)],
    timeout: Duration,
) -> Result<StepOutput, StepFailure> {
    let fail = |e: crate::scenario::template::TemplateError| StepFailure::new(e.to_string());
    let mut script_env = Vec::new();
    let argv: Vec<String> = step
        .command
        .iter()
        .enumerate()
        .map(|(i, a)| {
            // The script of `shell: true` gets its values as variables, never spliced in.
            if step.shell && i == 0 {
                let (script, env) = render_shell(a, vars)?;
                script_env = env;
                Ok(script)
            } else {
                render(a, vars)
            }
        })
        .collect::<Result<_, _>>()
        .map_err(fail)?;
    let mut cmd = if step.shell {
        Cmd::new("sh").arg("-c").args(&argv)
    } else {
        let (program, args) = argv
            .split_first()
            .ok_or_else(|| StepFailure::new("empty command"))?;
        Cmd::new(program).args(args)
    };
    for (k, v) in env.iter().chain(&script_env) {
        cmd = cmd.env(k, v);
    }
    for (k, v) in &step.env {
        cmd = cmd.env(
            k,
            render(v, vars).map_err(|e| StepFailure::new(e.to_string()))?,
        );
    }
    let out = cmd
        .timeout(timeout)
        .output()
        .await
        .map_err(|e| StepFailure::new(e.to_string()))?;
    check_output(&step.expect, out.code, &out.stdout, &out.stderr)?;
    let json =
        serde_json::from_str::<serde_json::Value>(&out.stdout).unwrap_or(serde_json::Value::Null);
    Ok(StepOutput {
        value: serde_json::json!({"exit_code": out.code, "stdout": out.stdout.trim_end(), "stderr": out.stderr.trim_end(), "json": json}),
        summary: format!(
            "exit code {}",
            out.code.map_or("none".to_owned(), |c| c.to_string())
        ),
    })
}
