//! Waiting on a busy engine: a time limit on every call, progress while it lags, retries of
//! idempotent calls, and [`EngineBusy`], the typed error when the limit passes.
//!
//! A busy engine still answers `/_ping` in milliseconds while `/info`, `/containers/json` or
//! `/system/df` take seconds to minutes (FACTS.md, "Engines under load"). Such an engine is
//! running: the right advice is to wait, not to start one.

use super::discover::Endpoint;
use std::fmt;
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

/// First progress report after a call has lagged this long; the next after [`REPORT_EVERY`],
/// each gap then twice the last, up to [`REPORT_EVERY_MAX`] (a 5-minute wait: ~13 lines).
pub const REPORT_AFTER: Duration = Duration::from_secs(2);
pub const REPORT_EVERY: Duration = Duration::from_secs(5);
pub const REPORT_EVERY_MAX: Duration = Duration::from_secs(30);
/// First retry delay of an idempotent call that failed transiently; doubles up to the max.
const MIN_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(8);

/// A call still waiting for the engine's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusyProgress {
    pub endpoint: String,
    /// `GET /info`, `DELETE /containers/{id}`.
    pub call: String,
    pub waited: Duration,
    /// Failed attempts so far (retried).
    pub retries: u32,
}

impl fmt::Display for BusyProgress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "engine busy: {} {} s so far ({})",
            self.call,
            self.waited.as_secs(),
            self.endpoint
        )?;
        if self.retries > 0 {
            write!(f, ", {} retr{}", self.retries, plural_y(self.retries))?;
        }
        Ok(())
    }
}

fn plural_y(n: u32) -> &'static str {
    if n == 1 {
        "y"
    } else {
        "ies"
    }
}

/// How long to wait for each engine call, and who hears about a lagging one.
#[derive(Clone, Copy)]
pub struct Patience<'a> {
    pub limit: Duration,
    pub on_busy: &'a (dyn Fn(&BusyProgress) + Send + Sync),
}

fn quiet(_: &BusyProgress) {}

impl Patience<'static> {
    /// `limit` per call, progress reported to nobody.
    pub fn quiet(limit: Duration) -> Self {
        Patience {
            limit,
            on_busy: &quiet,
        }
    }
}

/// The engine answers (its `/_ping` did), but a call got no answer within the limit.
/// kubetest's own typed error: the error classifier matches it by type, not by text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct EngineBusy {
    pub endpoint: Endpoint,
    /// The slow call, e.g. `GET /info`.
    pub call: String,
    /// How long it was waited for.
    pub waited: Duration,
    pub limit: Duration,
    /// The last transient failure, when attempts failed rather than lagged.
    pub last_error: Option<String>,
}

impl fmt::Display for EngineBusy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the engine at {} ({}) is busy: it answers GET /_ping, but {} got no answer in {} s \
             (limit {}",
            self.endpoint.url,
            self.endpoint.source,
            self.call,
            self.waited.as_secs(),
            humantime::format_duration(self.limit),
        )?;
        if let Some(e) = &self.last_error {
            write!(f, "; last attempt: {e}")?;
        }
        write!(
            f,
            "). It is running, not stopped: let its current work finish and run kubetest again, \
             raise the limit (`engine: {{kind: …, timeout: 10m}}` in kubetest.yaml), or restart \
             the engine if it stays this slow (`podman machine stop && podman machine start`, \
             `systemctl restart docker`)"
        )
    }
}

/// A failed attempt: retried (transient) or final.
pub enum Attempt<E> {
    Retry(E),
    Final(E),
}

/// Run `call` (one attempt per invocation of `attempt`) until it answers, reporting progress
/// while it lags and retrying transient failures with backoff, all within `patience.limit`.
/// A lagging attempt is waited for, not cancelled and re-sent (that would add to the load).
pub async fn patiently<T, E, F, Fut>(
    endpoint: &Endpoint,
    call: &str,
    patience: Patience<'_>,
    mut attempt: F,
) -> Result<T, PatientError<E>>
where
    E: fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Attempt<E>>>,
{
    let start = Instant::now();
    let deadline = start + patience.limit;
    let mut lag = Lag {
        next: start + REPORT_AFTER,
        gap: REPORT_EVERY,
        start,
        endpoint,
        call,
        on_busy: patience.on_busy,
    };
    let mut backoff = MIN_BACKOFF;
    let mut retries = 0;
    let mut last_error: Option<String> = None;
    let busy = |last_error: Option<String>| {
        PatientError::Busy(EngineBusy {
            endpoint: endpoint.clone(),
            call: call.to_owned(),
            waited: start.elapsed(),
            limit: patience.limit,
            last_error,
        })
    };
    loop {
        let Some(result) = lag.wait(attempt(), deadline, retries).await else {
            return Err(busy(last_error));
        };
        match result {
            Ok(v) => return Ok(v),
            Err(Attempt::Final(e)) => return Err(PatientError::Failed(e)),
            Err(Attempt::Retry(e)) => {
                retries += 1;
                last_error = Some(e.to_string());
                if lag
                    .wait(tokio::time::sleep(backoff), deadline, retries)
                    .await
                    .is_none()
                {
                    return Err(busy(last_error));
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// Reports a lagging call at growing intervals while something of it is awaited.
struct Lag<'a> {
    next: Instant,
    gap: Duration,
    start: Instant,
    endpoint: &'a Endpoint,
    call: &'a str,
    on_busy: &'a (dyn Fn(&BusyProgress) + Send + Sync),
}

impl Lag<'_> {
    /// `fut`'s output, or `None` at `deadline`; reports whenever a report is due meanwhile.
    async fn wait<O>(
        &mut self,
        fut: impl Future<Output = O>,
        deadline: Instant,
        retries: u32,
    ) -> Option<O> {
        tokio::pin!(fut);
        loop {
            tokio::select! {
                r = &mut fut => return Some(r),
                () = tokio::time::sleep_until(self.next) => {
                    (self.on_busy)(&BusyProgress {
                        endpoint: self.endpoint.url.clone(),
                        call: self.call.to_owned(),
                        waited: self.start.elapsed(),
                        retries,
                    });
                    self.next += self.gap;
                    self.gap = (self.gap * 2).min(REPORT_EVERY_MAX);
                }
                () = tokio::time::sleep_until(deadline) => return None,
            }
        }
    }
}

/// Why [`patiently`] gave up.
#[derive(Debug)]
pub enum PatientError<E> {
    Busy(EngineBusy),
    Failed(E),
}

/// Worth another attempt: the connection failed or was cut, the client timed out, or the
/// engine answered 5xx. A 4xx or an answer that cannot be read will not change.
pub fn transient(e: &bollard::errors::Error) -> bool {
    use bollard::errors::Error as B;
    match e {
        B::DockerResponseServerError { status_code, .. } => *status_code >= 500,
        B::IOError { .. }
        | B::HyperResponseError { .. }
        | B::RequestTimeoutError
        | B::HyperLegacyError { .. } => true,
        _ => false,
    }
}

/// A bollard call as an [`Attempt`]: transient errors are retried, the rest are final.
pub fn classify<T>(
    r: Result<T, bollard::errors::Error>,
) -> Result<T, Attempt<bollard::errors::Error>> {
    r.map_err(|e| {
        if transient(&e) {
            Attempt::Retry(e)
        } else {
            Attempt::Final(e)
        }
    })
}

/// [`patiently`] for calls whose errors are `anyhow` (kubetest's engine helpers): an error
/// whose chain holds a transient bollard error is retried, others are final; a call past the
/// limit is an [`EngineBusy`] error. Only for idempotent calls (GET, DELETE).
pub async fn within_limit<T, F, Fut>(
    endpoint: &Endpoint,
    call: &str,
    patience: Patience<'_>,
    mut f: F,
) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    let r = patiently(endpoint, call, patience, || {
        let fut = f();
        async move {
            fut.await.map_err(|e| {
                let retry = e
                    .chain()
                    .filter_map(|c| c.downcast_ref::<bollard::errors::Error>())
                    .any(transient);
                if retry {
                    Attempt::Retry(AnyhowText(e))
                } else {
                    Attempt::Final(AnyhowText(e))
                }
            })
        }
    })
    .await;
    match r {
        Ok(v) => Ok(v),
        Err(PatientError::Busy(b)) => Err(b.into()),
        Err(PatientError::Failed(AnyhowText(e))) => Err(e),
    }
}

/// An `anyhow::Error` shown with its causes (`{:#}`), for [`patiently`]'s last-error text.
struct AnyhowText(anyhow::Error);

impl fmt::Display for AnyhowText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn ep() -> Endpoint {
        Endpoint {
            url: "unix:///run/podman/podman.sock".into(),
            source: "CONTAINER_HOST".into(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_lagging_call_is_reported_then_called_busy() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s2 = seen.clone();
        let report = move |p: &BusyProgress| s2.lock().unwrap().push(p.to_string());
        let patience = Patience {
            limit: Duration::from_secs(10),
            on_busy: &report,
        };
        let r: Result<(), _> = patiently(&ep(), "GET /info", patience, || async {
            std::future::pending::<Result<(), Attempt<String>>>().await
        })
        .await;
        let Err(PatientError::Busy(b)) = r else {
            panic!("not busy")
        };
        assert_eq!(b.call, "GET /info");
        assert_eq!(b.waited, Duration::from_secs(10));
        let text = b.to_string();
        assert!(text.contains("is busy"), "{text}");
        assert!(text.contains("GET /info got no answer in 10 s"), "{text}");
        assert!(!text.contains("start an engine"), "{text}");
        assert_eq!(
            *seen.lock().unwrap(),
            [
                "engine busy: GET /info 2 s so far (unix:///run/podman/podman.sock)",
                "engine busy: GET /info 7 s so far (unix:///run/podman/podman.sock)"
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_answer_within_the_limit_is_taken() {
        let r = patiently(
            &ep(),
            "GET /info",
            Patience::quiet(Duration::from_secs(10)),
            || async {
                tokio::time::sleep(Duration::from_secs(6)).await;
                Ok::<_, Attempt<String>>(42)
            },
        )
        .await;
        assert!(matches!(r, Ok(42)));
    }

    #[tokio::test(start_paused = true)]
    async fn transient_failures_are_retried_final_ones_are_not() {
        let mut n = 0;
        let r = patiently(
            &ep(),
            "GET /info",
            Patience::quiet(Duration::from_secs(10)),
            || {
                n += 1;
                let k = n;
                async move {
                    if k < 3 {
                        Err(Attempt::Retry(format!("reset {k}")))
                    } else {
                        Ok(k)
                    }
                }
            },
        )
        .await;
        assert!(matches!(r, Ok(3)));
        let r: Result<(), _> = patiently(
            &ep(),
            "GET /info",
            Patience::quiet(Duration::from_secs(10)),
            || async { Err(Attempt::Final("404".to_owned())) },
        )
        .await;
        assert!(matches!(r, Err(PatientError::Failed(e)) if e == "404"));
        let r: Result<(), _> = patiently(
            &ep(),
            "GET /info",
            Patience::quiet(Duration::from_secs(3)),
            || async { Err(Attempt::Retry("500 Internal Server Error".to_owned())) },
        )
        .await;
        let Err(PatientError::Busy(b)) = r else {
            panic!("retried until the limit")
        };
        assert_eq!(b.last_error.as_deref(), Some("500 Internal Server Error"));
    }
}
