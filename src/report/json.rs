//! JSON lines: one object per event, field names as in [`crate::events::Event`].

use crate::events::{Reporter, Stamped};
use std::io::Write;

pub struct JsonReporter {
    out: Box<dyn Write + Send>,
}

impl JsonReporter {
    pub fn new(out: Box<dyn Write + Send>) -> Self {
        Self { out }
    }
}

impl Reporter for JsonReporter {
    fn handle(&mut self, ev: &Stamped) {
        // A closed stdout (e.g. `| head`) must not abort the work: output is best effort.
        if serde_json::to_writer(&mut self.out, ev).is_ok() {
            let _ = self.out.write_all(b"\n");
            let _ = self.out.flush();
        }
    }
}
