//! Losing the API server during a wait: which errors mean "no answer", when the outage began,
//! and how it is said ("API server unreachable since 12:01:03 UTC").

use kube::runtime::watcher;
use std::time::{Duration, SystemTime};

/// No HTTP answer at all (refused, reset, timed out): the server is unreachable, as opposed
/// to a server that answers with an error status.
pub fn is_unreachable(e: &kube::Error) -> bool {
    matches!(
        e,
        kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::ReadEvents(_)
    )
}

/// [`is_unreachable`] for the errors of a watch.
pub fn watch_unreachable(e: &watcher::Error) -> bool {
    match e {
        watcher::Error::InitialListFailed(k)
        | watcher::Error::WatchStartFailed(k)
        | watcher::Error::WatchFailed(k) => is_unreachable(k),
        watcher::Error::WatchError(_) | watcher::Error::NoResourceVersion => false,
    }
}

/// An error with its causes, each once: kube's `client error (Connect)` alone does not say
/// that the connection was refused.
pub fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let c = cause.to_string();
        if !text.contains(&c) {
            text.push_str(": ");
            text.push_str(&c);
        }
        source = cause.source();
    }
    text
}

/// A time of day as `12:01:03 UTC`.
pub fn clock(t: SystemTime) -> String {
    let text = humantime::format_rfc3339_seconds(t).to_string();
    // `2026-12-04T12:01:03Z`
    format!("{} UTC", text.get(11..19).unwrap_or(&text))
}

/// An outage in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outage {
    pub since: SystemTime,
    pub last_error: String,
    pub retries: u32,
}

impl Outage {
    /// `the API server has been unreachable since 12:01:03 UTC (8 s, 5 retries; last error: …)`
    pub fn describe(&self) -> String {
        let lasted = SystemTime::now()
            .duration_since(self.since)
            .unwrap_or_default();
        format!(
            "the API server has been unreachable since {} ({} s, {} retr{}; last error: {})",
            clock(self.since),
            lasted.as_secs(),
            self.retries,
            if self.retries == 1 { "y" } else { "ies" },
            self.last_error
        )
    }
}

/// Whether the API server answers, as seen by one wait.
#[derive(Debug, Default)]
pub struct Connection {
    outage: Option<Outage>,
}

impl Connection {
    /// A request got no answer; true when this starts an outage.
    pub fn lost(&mut self, error: String) -> bool {
        match &mut self.outage {
            Some(o) => {
                o.last_error = error;
                o.retries += 1;
                false
            }
            None => {
                self.outage = Some(Outage {
                    since: SystemTime::now(),
                    last_error: error,
                    retries: 1,
                });
                true
            }
        }
    }

    /// A request was answered; how long the outage lasted, if one just ended.
    pub fn answered(&mut self) -> Option<Duration> {
        self.outage.take().map(|o| {
            SystemTime::now()
                .duration_since(o.since)
                .unwrap_or_default()
        })
    }

    pub fn outage(&self) -> Option<&Outage> {
        self.outage.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_starts_once_and_ends_when_answered() {
        let mut c = Connection::default();
        assert!(c.answered().is_none());
        assert!(c.lost("connection refused".into()));
        assert!(!c.lost("connection refused again".into()));
        let o = c.outage().unwrap().clone();
        assert_eq!(o.retries, 2);
        assert!(o
            .describe()
            .starts_with("the API server has been unreachable since "));
        assert!(o
            .describe()
            .contains("last error: connection refused again"));
        assert!(c.answered().is_some());
        assert!(c.outage().is_none());
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(12 * 3600 + 63);
        assert_eq!(clock(t), "12:01:03 UTC");
    }
}
