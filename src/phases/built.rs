//! Which images the build phase has finished, as it finishes them: `up` starts a dependency
//! on a built image, and loads each image into the cluster, as soon as that image exists.

use tokio::sync::watch;

/// The build phase's progress, shared with the phases that wait for single images.
#[derive(Clone)]
pub struct BuiltImages {
    /// The names the build phase will build; any other name is not waited for.
    planned: std::sync::Arc<Vec<String>>,
    tx: std::sync::Arc<watch::Sender<Progress>>,
}

#[derive(Debug, Clone, Default)]
struct Progress {
    built: Vec<String>,
    /// The build phase ended (done, failed or cancelled): nothing else will be built.
    over: bool,
}

/// An image that will not be built because its build (or another one) failed.
#[derive(Debug, thiserror::Error)]
#[error("image {0} was not built (see the build phase)")]
pub struct NotBuilt(pub String);

impl BuiltImages {
    pub fn new(planned: impl IntoIterator<Item = String>) -> Self {
        Self {
            planned: std::sync::Arc::new(planned.into_iter().collect()),
            tx: std::sync::Arc::new(watch::Sender::new(Progress::default())),
        }
    }

    /// No image waits for anything: every image already exists (`load` and `deps` alone).
    pub fn none() -> Self {
        Self::new(Vec::new())
    }

    pub fn is_planned(&self, name: &str) -> bool {
        self.planned.iter().any(|p| p == name)
    }

    /// `name` is built (or was cached) and recorded in the state.
    pub fn built(&self, name: &str) {
        self.tx.send_modify(|p| {
            if !p.built.iter().any(|b| b == name) {
                p.built.push(name.to_owned());
            }
        });
    }

    /// The build phase ended; waiters for images not built stop waiting.
    pub fn over(&self) {
        self.tx.send_modify(|p| p.over = true);
    }

    /// Wait until `name` is built; at once for a name the build phase does not build.
    pub async fn wait_for(&self, name: &str) -> Result<(), NotBuilt> {
        if !self.is_planned(name) {
            return Ok(());
        }
        let mut rx = self.tx.subscribe();
        let seen = rx
            .wait_for(|p| p.over || p.built.iter().any(|b| b == name))
            .await
            .map_err(|_| NotBuilt(name.to_owned()))?;
        if seen.built.iter().any(|b| b == name) {
            Ok(())
        } else {
            Err(NotBuilt(name.to_owned()))
        }
    }

    /// Wait until the build phase is over; an error names an image it did not build.
    pub async fn wait_all(&self) -> Result<(), NotBuilt> {
        if self.planned.is_empty() {
            return Ok(());
        }
        let mut rx = self.tx.subscribe();
        let seen = rx.wait_for(|p| p.over).await.map(|p| p.clone());
        let built = seen.map(|p| p.built).unwrap_or_default();
        match self.planned.iter().find(|p| !built.contains(p)) {
            Some(missing) => Err(NotBuilt(missing.clone())),
            None => Ok(()),
        }
    }

    /// The build phase is over and did not build every image.
    pub fn failed(&self) -> bool {
        let p = self.tx.borrow();
        p.over && self.planned.iter().any(|n| !p.built.contains(n))
    }

    /// Wait until an image not in `seen` is built, or the build phase is over. Returns the
    /// images built so far that are not in `seen` (in build order), and whether it is over.
    pub async fn next_batch(&self, seen: &[String]) -> (Vec<String>, bool) {
        if self.planned.is_empty() {
            return (Vec::new(), true);
        }
        let mut rx = self.tx.subscribe();
        let fresh = |p: &Progress| -> Vec<String> {
            p.built
                .iter()
                .filter(|b| !seen.contains(b))
                .cloned()
                .collect()
        };
        let result = match rx.wait_for(|p| p.over || !fresh(p).is_empty()).await {
            Ok(p) => (fresh(&p), p.over),
            Err(_) => (Vec::new(), true),
        };
        result
    }
}

/// Marks the build phase over when dropped: also when `up` is interrupted mid-build.
pub struct OverOnDrop(pub BuiltImages);

impl Drop for OverOnDrop {
    fn drop(&mut self) {
        self.0.over();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn waiters_wake_as_each_image_is_built() {
        let b = BuiltImages::new(["a".to_owned(), "b".to_owned()]);
        assert!(b.wait_for("stock").await.is_ok(), "not built here: no wait");
        let waiter = tokio::spawn({
            let b = b.clone();
            async move { b.wait_for("b").await }
        });
        b.built("a");
        assert_eq!(b.next_batch(&[]).await, (vec!["a".to_owned()], false));
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(!waiter.is_finished(), "b is not built yet");
        b.built("b");
        assert!(waiter.await.unwrap().is_ok());
        assert_eq!(
            b.next_batch(&["a".to_owned()]).await,
            (vec!["b".to_owned()], false)
        );
    }

    #[tokio::test]
    async fn a_failed_build_phase_releases_its_waiters() {
        let b = BuiltImages::new(["a".to_owned(), "b".to_owned()]);
        b.built("a");
        {
            let _over = OverOnDrop(b.clone());
        }
        assert!(b.wait_for("a").await.is_ok());
        let err = b.wait_for("b").await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "image b was not built (see the build phase)"
        );
        assert_eq!(b.next_batch(&["a".to_owned()]).await, (Vec::new(), true));
        assert!(b.failed());
        assert_eq!(b.wait_all().await.unwrap_err().0, "b");
    }

    #[tokio::test]
    async fn nothing_to_build_means_nothing_to_wait_for() {
        assert_eq!(
            BuiltImages::none().next_batch(&[]).await,
            (Vec::new(), true)
        );
    }
}
