//! Step 3 of an installer build, and its counterpart in step 7: the build cache. Everything
//! that decides the layer's bytes is hashed into a key (see `cache`); a hit puts the stored ZIP
//! into place without starting a container, and a fresh layer is stored under its key.

use std::path::{Path, PathBuf};
use std::time::Instant;

use sha2::{Digest, Sha256};

use super::Outcome;
use super::images::Images;
use super::record::{frozen_with_lock, write_manifest};
use crate::cache::{self, BuildCache, KeyBuilder};
use crate::console::Console;
use crate::error::Result;
use crate::layer::pack::PackOptions;
use crate::layer::{LayerInfo, Output};
use crate::manifest::{self, Manifest};
use crate::plan::BuildPlan;

/// Everything that decides the layer's bytes, hashed (see `cache`).
pub(super) fn key(
    plan: &BuildPlan,
    images: &Images,
    inputs: &[u8],
    manifest: &Manifest,
    pack: &PackOptions,
) -> String {
    let mut k = KeyBuilder::new();
    k.part("runtime", plan.runtime.name.as_bytes())
        .part("platform", plan.platform.as_bytes())
        .part("image", images.identity().as_bytes())
        .part("inputs", &Sha256::digest(inputs))
        .part("apt", plan.mode.apt().join(" ").as_bytes())
        .part("mtime", format!("{:?}", pack.mtime).as_bytes())
        .part("level", &pack.level.to_le_bytes())
        .part("zip", crate::layer::pack::FORMAT.as_bytes())
        .part("bytecode", &[u8::from(plan.bytecode)])
        .part("slim", &[u8::from(plan.slim)]);
    // --node: a custom runtime's Node.js (engines.node is in the inputs already). Only when
    // given, so that every other build keeps its key.
    if let Some(node) = &plan.node {
        k.part("node", node.as_bytes());
    }
    for kind in plan.mode.kinds() {
        k.part("kind", kind.name().as_bytes());
        if *kind == crate::runtime::Kind::Python {
            // uv and pip install the same packages but write different metadata.
            k.part("installer", plan.python_installer.name().as_bytes());
        }
    }
    // The generated requirements are in `inputs`; the groups and extras that chose them, and the
    // file read, are named too, so that two selections never share a key by accident. A plain
    // requirements.txt keeps the key it had before there were other formats.
    if let Some(py) = plan.python.as_ref().filter(|p| {
        p.file != "requirements.txt"
            || !p.selection.groups.is_empty()
            || !p.selection.extras.is_empty()
    }) {
        k.part("python-input", py.file.as_bytes())
            .part("python-groups", py.selection.groups.join(",").as_bytes())
            .part("python-extras", py.selection.extras.join(",").as_bytes());
    }
    for (name, value) in &manifest.env {
        k.part(name, value.as_bytes());
    }
    k.finish()
}

/// A layer found in the build cache.
pub(super) struct Hit {
    zip: PathBuf,
    meta: cache::Meta,
}

/// The cached layer for `key`, when the plan uses the cache and it holds one.
pub(super) fn lookup(plan: &BuildPlan, key: &str) -> Option<Hit> {
    if !plan.use_cache {
        return None;
    }
    let (zip, meta) = BuildCache::open().lookup(key)?;
    Some(Hit { zip, meta })
}

impl Hit {
    /// The stored ZIP goes into place; no container starts. `fresh` is this build's manifest
    /// so far (image and inputs).
    pub(super) fn commit(
        self,
        plan: &BuildPlan,
        output: Output,
        fresh: Manifest,
        started: Instant,
        console: &Console,
    ) -> Result<Outcome> {
        let mut manifest: Manifest =
            serde_json::from_value(self.meta.manifest.clone()).unwrap_or_else(|_| fresh.clone());
        // The stored manifest names the output it was first written to; the rest is this build's.
        manifest.build_image = fresh.build_image;
        manifest.inputs = fresh.inputs;
        if plan.frozen {
            frozen_with_lock(
                plan.python.as_ref(),
                &manifest::path_for(&plan.output),
                &manifest,
            )?;
        }
        let target_path = output.target().to_path_buf();
        output.commit_copy(&self.zip, &self.meta.sha256)?;
        let info = self.meta.layer_info(&target_path);
        write_manifest(&target_path, &manifest, console);
        super::summary(console, &info, started, true);
        Ok(Outcome {
            layer: info,
            cache_hit: true,
            image: manifest.build_image.tag.clone(),
            image_id: manifest.build_image.id.clone(),
            seconds: started.elapsed().as_secs_f64(),
        })
    }
}

/// Store a fresh layer under its key; a failure only warns (the layer is in place already).
pub(super) fn store(
    key: &str,
    plan: &BuildPlan,
    zip: &Path,
    info: &LayerInfo,
    manifest: &Manifest,
    console: &Console,
) {
    let meta = meta(key, plan, info, manifest);
    if let Err(e) = BuildCache::open().store(key, zip, &meta) {
        console.warn(format!(
            "could not store the layer in the build cache: {}",
            e.message
        ));
    }
}

fn meta(key: &str, plan: &BuildPlan, info: &LayerInfo, manifest: &Manifest) -> cache::Meta {
    cache::Meta {
        key: key.to_string(),
        runtime: plan.runtime.name.into(),
        platform: plan.platform.into(),
        project: plan.project.display().to_string(),
        sha256: info.sha256.clone(),
        crc64: info.crc64.clone(),
        size: info.size,
        files: info.files,
        dirs: info.dirs,
        symlinks: info.symlinks,
        unpacked_size: info.unpacked_size,
        top_level: info.top_level.clone(),
        manifest: serde_json::to_value(manifest).expect("manifest serialises"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::image::BuildImage;
    use crate::plan::tests::plan_for;

    fn native(id: &str) -> Images {
        Images::Native(BuildImage {
            tag: "fclayer/build-python3.9:x".into(),
            id: id.into(),
            base: "debian:11".into(),
            base_id: String::new(),
        })
    }

    #[test]
    fn the_key_follows_image_inputs_and_environment() {
        let plan = plan_for(&["--runtime", "python3.9"], &[]);
        let pack = PackOptions::default();
        let manifest = Manifest::default();
        let base = key(&plan, &native("a"), b"tar", &manifest, &pack);
        assert_eq!(base, key(&plan, &native("a"), b"tar", &manifest, &pack));
        assert_ne!(base, key(&plan, &native("b"), b"tar", &manifest, &pack));
        assert_ne!(base, key(&plan, &native("a"), b"tar2", &manifest, &pack));
        let mut with_env = Manifest::default();
        with_env
            .env
            .insert("PIP_INDEX_URL".into(), "https://idx".into());
        assert_ne!(base, key(&plan, &native("a"), b"tar", &with_env, &pack));
        let pip = plan_for(&["--runtime", "python3.9", "--installer", "pip"], &[]);
        assert_ne!(
            base,
            key(&pip, &native("a"), b"tar", &manifest, &pack),
            "a pip build must not be served a cached uv layer"
        );
        let mut extras = plan_for(&["--runtime", "python3.9"], &[]);
        extras.python.as_mut().unwrap().selection.extras = vec!["socks".into()];
        assert_ne!(base, key(&extras, &native("a"), b"tar", &manifest, &pack));
        let mut other_file = plan_for(&["--runtime", "python3.9"], &[]);
        other_file.python.as_mut().unwrap().file = "requirements-prod.txt".into();
        assert_ne!(
            base,
            key(&other_file, &native("a"), b"tar", &manifest, &pack)
        );
    }

    #[test]
    fn no_cache_means_no_lookup() {
        let plan = plan_for(&["--runtime", "python3.9", "--no-cache"], &[]);
        assert!(lookup(&plan, "any").is_none());
    }
}
