//! The whole report page: one self-contained HTML file (inline CSS, SVG, a little JS to sort).
//!
//! Built with `maud`: every interpolated value is HTML-escaped unless wrapped in `PreEscaped`,
//! which only the constant stylesheet and script below are — so a scenario named `<script>`
//! is text on the page.

use super::compare::Comparison;
use super::critical::critical_path;
use super::gantt;
use super::model::{Task, Timeline};
use super::text;
use crate::events::{Outcome, Phase};
use maud::{html, Markup, PreEscaped, DOCTYPE};

/// One recorded command to show, with the one before it when there is one.
pub struct Section<'a> {
    pub now: &'a Timeline,
    pub previous: Option<&'a Timeline>,
}

/// The page for these sections (usually the last `up` and the last `run`).
pub fn render(sections: &[Section<'_>]) -> String {
    let env = sections
        .first()
        .map(|s| s.now.environment.as_str())
        .unwrap_or("");
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "kubetest report: " (env) }
                style { (PreEscaped(CSS)) }
            }
            body {
                (gantt::defs())
                header {
                    h1 { "kubetest report \u{2014} environment " code { (env) } }
                    @if sections.is_empty() {
                        p { "No recorded `up` or `run` for this environment yet." }
                    }
                    nav {
                        @for s in sections {
                            a href={"#" (s.now.command)} { "kubetest " (s.now.command) }
                            " "
                        }
                    }
                }
                @for s in sections {
                    (section(s))
                }
                script { (PreEscaped(SORT_JS)) }
            }
        }
    };
    page.into_string()
}

fn section(s: &Section<'_>) -> Markup {
    let t = s.now;
    let cmp = s.previous.map(|p| Comparison::new(t, p));
    let path = critical_path(t);
    let mut critical = vec![false; t.tasks.len()];
    for &i in &path {
        critical[i] = true;
    }
    let path_ms: u64 = path.iter().map(|&i| t.tasks[i].elapsed_ms()).sum();
    let scenarios: Vec<(usize, &Task)> = t
        .tasks
        .iter()
        .enumerate()
        .filter(|(_, t)| t.phase == Phase::Scenarios && !t.whole_phase)
        .collect();
    let others: Vec<(usize, &Task)> = t
        .tasks
        .iter()
        .enumerate()
        .filter(|(_, t)| t.phase != Phase::Scenarios || t.whole_phase)
        .collect();
    let failed: Vec<&Task> = scenarios
        .iter()
        .map(|(_, t)| *t)
        .filter(|t| t.outcome == Some(Outcome::Failed))
        .collect();
    let flaky: Vec<&Task> = scenarios
        .iter()
        .map(|(_, t)| *t)
        .filter(|t| t.outcome == Some(Outcome::Flaky))
        .collect();
    html! {
        section id=(t.command) class={"cmd " (gantt::outcome_class(t.outcome))} {
            h2 {
                "kubetest " (t.command) " \u{2014} " (text::duration(t.total_ms)) " \u{2014} "
                span.outcome { (text::outcome_symbol(t.outcome)) " " (text::outcome(t.outcome)) }
            }
            p.meta {
                "started " (text::wall_clock(t.started_unix_ms)) " \u{b7} config " code { (t.config) }
                @if let Some(c) = &cmp {
                    " \u{b7} previous run " (text::wall_clock(c.previous_started_unix_ms)) ": "
                    (text::duration(c.total.before_ms)) " "
                    span class=(text::change_class(&c.total)) { "(" (text::change(&c.total)) ")" }
                } @else {
                    " \u{b7} no previous run recorded to compare with"
                }
            }
            div.glance {
                @if let Some(e) = &t.error {
                    p.error { strong { "Error: " } (e) }
                }
                p.critical {
                    strong { "Critical path" }
                    " (" (text::duration(path_ms)) " of tasks in " (text::duration(t.total_ms)) "): "
                    @for (n, &i) in path.iter().enumerate() {
                        @if n > 0 { " \u{2192} " }
                        @let task = &t.tasks[i];
                        span.step {
                            @if !task.whole_phase { (task.phase.as_str()) " " }
                            code { (task.name) } " " (text::duration(task.elapsed_ms()))
                        }
                    }
                }
                @if let Some(c) = &t.scenarios {
                    p.counts {
                        strong { "Scenarios: " }
                        (c.passed) " passed, " (c.failed) " failed, " (c.flaky) " flaky, "
                        (c.skipped) " skipped of " (c.total)
                    }
                }
                @if !failed.is_empty() {
                    p.failed {
                        strong { "\u{2717} Failed: " }
                        (scenario_links(t, &scenarios, &failed))
                    }
                }
                @if !flaky.is_empty() {
                    p.flaky {
                        strong { "~ Flaky: " }
                        (scenario_links(t, &scenarios, &flaky))
                    }
                }
            }
            h3 { "Phases" }
            (phase_table(t, cmp.as_ref()))
            h3 { "Timeline" }
            p.legend {
                "Bars: " span.k.o-ok { "solid = ok" } " " span.k.o-cached { "dotted = cached/reused/skipped" } " "
                span.k.o-failed { "hatched = failed" } " " span.k.o-flaky { "striped = flaky" } " "
                span.k.crit { "thick outline + \u{25c6} critical = on the critical path" }
                " \u{b7} marks: \u{25bc} container started, \u{25c6} health checks began, \u{25cf} healthy"
                " \u{b7} inner segments: steps"
            }
            figure.chart { (gantt::chart(t, &critical, cmp.as_ref())) }
            @if !others.is_empty() {
                h3 { "Tasks" }
                (task_table(t, &others, &critical, cmp.as_ref()))
            }
            @if !scenarios.is_empty() {
                h3 { "Scenarios" }
                (scenario_table(t, &scenarios, &critical, cmp.as_ref()))
            }
        }
    }
}

/// Scenarios listed at the top, at most this many (the table has them all).
const LISTED: usize = 25;
/// A failing step's message is cut after this many characters (the bundle has it whole).
const MESSAGE_CHARS: usize = 1500;

/// Links to the scenarios' table rows: the first [`LISTED`], then how many more.
fn scenario_links(t: &Timeline, scenarios: &[(usize, &Task)], which: &[&Task]) -> Markup {
    html! {
        @for (n, f) in which.iter().take(LISTED).enumerate() {
            @if n > 0 { ", " }
            @let row = scenarios.iter().position(|(_, s)| std::ptr::eq(*s, *f)).unwrap_or(0);
            a href={"#s-" (t.command) "-" (row)} { (f.name) }
        }
        @if which.len() > LISTED {
            " and " (which.len() - LISTED) " more (see the table)"
        }
    }
}

fn phase_table(t: &Timeline, cmp: Option<&Comparison>) -> Markup {
    html! {
        table.sortable.phases {
            thead { tr {
                th { "phase" } th { "result" } th data-k="num" { "start" }
                th data-k="num" { "wall time" } th data-k="num" { "share" } th data-k="num" { "tasks" }
                th data-k="num" { "vs previous" }
            } }
            tbody {
                @for p in &t.phases {
                    @let n = t.tasks.iter().filter(|x| x.phase == p.phase && !x.whole_phase).count();
                    @let delta = cmp.and_then(|c| c.phase(p.phase, p.elapsed_ms()));
                    tr class=(gantt::outcome_class(p.outcome)) {
                        td { (p.phase.as_str()) }
                        td { (text::outcome_symbol(p.outcome)) " " (text::outcome(p.outcome)) }
                        td data-v=(p.start_ms) { (text::duration(p.start_ms)) }
                        td data-v=(p.elapsed_ms()) { (text::duration(p.elapsed_ms())) }
                        td data-v=(p.elapsed_ms() * 100 / t.total_ms.max(1)) { (p.elapsed_ms() * 100 / t.total_ms.max(1)) " %" }
                        td data-v=(n) { (n) }
                        (delta_cell(delta))
                    }
                }
            }
        }
    }
}

fn delta_cell(delta: Option<super::compare::Delta>) -> Markup {
    html! {
        @match delta {
            Some(d) => td data-v=(d.diff_ms()) class=(text::change_class(&d)) { (text::change(&d)) },
            None => td data-v="0" { "\u{2014}" },
        }
    }
}

fn task_table(
    t: &Timeline,
    rows: &[(usize, &Task)],
    critical: &[bool],
    cmp: Option<&Comparison>,
) -> Markup {
    html! {
        table.sortable.tasks {
            thead { tr {
                th { "phase" } th { "task" } th { "result" } th data-k="num" { "start" }
                th data-k="num" { "duration" } th { "critical" } th data-k="num" { "vs previous" } th { "detail" }
            } }
            tbody {
                @for (i, task) in rows {
                    tr class=(gantt::outcome_class(task.outcome)) {
                        td { (task.phase.as_str()) }
                        td { (task.name) }
                        td { (text::outcome_symbol(task.outcome)) " " (text::outcome(task.outcome)) }
                        td data-v=(task.start_ms) { (text::duration(task.start_ms)) }
                        td data-v=(task.elapsed_ms()) { (text::duration(task.elapsed_ms())) }
                        td { @if critical[*i] { "\u{25c6} yes" } }
                        (delta_cell(cmp.and_then(|c| c.task(task.phase, &task.name, task.elapsed_ms()))))
                        td.detail {
                            (task.detail.as_deref().unwrap_or(""))
                            @if let Some(b) = &task.bundle {
                                " \u{b7} bundle: " a href=(text::path_href(b)) { (b) }
                            }
                        }
                    }
                }
            }
        }
        @if t.tasks.is_empty() { p { "No tasks were recorded." } }
    }
}

fn scenario_table(
    t: &Timeline,
    rows: &[(usize, &Task)],
    critical: &[bool],
    cmp: Option<&Comparison>,
) -> Markup {
    html! {
        table.sortable.scenarios {
            thead { tr {
                th { "scenario" } th { "result" } th data-k="num" { "duration" } th data-k="num" { "runs" }
                th data-k="num" { "steps" } th data-k="num" { "vs previous" } th { "failing step" } th { "bundle" }
            } }
            tbody {
                @for (n, (i, task)) in rows.iter().enumerate() {
                    tr id={"s-" (t.command) "-" (n)} class=(gantt::outcome_class(task.outcome)) {
                        td { (task.name) @if critical[*i] { " \u{25c6}" } }
                        td { (text::outcome_symbol(task.outcome)) " " (text::outcome(task.outcome)) }
                        td data-v=(task.elapsed_ms()) { (text::duration(task.elapsed_ms())) }
                        td data-v=(task.runs()) { (task.runs()) }
                        td data-v=(task.steps.len()) { (task.steps.len()) }
                        (delta_cell(cmp.and_then(|c| c.task(task.phase, &task.name, task.elapsed_ms()))))
                        td.failing {
                            @if let Some(s) = task.failing_step() {
                                strong { (s.title) }
                                @if let Some(m) = &s.message { pre { (text::truncate(m, MESSAGE_CHARS)) } }
                            } @else if let Some(d) = &task.detail {
                                (d)
                            }
                        }
                        td {
                            @if let Some(b) = &task.bundle {
                                a href=(text::path_href(b)) { (b) }
                            }
                        }
                    }
                }
            }
        }
    }
}

const CSS: &str = r#"
:root{--fg:#1b1f23;--muted:#57606a;--line:#d0d7de;--ok:#2f7d32;--bad:#a40000}
body{font:14px/1.4 system-ui,sans-serif;color:var(--fg);margin:16px 24px;max-width:1340px}
h1{font-size:20px;margin:0 0 4px}h2{font-size:18px;margin:24px 0 4px;border-bottom:2px solid var(--line)}
h3{font-size:15px;margin:16px 0 6px}code{font:12px ui-monospace,monospace}
nav a{margin-right:12px}.meta{color:var(--muted);margin:0 0 8px}
.glance{border:2px solid var(--fg);padding:6px 10px;margin:8px 0}.glance p{margin:4px 0}
.glance .step{white-space:nowrap}.error,.failed{color:var(--bad)}
.slower{color:var(--bad)}.faster{color:var(--ok)}
table{border-collapse:collapse;margin:4px 0 12px;font-size:13px}
th,td{border:1px solid var(--line);padding:2px 6px;text-align:left;vertical-align:top}
th{background:#f3f5f7;cursor:pointer;user-select:none}th[data-dir=asc]::after{content:" \25b2"}th[data-dir=desc]::after{content:" \25bc"}
td.failing pre{margin:2px 0;white-space:pre-wrap;font-size:12px;max-width:520px}
td.detail{color:var(--muted);max-width:420px}
tr.o-failed td:first-child{border-left:4px solid var(--bad)}tr.o-flaky td:first-child{border-left:4px dashed #8a5a00}
figure.chart{margin:0;overflow-x:auto}
svg.gantt{font:11px ui-monospace,monospace;max-width:100%;height:auto}
.gantt .axis line{stroke:#e4e8ec}.gantt .axis text{fill:var(--muted)}
.gantt .band{fill:#f3f5f7}.gantt .phase text{font-weight:bold}
.gantt .bar{fill:#3d6fb6;stroke:#1f3d66;stroke-width:.5}
.gantt .o-failed>.bar,.gantt .st.o-failed{fill:url(#hatch);stroke:var(--bad)}
.gantt .o-cached>.bar,.gantt .o-reused>.bar,.gantt .o-skipped>.bar{fill:url(#dots);stroke:#4a6278}
.gantt .o-flaky>.bar{fill:url(#stripes);stroke:#8a5a00}
.gantt .o-cancelled>.bar,.gantt .o-unfinished>.bar{fill:#fff;stroke:var(--fg);stroke-dasharray:3 2}
.gantt .st{fill:#8fb0dc;stroke:#fff;stroke-width:.5}
.gantt .crit>.bar{stroke:#000;stroke-width:2.5}.gantt .crit>text{font-weight:bold}
.gantt .mk{fill:#fff;stroke:#000;stroke-width:1}.gantt .m-healthy{fill:#000}
.gantt .task:hover>.bar{opacity:.8}
.legend{color:var(--muted);font-size:12px}.k{display:inline-block;padding:0 4px;border:1px solid var(--line)}
.k.o-failed{background:#f6c9c9}.k.o-cached{background:#e8eef4}.k.o-flaky{background:#fbe6b8}.k.crit{border:2.5px solid #000}
@media print{
 body{margin:0;max-width:none;font-size:11px}nav,th::after{display:none}
 th{cursor:auto}figure.chart{overflow:visible}svg.gantt{width:100%}
 h2{break-before:page}section:first-of-type h2{break-before:auto}
 tr,.glance{break-inside:avoid}a{color:inherit;text-decoration:none}
}
"#;

/// Sorts a table by the clicked column: numbers by `data-v`, text by content; again reverses.
const SORT_JS: &str = r#"
document.querySelectorAll("table.sortable th").forEach(function(th){
 th.addEventListener("click",function(){
  var tb=th.closest("table").tBodies[0],i=Array.prototype.indexOf.call(th.parentNode.children,th);
  var num=th.dataset.k==="num",dir=th.dataset.dir==="asc"?-1:1;
  th.parentNode.querySelectorAll("th").forEach(function(o){delete o.dataset.dir});
  th.dataset.dir=dir>0?"asc":"desc";
  var rows=Array.prototype.slice.call(tb.rows);
  rows.sort(function(a,b){
   var x=a.cells[i],y=b.cells[i];
   if(num)return (parseFloat(x.dataset.v)-parseFloat(y.dataset.v))*dir;
   return x.textContent.localeCompare(y.textContent)*dir;
  });
  var f=document.createDocumentFragment();rows.forEach(function(r){f.appendChild(r)});tb.appendChild(f);
 });
});
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Stamped;

    fn stamped(at_ms: u64, event: crate::events::Event) -> Stamped {
        Stamped {
            ts_ms: 1_795_000_000_000 + at_ms,
            at_ms,
            event,
        }
    }

    #[test]
    fn many_failures_are_summed_up_and_long_messages_cut() {
        use crate::events::Event;
        let mut evs = vec![stamped(
            0,
            Event::CommandStarted {
                command: "run".into(),
                environment: "e".into(),
                config: "k.yaml".into(),
            },
        )];
        for i in 0..30u64 {
            let task = format!("s{i}");
            evs.push(stamped(
                i,
                Event::TaskStarted {
                    phase: Phase::Scenarios,
                    task: task.clone(),
                },
            ));
            evs.push(stamped(
                i + 1,
                Event::StepFinished {
                    scenario: task.clone(),
                    index: 0,
                    step: "step 1".into(),
                    outcome: Outcome::Failed,
                    attempts: 1,
                    elapsed_ms: 1,
                    message: Some("x".repeat(5000)),
                },
            ));
            evs.push(stamped(
                i + 1,
                Event::TaskFinished {
                    phase: Phase::Scenarios,
                    task,
                    outcome: Outcome::Failed,
                    elapsed_ms: 1,
                    detail: None,
                },
            ));
        }
        let t = Timeline::from_events(&evs);
        let html = render(&[Section {
            now: &t,
            previous: None,
        }]);
        let glance = html.split("<h3>Phases").next().unwrap_or("");
        assert_eq!(glance.matches("href=\"#s-run-").count(), LISTED);
        assert!(glance.contains(" and 5 more (see the table)"));
        assert!(!html.contains(&"x".repeat(MESSAGE_CHARS)));
        assert!(html.contains(&format!("{}\u{2026}", "x".repeat(MESSAGE_CHARS - 1))));
    }
}
