//! The one cleanup guard of a run. Whoever creates a container registers it here; `run()` removes
//! them all, whatever happened (success, error, Ctrl-C, SIGTERM). A container whose create call
//! was in flight when the run was interrupted is not registered yet, so cleanup also removes
//! everything carrying this run's label.

use std::collections::HashMap;
use std::sync::Mutex;

use bollard::query_parameters::{
    ListContainersOptions, RemoveContainerOptions, RemoveImageOptions,
};

use super::{Engine, LABEL_RUN};

pub struct Cleanup {
    run_id: String,
    containers: Mutex<Vec<String>>,
    images: Mutex<Vec<String>>,
}

impl Cleanup {
    pub fn new() -> Cleanup {
        // Unique enough across processes and hosts sharing an engine: pid, time and a hash of both.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let run_id = format!("{:x}-{:x}", std::process::id(), nanos);
        Cleanup {
            run_id,
            containers: Mutex::new(Vec::new()),
            images: Mutex::new(Vec::new()),
        }
    }

    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    pub fn add_container(&self, id: &str) {
        self.containers
            .lock()
            .expect("cleanup lock")
            .push(id.to_string());
    }

    /// A temporary image (tag) to remove once the run's containers are gone.
    pub fn add_image(&self, tag: &str) {
        self.images
            .lock()
            .expect("cleanup lock")
            .push(tag.to_string());
    }

    pub fn forget_container(&self, id: &str) {
        self.containers
            .lock()
            .expect("cleanup lock")
            .retain(|c| c != id);
    }

    /// Remove every container this run created. Returns how many were removed and the errors
    /// met (an engine that went away cannot be cleaned; `fclayer gc` can later).
    pub async fn run(&self, engine: &Engine) -> (usize, Vec<String>) {
        let mut ids: Vec<String> =
            std::mem::take(&mut *self.containers.lock().expect("cleanup lock"));
        let filters = HashMap::from([(
            "label".to_string(),
            vec![format!("{LABEL_RUN}={}", self.run_id)],
        )]);
        let listed = engine
            .docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(filters),
                ..Default::default()
            }))
            .await;
        if let Ok(list) = listed {
            for c in list {
                if let Some(id) = c.id
                    && !ids
                        .iter()
                        .any(|i| id.starts_with(i.as_str()) || i.starts_with(id.as_str()))
                {
                    ids.push(id);
                }
            }
        }
        let mut removed = 0;
        let mut errors = Vec::new();
        for id in ids {
            match remove_container(engine, &id).await {
                Ok(()) => removed += 1,
                Err(e) => errors.push(format!("container {}: {e}", &id[..id.len().min(12)])),
            }
        }
        // Images last: a container still using one would keep it alive. The tag goes; the
        // untagged build steps stay as the engine's build cache for the next run.
        let images: Vec<String> = std::mem::take(&mut *self.images.lock().expect("cleanup lock"));
        for tag in images {
            let opts = RemoveImageOptions {
                force: true,
                noprune: true,
                ..Default::default()
            };
            match engine.docker.remove_image(&tag, Some(opts), None).await {
                Ok(_) => removed += 1,
                Err(e) if super::is_not_found(&e) => {}
                Err(e) => errors.push(format!("image {tag}: {}", super::short(&e))),
            }
        }
        (removed, errors)
    }
}

impl Default for Cleanup {
    fn default() -> Self {
        Self::new()
    }
}

/// Force-remove a container and its anonymous volumes; a container already gone is fine.
pub async fn remove_container(engine: &Engine, id: &str) -> Result<(), String> {
    let opts = RemoveContainerOptions {
        force: true,
        v: true,
        ..Default::default()
    };
    match engine.docker.remove_container(id, Some(opts)).await {
        Ok(()) => Ok(()),
        Err(e) if super::is_not_found(&e) => Ok(()),
        // "removal already in progress" means the engine is on it.
        Err(e) if super::short(&e).contains("already in progress") => Ok(()),
        Err(e) => Err(super::short(&e)),
    }
}
