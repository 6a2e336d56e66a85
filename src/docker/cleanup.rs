//! The one cleanup guard of a run. Whoever creates a container registers it here; `run()` removes
//! them all, whatever happened (success, error, Ctrl-C, SIGTERM). A container whose create call
//! was in flight when the run was interrupted is not registered yet, so cleanup also removes
//! everything carrying this run's label.
//!
//! The engine's own build containers (one per `RUN` step of an image build) carry no label of
//! ours: the build registers each one as the engine announces it, so an interrupted build leaves
//! none behind even when the engine is slow to cancel it. Engine 20.10 does cancel a build whose
//! client went away, killing and removing the step's container within a second; an engine that
//! kept building would fail on the removed container, or finish and tag either a Dockerfile
//! build's temporary image (which carries its dead run's owner, so gc removes it) or a build
//! image (a valid cache). The steps completed before the interrupt stay as untagged images: the
//! engine's build cache, as after an interrupted `docker build`, reused by the next build and
//! cleared by `docker builder prune`.

use std::collections::HashMap;
use std::sync::Mutex;

use bollard::query_parameters::{ListContainersOptions, ListImagesOptions};

use super::owner::{LABEL_OWNER, LABEL_RUN, Process};
use super::{Engine, short_id};

pub struct Cleanup {
    run_id: String,
    process: Process,
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
            process: Process::current(),
            containers: Mutex::new(Vec::new()),
            images: Mutex::new(Vec::new()),
        }
    }

    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// The process this run is, as its labels record it.
    pub fn process(&self) -> &Process {
        &self.process
    }

    /// Whether anything is registered for removal.
    pub fn is_empty(&self) -> bool {
        self.containers.lock().expect("cleanup lock").is_empty()
            && self.images.lock().expect("cleanup lock").is_empty()
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
            match engine.remove_container(&id).await {
                Ok(()) => removed += 1,
                Err(e) => errors.push(format!("container {}: {e}", short_id(&id))),
            }
        }
        // Images last: a container still using one would keep it alive. What goes is what this
        // run made alone: the temporary tag and the images of its run-specific label steps (all
        // carry this run's owner label). The untagged images of the Dockerfile's own steps stay:
        // they are the engine's build cache, shared with the next run.
        let tags: Vec<String> = std::mem::take(&mut *self.images.lock().expect("cleanup lock"));
        let mut ids = Vec::new();
        let owned = engine
            .docker
            .list_images(Some(ListImagesOptions {
                all: true,
                filters: Some(HashMap::from([(
                    "label".to_string(),
                    vec![format!("{LABEL_OWNER}={}", self.process.label())],
                )])),
                ..Default::default()
            }))
            .await;
        if let Ok(list) = owned {
            ids.extend(list.into_iter().map(|i| i.id));
        }
        for tag in tags {
            match engine.docker.inspect_image(&tag).await {
                Ok(i) => ids.extend(i.id),
                Err(e) if super::is_not_found(&e) => {}
                Err(e) => errors.push(format!("image {tag}: {}", super::short(&e))),
            }
        }
        ids.sort();
        ids.dedup();
        let count = ids.len();
        let failed = engine.remove_images(ids).await;
        removed += count - failed.len();
        errors.extend(
            failed
                .into_iter()
                .map(|(id, e)| format!("image {}: {e}", short_id(&id))),
        );
        (removed, errors)
    }
}

impl Default for Cleanup {
    fn default() -> Self {
        Self::new()
    }
}
