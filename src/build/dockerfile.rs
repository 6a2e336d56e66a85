//! Dockerfile mode, steps 2 and 4 in one: build the user's image, then a container of it that
//! never runs: /opt is read straight from its filesystem. No installer runs and no cache is
//! used (the image build has its own).

use crate::console::Console;
use crate::docker::Engine;
use crate::docker::image::UserDockerfile;
use crate::docker::run::{Container, RunSpec};
use crate::error::{Error, Result};
use crate::manifest::ImageRef;
use crate::plan::{BuildPlan, DockerfileSpec};

/// The container holding the built image's /opt, and the image as the manifest records it.
pub(super) async fn container(
    plan: &BuildPlan,
    spec: &DockerfileSpec,
    context: Vec<u8>,
    dockerfile: String,
    engine: &Engine,
    console: &Console,
) -> Result<(Container, ImageRef)> {
    let image = engine
        .build_user_image(
            context,
            dockerfile,
            UserDockerfile {
                path: &spec.dockerfile,
                build_args: &spec.build_args,
                target: spec.target.as_deref(),
            },
            plan.platform,
            console,
        )
        .await?;
    let id = engine
        .image(&image)
        .await?
        .and_then(|i| i.id)
        .unwrap_or_default();
    // The temporary image goes with the run's cleanup, after the container.
    let container = engine
        .create_container(&RunSpec {
            image: image.clone(),
            platform: plan.platform.to_string(),
            cmd: vec!["/fclayer-never-runs".into()],
            ..RunSpec::default()
        })
        .await?;
    if !container.has_path("/opt").await? {
        container.remove().await?;
        return Err(Error::build(format!(
            "the image built from {} has no /opt: nothing to put in the layer",
            spec.dockerfile.display()
        ))
        .with_hint("install what the layer should hold below /opt in the Dockerfile (e.g. /opt/bin, /opt/lib, /opt/python)"));
    }
    let image = ImageRef {
        tag: spec.dockerfile.display().to_string(),
        id,
        base: String::new(),
        base_id: String::new(),
    };
    Ok((container, image))
}
