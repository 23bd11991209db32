//! The live state of a running command: every change is written to disk at once.
//!
//! Phases record what they create the moment it exists, so a crash or Ctrl-C between two
//! steps still leaves a state file that names everything `down` must remove.

use super::model::State;
use super::store::StateStore;
use std::sync::{Arc, Mutex, PoisonError};

#[derive(Clone)]
pub struct Recorder {
    store: StateStore,
    state: Arc<Mutex<State>>,
}

impl Recorder {
    pub fn new(store: StateStore, state: State) -> Self {
        Self {
            store,
            state: Arc::new(Mutex::new(state)),
        }
    }

    /// Apply a change and write the whole state atomically before returning.
    pub fn update(&self, change: impl FnOnce(&mut State)) -> anyhow::Result<()> {
        let mut guard = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        change(&mut guard);
        self.store.save(&guard)
    }

    pub fn snapshot(&self) -> State {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn store(&self) -> &StateStore {
        &self.store
    }
}
