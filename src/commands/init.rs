//! `kubetest init`: write a commented kubetest.yaml (and an example scenario) drafted from the
//! project tree and, with `--from-compose`, a compose file. Never overwrites without `--force`;
//! never writes a file kubetest's own loader would reject.

use crate::cli::InitArgs;
use crate::config;
use crate::init::{self, render, InitError};
use crate::scenario::load::{load_text, Known};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// What `init` did, for the command's output.
#[derive(Debug, Clone, Serialize)]
pub struct InitReport {
    pub written: Vec<PathBuf>,
    pub images: usize,
    pub dependencies: usize,
    pub manifests: usize,
    /// Lines of the "Not converted" list at the top of the file.
    pub not_converted: usize,
}

pub fn init(args: &InitArgs, target: &Path) -> Result<InitReport, InitError> {
    if target.exists() && !args.force {
        return Err(InitError::Exists {
            path: target.to_owned(),
        });
    }
    let abs = std::path::absolute(target).map_err(|source| InitError::Write {
        path: target.to_owned(),
        source,
    })?;
    let root = abs
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("/"));
    let mut made_by = String::from("kubetest init");
    if let Some(c) = &args.from_compose {
        made_by.push_str(&format!(" --from-compose {}", c.display()));
    }
    let draft = init::draft(&root, args.from_compose.as_deref(), made_by)?;
    let text = render::config(&draft);

    // The example scenario is written first (its directory must exist for the config to load),
    // and removed again when the config turns out not to load.
    let scenarios = root.join("scenarios");
    let scenario_file = scenarios.join("example.yaml");
    let mut written = Vec::new();
    let created_dir = !draft.scenarios_exist;
    if created_dir {
        std::fs::create_dir_all(&scenarios).map_err(|source| InitError::Write {
            path: scenarios.clone(),
            source,
        })?;
        std::fs::write(&scenario_file, render::example_scenario(&draft)).map_err(|source| {
            InitError::Write {
                path: scenario_file.clone(),
                source,
            }
        })?;
    }
    let checked = config::load_str(&text, target, &root)
        .map_err(|e| e.to_string())
        .and_then(|c| {
            if !created_dir {
                return Ok(());
            }
            let known = Known::of_dependencies(c.dependencies.iter().map(|(n, d)| (n.as_str(), d)));
            let example = render::example_scenario(&draft);
            load_text(&example, &scenario_file, &known)
                .map(|_| ())
                .map_err(|e| e.to_string())
        });
    if let Err(why) = checked {
        if created_dir {
            let _ = std::fs::remove_file(&scenario_file);
            let _ = std::fs::remove_dir(&scenarios);
        }
        return Err(InitError::Invalid(format!(
            "{why}\n--- drafted text ---\n{text}"
        )));
    }
    std::fs::write(target, &text).map_err(|source| InitError::Write {
        path: target.to_owned(),
        source,
    })?;
    written.push(target.to_owned());
    if created_dir {
        written.push(
            target
                .parent()
                .unwrap_or(Path::new(""))
                .join("scenarios")
                .join("example.yaml"),
        );
    }
    Ok(InitReport {
        written,
        images: draft.images.iter().filter(|i| i.disabled.is_none()).count(),
        dependencies: draft.dependencies.len(),
        manifests: draft.manifests.len(),
        not_converted: draft.not_converted.len(),
    })
}

/// The human summary printed after `init`.
pub fn render_report(r: &InitReport) -> String {
    let mut s = String::new();
    for w in &r.written {
        s.push_str(&format!("wrote {}\n", w.display()));
    }
    s.push_str(&format!(
        "{} image(s), {} dependenc{}, {} manifest entr{}",
        r.images,
        r.dependencies,
        if r.dependencies == 1 { "y" } else { "ies" },
        r.manifests,
        if r.manifests == 1 { "y" } else { "ies" },
    ));
    if r.not_converted > 0 {
        s.push_str(&format!(
            "; {} thing(s) not converted are listed at the top of {}",
            r.not_converted,
            r.written
                .first()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        ));
    }
    s.push_str("\nnext: review it, then `kubetest up`\n");
    s
}
