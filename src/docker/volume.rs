//! Download caches: one named volume per runtime and platform, mounted into build containers at
//! /fclayer-cache, where pip, npm, Maven and Composer keep what they download. A second build with
//! one changed requirement then downloads only that one. Volumes live in the engine, so this works
//! the same with a remote engine; they carry the `fclayer.cache` label (and no run label: they
//! outlive runs by design) and `fclayer cache prune --volumes` removes them.

use std::collections::HashMap;

use bollard::models::VolumeCreateRequest;
use bollard::query_parameters::{ListVolumesOptions, RemoveVolumeOptions};

use super::{Engine, LABEL};
use crate::error::Result;

/// Label of download-cache volumes.
pub const LABEL_CACHE: &str = "fclayer.cache";

/// Where the volume is mounted in build containers.
pub const MOUNT: &str = "/fclayer-cache";

impl Engine {
    /// The download-cache volume for `runtime` on `platform`, created on first use.
    pub async fn download_cache(&self, runtime: &str, platform: &str) -> Result<String> {
        let arch = platform.rsplit('/').next().unwrap_or(platform);
        let name = format!("fclayer-cache-{runtime}-{arch}");
        let labels = HashMap::from([
            (LABEL.to_string(), env!("CARGO_PKG_VERSION").to_string()),
            (LABEL_CACHE.to_string(), format!("{runtime} {platform}")),
        ]);
        // Creating a volume that exists returns it unchanged.
        self.docker
            .create_volume(VolumeCreateRequest {
                name: Some(name.clone()),
                labels: Some(labels),
                ..Default::default()
            })
            .await
            .map_err(|e| self.api_error(&e, "cannot create the download-cache volume"))?;
        Ok(name)
    }

    /// Every download-cache volume: (name, what it caches).
    pub async fn download_caches(&self) -> Result<Vec<(String, String)>> {
        let filters = HashMap::from([("label".to_string(), vec![LABEL_CACHE.to_string()])]);
        let list = self
            .docker
            .list_volumes(Some(ListVolumesOptions {
                filters: Some(filters),
            }))
            .await
            .map_err(|e| self.lost(&e))?;
        let mut out: Vec<(String, String)> = list
            .volumes
            .unwrap_or_default()
            .into_iter()
            .map(|v| {
                let what = v.labels.get(LABEL_CACHE).cloned().unwrap_or_default();
                (v.name, what)
            })
            .collect();
        out.sort();
        Ok(out)
    }

    pub async fn remove_volume(&self, name: &str) -> Result<()> {
        self.docker
            .remove_volume(name, Some(RemoveVolumeOptions { force: true }))
            .await
            .map_err(|e| self.api_error(&e, &format!("cannot remove volume {name}")))
    }
}
