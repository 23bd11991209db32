//! Readiness detection benchmark against the Kubernetes API double.
fn main() {}
