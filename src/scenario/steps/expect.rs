//! Expectations on a command's exit code and output (host `run` and `exec` steps).

use super::StepFailure;
use crate::scenario::matcher;
use crate::scenario::model::OutputExpect;

/// Every unmet expectation, or `Ok` when all hold.
pub fn check_output(
    expect: &OutputExpect,
    code: Option<i32>,
    stdout: &str,
    stderr: &str,
) -> Result<(), StepFailure> {
    let mut details = Vec::new();
    if code.map(i64::from) != Some(expect.exit_code) {
        details.push(format!(
            "exit code: expected {}, found {}",
            expect.exit_code,
            code.map_or("none (killed by a signal)".to_owned(), |c| c.to_string())
        ));
    }
    for (name, text, contains, regex) in [
        (
            "stdout",
            stdout,
            &expect.stdout_contains,
            &expect.stdout_regex,
        ),
        (
            "stderr",
            stderr,
            &expect.stderr_contains,
            &expect.stderr_regex,
        ),
    ] {
        if let Some(c) = contains {
            if !text.contains(c.as_str()) {
                details.push(format!("{name} does not contain {c:?}"));
            }
        }
        if let Some(r) = regex {
            match regex::Regex::new(r) {
                Ok(re) if re.is_match(text) => {}
                Ok(_) => details.push(format!("{name} does not match /{r}/")),
                Err(e) => details.push(format!("invalid regex /{r}/: {e}")),
            }
        }
    }
    if let Some(want) = &expect.json {
        match serde_json::from_str::<serde_json::Value>(stdout) {
            Ok(actual) => details.extend(
                matcher::mismatches(want, &actual)
                    .iter()
                    .map(|m| format!("stdout JSON {m}")),
            ),
            Err(e) => details.push(format!("stdout is not JSON: {e}")),
        }
    }
    if details.is_empty() {
        return Ok(());
    }
    let mut observed = format!(
        "exit code: {}\n",
        code.map_or("none".to_owned(), |c| c.to_string())
    );
    observed.push_str(&format!(
        "--- stdout ---\n{}\n--- stderr ---\n{}",
        super::excerpt(stdout, 2000),
        super::excerpt(stderr, 2000)
    ));
    Err(StepFailure {
        message: format!("{} expectation(s) not met", details.len()),
        details,
        observed: Some(observed),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unmet_expectation_is_listed() {
        let e = OutputExpect {
            exit_code: 0,
            stdout_contains: Some("PONG".into()),
            stdout_regex: Some("^ok$".into()),
            stderr_contains: None,
            stderr_regex: None,
            json: Some(serde_json::json!({"a": 1})),
        };
        let f = check_output(&e, Some(1), "nope", "boom").unwrap_err();
        assert_eq!(
            f.details,
            vec![
                "exit code: expected 0, found 1",
                "stdout does not contain \"PONG\"",
                "stdout does not match /^ok$/",
                "stdout is not JSON: expected ident at line 1 column 2",
            ]
        );
        assert!(f.observed.unwrap().contains("--- stderr ---\nboom"));
        let ok = OutputExpect {
            json: Some(serde_json::json!({"a": 1})),
            ..OutputExpect::default()
        };
        assert!(check_output(&ok, Some(0), "{\"a\":1,\"b\":2}", "").is_ok());
    }
}
