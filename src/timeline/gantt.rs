//! The Gantt chart of one timeline as inline SVG: a row per task, grouped under its phase.
//!
//! Nothing relies on colour alone: outcomes are patterns (hatched = failed, dotted = cached,
//! reused or skipped, striped = flaky) and a word and symbol beside the bar; the critical path
//! has a thick outline and the word "critical".
//!
//! SVG elements are written with an end tag (`rect … {}`), never maud's void form (`rect …;`):
//! inside `<svg>` an HTML parser leaves `<rect>` open, and the text after it would vanish into it.

use super::compare::{Change, Comparison};
use super::model::{Task, Timeline};
use super::text;
use crate::events::{Milestone, Outcome};
use maud::{html, Markup};

const LABEL_W: u64 = 260;
const CHART_W: u64 = 760;
const RIGHT_W: u64 = 300;
/// Width of the whole chart, in CSS pixels.
pub const WIDTH: u64 = LABEL_W + CHART_W + RIGHT_W;
const AXIS_H: u64 = 22;
const ROW_H: u64 = 18;
const PHASE_H: u64 = 20;
const BAR_H: u64 = 12;
const LABEL_CHARS: usize = 36;

/// The patterns the bars use, once per page (the charts refer to them by id).
pub fn defs() -> Markup {
    html! {
        svg width="0" height="0" aria-hidden="true" style="position:absolute" {
            defs {
                pattern #hatch width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)" {
                    rect width="6" height="6" fill="#f6c9c9" {}
                    line x1="0" y1="0" x2="0" y2="6" stroke="#a40000" stroke-width="3" {}
                }
                pattern #dots width="5" height="5" patternUnits="userSpaceOnUse" {
                    rect width="5" height="5" fill="#e8eef4" {}
                    circle cx="2.5" cy="2.5" r="1.1" fill="#4a6278" {}
                }
                pattern #stripes width="6" height="6" patternUnits="userSpaceOnUse" {
                    rect width="6" height="6" fill="#fbe6b8" {}
                    line x1="0" y1="1.5" x2="6" y2="1.5" stroke="#8a5a00" stroke-width="2" {}
                }
            }
        }
    }
}

/// The outcome's CSS class (`o-ok`, `o-failed`, `o-unfinished`…).
pub fn outcome_class(o: Option<Outcome>) -> &'static str {
    match o {
        Some(Outcome::Ok) => "o-ok",
        Some(Outcome::Cached) => "o-cached",
        Some(Outcome::Reused) => "o-reused",
        Some(Outcome::Skipped) => "o-skipped",
        Some(Outcome::Flaky) => "o-flaky",
        Some(Outcome::Failed) => "o-failed",
        Some(Outcome::Cancelled) => "o-cancelled",
        None => "o-unfinished",
    }
}

/// Milliseconds per tick: 1, 2 or 5 × 10^k, at most about ten ticks.
fn tick_step(total_ms: u64) -> u64 {
    let mut base = 1;
    loop {
        for m in [1, 2, 5] {
            if total_ms / (base * m) <= 10 {
                return base * m;
            }
        }
        base *= 10;
    }
}

/// The chart. `critical[i]`: task `i` is on the critical path.
pub fn chart(t: &Timeline, critical: &[bool], cmp: Option<&Comparison>) -> Markup {
    let total = t.total_ms.max(1);
    let x = |ms: u64| LABEL_W + ms.min(total) * CHART_W / total;
    let phase_rows = count_phase_rows(t);
    let height = AXIS_H + phase_rows * PHASE_H + t.tasks.len() as u64 * ROW_H + 4;
    let step = tick_step(total);
    let ticks = (0..=total / step).map(|i| i * step);
    let mut y = AXIS_H;
    let mut last_phase = None;
    html! {
        svg.gantt role="img" width=(WIDTH) height=(height) viewBox={"0 0 " (WIDTH) " " (height)}
            aria-label={"Timeline of kubetest " (t.command) ": one row per task"} {
            g.axis {
                @for ms in ticks {
                    line x1=(x(ms)) x2=(x(ms)) y1=(AXIS_H - 4) y2=(height) {}
                    text x=(x(ms)) y=(AXIS_H - 8) text-anchor="middle" { (text::duration(ms)) }
                }
            }
            @for (i, task) in t.tasks.iter().enumerate() {
                @if last_phase != Some(task.phase) {
                    @let top = { let top = y; y += PHASE_H; last_phase = Some(task.phase); top };
                    (phase_row(t, task, top))
                }
                @let top = { let top = y; y += ROW_H; top };
                (row(task, top, critical.get(i).copied().unwrap_or(false), cmp, &x))
            }
        }
    }
}

fn count_phase_rows(t: &Timeline) -> u64 {
    let mut n = 0;
    let mut last = None;
    for task in &t.tasks {
        if last != Some(task.phase) {
            n += 1;
            last = Some(task.phase);
        }
    }
    n
}

fn phase_row(t: &Timeline, task: &Task, top: u64) -> Markup {
    let span = t.phase(task.phase);
    html! {
        g.phase data-phase=(task.phase.as_str()) {
            rect.band x="0" y=(top) width=(WIDTH) height=(PHASE_H) {}
            text x="4" y=(top + 14) {
                (task.phase.as_str())
                @if let Some(p) = span {
                    " \u{2014} " (text::duration(p.elapsed_ms())) " " (text::outcome(p.outcome))
                }
            }
        }
    }
}

fn row(
    task: &Task,
    top: u64,
    critical: bool,
    cmp: Option<&Comparison>,
    x: &dyn Fn(u64) -> u64,
) -> Markup {
    let bar_y = top + (ROW_H - BAR_H) / 2;
    let x0 = x(task.start_ms);
    let w = (x(task.end_ms) - x0).max(1);
    let delta = cmp.and_then(|c| c.task(task.phase, &task.name, task.elapsed_ms()));
    let class = format!(
        "task {}{}",
        outcome_class(task.outcome),
        if critical { " crit" } else { "" }
    );
    html! {
        g class=(class) data-phase=(task.phase.as_str()) data-task=(task.name) {
            title {
                (task.phase.as_str()) ": " (task.name) " \u{2014} " (text::outcome(task.outcome)) ", "
                (text::duration(task.elapsed_ms())) " (from " (text::duration(task.start_ms))
                " to " (text::duration(task.end_ms)) ")"
                @if critical { ", on the critical path" }
                @if let Some(d) = &task.detail { "\n" (d) }
            }
            text x="14" y=(top + 13) { (text::truncate(&task.name, LABEL_CHARS)) }
            rect.bar x=(x0) y=(bar_y) width=(w) height=(BAR_H) {}
            @for s in &task.steps {
                @let sx = x(s.start_ms);
                rect class={"st " (outcome_class(Some(s.outcome)))} x=(sx) y=(bar_y + 2)
                    width=((x(s.end_ms) - sx).max(1)) height=(BAR_H - 4) {
                    title {
                        (s.title) " \u{2014} " (s.outcome.as_str()) ", " (text::duration(s.end_ms - s.start_ms))
                        @if s.attempts > 1 { ", " (s.attempts) " attempts" }
                    }
                }
            }
            @for (at, m) in &task.marks {
                (mark(x(*at), bar_y, *m, *at))
            }
            text.d x=(LABEL_W + CHART_W + 6) y=(top + 13) {
                (text::outcome_symbol(task.outcome)) " " (text::duration(task.elapsed_ms())) " "
                (text::outcome(task.outcome))
                @if critical { " \u{25c6} critical" }
                @if let Some(d) = delta.filter(|d| d.change() != Change::Same) { " " (text::change(&d)) }
            }
        }
    }
}

/// A milestone: a shape of its own (triangle: container started, diamond: health wait
/// began, circle: healthy), readable without colour.
fn mark(x: u64, bar_y: u64, m: Milestone, at: u64) -> Markup {
    let (cx, top, bottom) = (x as i64, bar_y as i64 - 1, (bar_y + BAR_H) as i64 + 1);
    let mid = (top + bottom) / 2;
    let label = match m {
        Milestone::ContainerStarted => "container started",
        Milestone::HealthWait => "health checks began",
        Milestone::Healthy => "healthy",
    };
    let d = match m {
        Milestone::ContainerStarted => {
            format!("M{} {top}L{} {top}L{cx} {mid}Z", cx - 4, cx + 4)
        }
        Milestone::HealthWait => format!(
            "M{cx} {top}L{} {mid}L{cx} {bottom}L{} {mid}Z",
            cx + 4,
            cx - 4
        ),
        Milestone::Healthy => format!("M{} {mid}a4 4 0 1 0 8 0a4 4 0 1 0 -8 0Z", cx - 4),
    };
    html! {
        path class={"mk m-" (m.as_str())} d=(d) {
            title { (label) " at " (text::duration(at)) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn about_ten_ticks() {
        assert_eq!(tick_step(4703), 500);
        assert_eq!(tick_step(10), 1);
        assert_eq!(tick_step(0), 1);
        assert_eq!(tick_step(180_000), 20_000);
    }
}
