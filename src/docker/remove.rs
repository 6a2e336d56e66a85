//! Removing what a run made, as the engine allows: the primitives the run's cleanup and gc share.

use bollard::query_parameters::{RemoveContainerOptions, RemoveImageOptions};

use super::{Engine, is_not_found, short};

impl Engine {
    /// Force-remove a container and its anonymous volumes; a container already gone is fine.
    pub async fn remove_container(&self, id: &str) -> Result<(), String> {
        let opts = RemoveContainerOptions {
            force: true,
            v: true,
            ..Default::default()
        };
        match self.docker.remove_container(id, Some(opts)).await {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            // "removal already in progress" means the engine is on it.
            Err(e) if short(&e).contains("already in progress") => Ok(()),
            Err(e) => Err(short(&e)),
        }
    }

    /// Remove images by ID, children before parents: a chain of build steps is only removable
    /// from its end, so each pass removes what it can and the next retries the rest. Returns the
    /// ones that could not be removed, with why.
    pub async fn remove_images(&self, mut ids: Vec<String>) -> Vec<(String, String)> {
        let mut failed = Vec::new();
        while !ids.is_empty() {
            failed.clear();
            let before = ids.len();
            for id in std::mem::take(&mut ids) {
                let opts = RemoveImageOptions {
                    force: true,
                    noprune: true,
                    ..Default::default()
                };
                match self.docker.remove_image(&id, Some(opts), None).await {
                    Ok(_) => {}
                    Err(e) if is_not_found(&e) => {}
                    Err(e) => {
                        failed.push((id.clone(), short(&e)));
                        ids.push(id);
                    }
                }
            }
            if ids.len() == before {
                break;
            }
        }
        failed
    }
}
