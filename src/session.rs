//! What one invocation shares across its phases: the event sink and the cancel signal.

use crate::events::Events;
use tokio_util::sync::CancellationToken;

#[derive(Clone)]
pub struct Session {
    pub events: Events,
    pub cancel: CancellationToken,
}
