//! clock: the host's clock against each answering engine's (`/info` SystemTime) — for a
//! podman machine that is the VM's clock, which drifts after the host sleeps.

use super::context::Context;
use super::result::{CheckResult, Findings};
use crate::doctor::rules::CHECK_CLOCK;
use crate::engine::raw_api;
use crate::engine::EngineKind;
use std::time::{SystemTime, UNIX_EPOCH};

/// Above this the skew is reported as a warning (TLS and apt start to notice at seconds).
pub const WARN_MS: i64 = 2_000;
/// Above this, certificates look "not yet valid" and tokens expire: a failure.
pub const FAIL_MS: i64 = 60_000;

/// Milliseconds since the epoch of an RFC 3339 time with any fraction and a `Z` or
/// `±hh:mm` offset, as engines send in `/info` SystemTime.
pub fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    let s = s.trim();
    let (body, offset_s) = if let Some(b) = s.strip_suffix('Z').or_else(|| s.strip_suffix('z')) {
        (b, 0i64)
    } else {
        let pos = s.len().checked_sub(6)?;
        let (b, off) = s.split_at(pos);
        let sign = match off.as_bytes().first()? {
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
        let (h, m) = off[1..].split_once(':')?;
        (
            b,
            sign * (h.parse::<i64>().ok()? * 3600 + m.parse::<i64>().ok()? * 60),
        )
    };
    let (secs_part, frac) = match body.split_once('.') {
        Some((a, f)) => (a, f),
        None => (body, ""),
    };
    let t = humantime::parse_rfc3339(&format!("{secs_part}Z")).ok()?;
    let secs = t.duration_since(UNIX_EPOCH).ok()?.as_secs() as i64 - offset_s;
    let ms = frac
        .chars()
        .chain("000".chars())
        .take(3)
        .collect::<String>()
        .parse::<i64>()
        .ok()?;
    Some(secs * 1000 + ms)
}

/// One engine's clock reading: `engine - host` at the midpoint of the request.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub engine: String,
    pub kind: EngineKind,
    pub skew: Result<(i64, i64), String>,
}

/// `skew` = engine time minus the midpoint of the host's before/after times; the
/// uncertainty is half the round trip.
pub fn skew_ms(host_before_ms: i64, host_after_ms: i64, engine_ms: i64) -> (i64, i64) {
    let mid = (host_before_ms + host_after_ms) / 2;
    (engine_ms - mid, (host_after_ms - host_before_ms + 1) / 2)
}

pub fn judge(readings: &[Reading], machine: bool) -> CheckResult {
    let mut f = Findings::new(CHECK_CLOCK);
    let mut worst = 0i64;
    for r in readings {
        match &r.skew {
            Ok((skew, unc)) => {
                f.see(format!(
                    "{}: clock {:+.3} s from the host (±{:.3} s)",
                    r.engine,
                    *skew as f64 / 1000.0,
                    *unc as f64 / 1000.0
                ));
                let abs = skew.abs().saturating_sub(*unc);
                worst = worst.max(abs);
                let fix: Vec<String> = if machine && r.kind == EngineKind::Podman {
                    vec![
                        "podman machine ssh sudo chronyc makestep".into(),
                        "podman machine stop && podman machine start".into(),
                    ]
                } else {
                    vec![
                        "timedatectl status".into(),
                        "sudo chronyc makestep   # or: sudo timedatectl set-ntp true".into(),
                    ]
                };
                let what = format!(
                    "{} is {:+.1} s off the host's clock",
                    r.engine,
                    *skew as f64 / 1000.0
                );
                if abs > FAIL_MS {
                    f.fail(what, fix);
                } else if abs > WARN_MS {
                    f.warn(what, fix);
                }
            }
            Err(e) => f.see(format!("{}: time not read ({e})", r.engine)),
        }
    }
    if readings.is_empty() {
        f.see(
            "no engine answered (see engine-endpoints); nothing to compare the host's clock with",
        );
    }
    f.finish(format!(
        "engine clocks within {:.1} s of the host",
        worst as f64 / 1000.0
    ))
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub async fn check(ctx: &Context) -> CheckResult {
    let limit = ctx.settings.check_timeout * 3 / 4;
    let answering: Vec<_> = ctx
        .endpoints()
        .await
        .iter()
        .filter_map(|p| p.answer.as_ref().ok().map(|f| (p.endpoint.clone(), f.kind)))
        .collect();
    let readings = futures::future::join_all(answering.into_iter().map(|(ep, kind)| async move {
        let before = now_ms();
        let got = raw_api::get(&ep.url, "/info", limit).await;
        let after = now_ms();
        let skew = got.and_then(|(_, v)| {
            let t = v
                .get("SystemTime")
                .and_then(|t| t.as_str())
                .ok_or("no SystemTime in /info")?;
            parse_rfc3339_ms(t)
                .map(|e| skew_ms(before, after, e))
                .ok_or_else(|| format!("unreadable SystemTime `{t}`"))
        });
        Reading {
            engine: format!("{} at {}", kind.as_str(), ep.url),
            kind,
            skew,
        }
    }))
    .await;
    judge(
        &readings,
        cfg!(any(target_os = "macos", target_os = "windows")),
    )
}

#[cfg(test)]
mod tests {
    use super::super::result::Status;
    use super::*;

    #[test]
    fn engine_times_parse() {
        // Podman 4.3 and Docker 20.10 `/info` SystemTime, as recorded here.
        let podman = parse_rfc3339_ms("2026-11-22T04:46:16.742817872Z").unwrap();
        let docker = parse_rfc3339_ms("2026-11-22T04:46:22.030278221Z").unwrap();
        assert_eq!(docker - podman, 5_288);
        // Docker on a host with a local zone sends an offset.
        assert_eq!(
            parse_rfc3339_ms("2026-11-22T05:46:16.742+01:00"),
            Some(podman)
        );
        assert_eq!(parse_rfc3339_ms("2026-11-22T04:46:16Z"), Some(podman - 742));
        assert_eq!(parse_rfc3339_ms("yesterday"), None);
        let info: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(format!(
                "{}/fixtures/doctor/podman-4.3-info.json",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap(),
        )
        .unwrap();
        assert!(parse_rfc3339_ms(info["SystemTime"].as_str().unwrap()).is_some());
    }

    #[test]
    fn skew_thresholds() {
        assert_eq!(skew_ms(1000, 1010, 1505), (500, 5));
        let reading = |skew: i64| Reading {
            engine: "podman at unix:///run/podman/podman.sock".into(),
            kind: EngineKind::Podman,
            skew: Ok((skew, 5)),
        };
        assert_eq!(judge(&[reading(300)], false).status, Status::Pass);
        let r = judge(&[reading(-5_000)], true);
        assert_eq!(r.status, Status::Warn);
        assert_eq!(
            r.summary,
            "podman at unix:///run/podman/podman.sock is -5.0 s off the host's clock"
        );
        assert_eq!(r.fix[0], "podman machine ssh sudo chronyc makestep");
        let r = judge(&[reading(3_600_000)], false);
        assert_eq!(r.status, Status::Fail);
        assert!(r.fix[0].starts_with("timedatectl"));
        assert_eq!(judge(&[], false).status, Status::Pass);
    }
}
