//! `kubetest report`: recorded events as a timeline, its critical path, and the HTML page.

mod compare;
mod critical;
mod gantt;
mod model;
mod page;
mod text;

pub use compare::{Change, Comparison, Delta};
pub use critical::critical_path;
pub use model::{PhaseSpan, Step, Task, Timeline};
pub use page::{render, Section};
