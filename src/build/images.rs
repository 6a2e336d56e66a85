//! Step 2 of an installer build: which images the installers run in. On the target platform
//! (natively, or under emulation with --emulate or for what needs the target) that is the
//! runtime's build image on its base. A cross-platform build of Python or Node.js starts from the
//! fetch image on the engine's own platform instead; the target's build image is built (under
//! emulation) only if something needs it (`target_image`).

use crate::console::Console;
use crate::docker::Engine;
use crate::docker::image::BuildImage;
use crate::error::Result;
use crate::images;
use crate::manifest::ImageRef;
use crate::plan::BuildPlan;
use crate::runtime::Kind;

/// The images an installer build runs in.
pub(super) enum Images {
    /// The runtime's build image for the target platform.
    Native(BuildImage),
    /// A cross-platform build: the fetch image on the engine's own platform, and what decides
    /// the target's build image should a part need emulation.
    Cross {
        fetch: BuildImage,
        /// The engine's own platform, which the fetch image runs on.
        native: String,
        /// The target's base image: its name and ID.
        base: String,
        base_id: String,
        /// The hash of the target build image's context (Dockerfile and scripts).
        context_hash: String,
    },
}

/// Whether a build of these kinds runs cross-platform: the engine's platform is not the target,
/// --emulate was not asked for, and part of the install (Python, Node.js) can be fetched natively.
pub(super) fn is_cross(native: &str, plan: &BuildPlan) -> bool {
    native != plan.platform
        && !plan.emulate
        && plan
            .mode
            .kinds()
            .iter()
            .any(|k| matches!(k, Kind::Python | Kind::Node))
}

/// Find or build the images `plan` needs.
pub(super) async fn resolve(
    plan: &BuildPlan,
    engine: &Engine,
    console: &Console,
) -> Result<Images> {
    let native = engine.native_platform().await?;
    let ca = plan.ca.as_ref().map(|c| c.pem.as_slice());
    let context = images::build_context(plan.runtime, ca)?;
    if !is_cross(&native, plan) {
        let image = engine
            .ensure_build_image(
                &plan.runtime.build_image_repo(),
                context,
                &plan.base_image,
                plan.platform,
                console,
            )
            .await?;
        return Ok(Images::Native(image));
    }
    let base = engine
        .ensure_base(&plan.base_image, plan.platform, console)
        .await?;
    let fetch = engine
        .ensure_build_image(
            "fclayer/fetch",
            images::fetch_context(ca)?,
            &plan.native_base,
            &native,
            console,
        )
        .await?;
    Ok(Images::Cross {
        fetch,
        native,
        base: plan.base_image.clone(),
        base_id: base.id.unwrap_or_default(),
        context_hash: context.hash,
    })
}

impl Images {
    /// The build image the manifest records: a cross build names the fetch image, on the
    /// target's base.
    pub(super) fn image_ref(&self) -> ImageRef {
        match self {
            Images::Native(image) => ImageRef {
                tag: image.tag.clone(),
                id: image.id.clone(),
                base: image.base.clone(),
                base_id: image.base_id.clone(),
            },
            Images::Cross {
                fetch,
                base,
                base_id,
                ..
            } => ImageRef {
                tag: fetch.tag.clone(),
                id: fetch.id.clone(),
                base: base.clone(),
                base_id: base_id.clone(),
            },
        }
    }

    /// What of the images decides the layer's bytes, for the cache key.
    pub(super) fn identity(&self) -> String {
        match self {
            Images::Native(image) => image.id.clone(),
            Images::Cross {
                fetch,
                base_id,
                context_hash,
                ..
            } => format!("cross {} {base_id} {context_hash}", fetch.id),
        }
    }
}

/// The target's build image, checked to run on the target platform, and its download-cache
/// volume: what a cross build's emulated part runs in.
pub(super) async fn target_image(
    plan: &BuildPlan,
    engine: &Engine,
    console: &Console,
) -> Result<(BuildImage, String)> {
    let image = engine
        .ensure_build_image(
            &plan.runtime.build_image_repo(),
            images::build_context(plan.runtime, plan.ca.as_ref().map(|c| c.pem.as_slice()))?,
            &plan.base_image,
            plan.platform,
            console,
        )
        .await?;
    engine
        .probe_platform(plan.platform, &image.tag, console)
        .await?;
    let volume = engine
        .download_cache(plan.runtime.name, plan.platform)
        .await?;
    Ok((image, volume))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::tests::plan_for;

    fn image(tag: &str, id: &str) -> BuildImage {
        BuildImage {
            tag: tag.into(),
            id: id.into(),
            base: "debian:11".into(),
            base_id: "sha256:base".into(),
        }
    }

    #[test]
    fn only_python_or_node_on_another_platform_without_emulate_is_cross() {
        let arm = plan_for(
            &["--runtime", "python3.9", "--platform", "linux/arm64"],
            &[],
        );
        assert!(is_cross("linux/amd64", &arm));
        assert!(!is_cross("linux/arm64", &arm));
        let emulate = plan_for(
            &[
                "--runtime",
                "python3.9",
                "--platform",
                "linux/arm64",
                "--emulate",
            ],
            &[],
        );
        assert!(!is_cross("linux/amd64", &emulate));
    }

    #[test]
    fn a_cross_build_records_the_fetch_image_on_the_target_base() {
        let cross = Images::Cross {
            fetch: image("fclayer/fetch:1", "sha256:fetch"),
            native: "linux/amd64".into(),
            base: "debian:12-arm64".into(),
            base_id: "sha256:arm".into(),
            context_hash: "ctx".into(),
        };
        let r = cross.image_ref();
        assert_eq!(
            (r.tag.as_str(), r.base.as_str(), r.base_id.as_str()),
            ("fclayer/fetch:1", "debian:12-arm64", "sha256:arm")
        );
        assert_eq!(cross.identity(), "cross sha256:fetch sha256:arm ctx");
        let native = Images::Native(image("fclayer/build-python3.9:2", "sha256:b"));
        assert_eq!(native.identity(), "sha256:b");
        assert_eq!(native.image_ref().base, "debian:11");
    }
}
