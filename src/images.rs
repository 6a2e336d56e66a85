//! The build images' Dockerfiles and the scripts that run inside build containers, embedded in the
//! binary so that a lone `fclayer` works anywhere.
//!
//! - `images/debianN/<runtime>/Dockerfile`: one per FC runtime; its context is the Dockerfile plus
//!   `images/common/` (setup scripts run at image build time).
//! - `images/install/`: installer scripts uploaded into each build container at run time, so an
//!   installer change does not rebuild images.

use include_dir::{Dir, include_dir};
use sha2::{Digest, Sha256};

use crate::error::Result;
use crate::runtime::Runtime;
use crate::tarball::TarBuilder;

pub static IMAGES: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/images");

/// A build context ready to send to the engine, and the hash that names the image it makes.
pub struct Context {
    pub tar: Vec<u8>,
    /// sha256 of the context's bytes (Dockerfile and scripts).
    pub hash: String,
}

/// The build context of `runtime`'s build image. `ca`: the CA bundle the image build's HTTPS
/// needs (uv's download from PyPI, common/setup-uv.sh), when the user gave one.
pub fn build_context(runtime: &Runtime, ca: Option<&[u8]>) -> Result<Context> {
    context(&format!("{}/Dockerfile", runtime.dockerfile_dir()), ca)
}

/// The build context of the fetch image (cross-platform builds, see `build::cross`).
pub fn fetch_context(ca: Option<&[u8]>) -> Result<Context> {
    context("fetch/Dockerfile", ca)
}

/// A context of the embedded Dockerfile at `path` plus the shared setup scripts, and `ca` as
/// `common/build-ca.crt`. The hash that names the image leaves the CA out: it only lets the
/// download through a TLS-intercepting proxy, and what is downloaded is pinned by sha256, so
/// the image is the same whichever CA fetched it (and a changed CA does not rebuild it).
fn context(path: &str, ca: Option<&[u8]>) -> Result<Context> {
    let dockerfile = IMAGES
        .get_file(path)
        .unwrap_or_else(|| panic!("images/{path} is embedded (checked by a test)"));
    let tar = |ca: Option<&[u8]>| -> Result<Vec<u8>> {
        let mut tar = TarBuilder::new();
        tar.file("Dockerfile", dockerfile.contents(), false)?;
        add_tree(&mut tar, "common", "common")?;
        if let Some(pem) = ca {
            tar.file("common/build-ca.crt", pem, false)?;
        }
        tar.finish()
    };
    let hash = hex::encode(Sha256::digest(tar(None)?));
    Ok(Context {
        tar: tar(ca)?,
        hash,
    })
}

/// The Dockerfile text of a runtime's build image.
#[cfg(test)]
fn dockerfile(runtime: &Runtime) -> &'static str {
    IMAGES
        .get_file(format!("{}/Dockerfile", runtime.dockerfile_dir()))
        .and_then(|f| f.contents_utf8())
        .unwrap_or("")
}

/// Add the embedded directory `src` (and below) to `tar` under `dest`, sorted by path.
pub fn add_tree(tar: &mut TarBuilder, src: &str, dest: &str) -> Result<()> {
    let dir = IMAGES
        .get_dir(src)
        .unwrap_or_else(|| panic!("images/{src} is embedded"));
    let mut files: Vec<(String, &[u8])> = Vec::new();
    collect(dir, src, dest, &mut files);
    files.sort();
    let mut dirs: Vec<String> = Vec::new();
    for (path, data) in files {
        // Parent directories first, once each.
        let mut parents: Vec<&str> = path.match_indices('/').map(|(i, _)| &path[..i]).collect();
        parents.retain(|p| !dirs.iter().any(|d| d == p));
        for p in parents {
            tar.dir(p)?;
            dirs.push(p.to_string());
        }
        tar.file(&path, data, path.ends_with(".sh"))?;
    }
    Ok(())
}

fn collect<'a>(dir: &'a Dir<'a>, src: &str, dest: &str, out: &mut Vec<(String, &'a [u8])>) {
    for f in dir.files() {
        let rel = f.path().strip_prefix(src).expect("below src");
        out.push((format!("{dest}/{}", rel.to_string_lossy()), f.contents()));
    }
    for d in dir.dirs() {
        collect(d, src, dest, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::RUNTIMES;

    #[test]
    fn contexts_are_reproducible_and_differ_per_runtime() {
        let a = build_context(Runtime::find("python3.9").unwrap(), None).unwrap();
        let b = build_context(Runtime::find("python3.9").unwrap(), Some(b"pem")).unwrap();
        let c = build_context(Runtime::find("python3.10").unwrap(), None).unwrap();
        assert_eq!(a.hash, b.hash, "the CA is not part of the image's identity");
        assert_ne!(a.tar, b.tar, "but it is in the context");
        assert_ne!(a.hash, c.hash);
    }

    #[test]
    fn fetch_context_builds() {
        let ctx = fetch_context(None).unwrap();
        assert_ne!(
            ctx.hash,
            build_context(Runtime::find("custom.debian12").unwrap(), None)
                .unwrap()
                .hash
        );
    }

    #[test]
    fn context_holds_dockerfile_and_common_scripts() {
        let ctx = build_context(Runtime::find("custom.debian12").unwrap(), None).unwrap();
        let mut ar = tar::Archive::new(&ctx.tar[..]);
        let names: Vec<String> = ar
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        assert!(names.contains(&"Dockerfile".to_string()));
        assert!(
            names.contains(&"common/setup-python.sh".to_string()),
            "{names:?}"
        );
    }

    #[test]
    fn dockerfiles_take_an_overridable_base_and_name_their_release() {
        for rt in RUNTIMES {
            let text = dockerfile(rt);
            assert!(text.contains("ARG BASE_IMAGE="), "{}", rt.name);
            assert!(text.contains("FROM ${BASE_IMAGE}"), "{}", rt.name);
            assert!(
                text.contains(&format!("Debian {}", rt.debian.number())),
                "{}: Dockerfile does not name its Debian release",
                rt.name
            );
            assert!(text.contains(rt.fc_build_image), "{}", rt.name);
        }
    }
}
