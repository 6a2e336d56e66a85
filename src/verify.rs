//! `fclayer verify`: prove a layer loads, in a container of the runtime's image.
//!
//! 1. Choose the image: `--image`, else the runtime's build image on `--base-image`, else FC's
//!    official run image for the runtime; make sure the engine can run its platform.
//! 2. List what to try from the ZIP itself: every top-level Python package and module, every
//!    Node.js package (unless `--import`/`--require` name them), and every ELF file.
//! 3. Stream the layer into `/opt` of a fresh container with networking off, set the paths FC
//!    sets, and run images/install/verify.sh: an import or require per item and `ldd` on every
//!    ELF file. Each item passes or fails with the error it gave.

use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;

use crate::console::Console;
use crate::docker::Engine;
use crate::docker::run::RunSpec;
use crate::error::{Error, Result};
use crate::extract;
use crate::images;
use crate::runtime::{Runtime, python};
use crate::tarball::TarBuilder;

/// What to verify and where.
pub struct VerifyPlan<'a> {
    pub zip: &'a Path,
    pub runtime: &'static Runtime,
    pub platform: &'static str,
    pub image: ImageChoice,
    pub imports: Vec<String>,
    pub requires: Vec<String>,
    pub timeout: Duration,
}

pub enum ImageChoice {
    /// Exactly this image.
    Image(String),
    /// The runtime's build image on this base (what `fclayer build --base-image` uses).
    BuildImageOn(String),
    /// FC's official run image for the runtime.
    FcRunImage,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Item {
    /// "import", "require" or "load".
    pub check: String,
    pub item: String,
    pub passed: bool,
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct VerifyReport {
    pub layer: String,
    pub runtime: &'static str,
    pub platform: &'static str,
    /// The engine that ran the container (Docker or Podman, versions).
    pub engine: crate::docker::discover::Identity,
    pub image: String,
    pub items: Vec<Item>,
}

impl VerifyReport {
    pub fn passed(&self) -> bool {
        self.items.iter().all(|i| i.passed)
    }
}

/// What the ZIP holds that can be tried: Python modules, Node.js packages, ELF files.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Contents {
    pub python_modules: Vec<String>,
    pub node_packages: Vec<String>,
    pub elf_files: Vec<String>,
}

/// Read the layer's listing (and the first bytes of each file) to find what to try.
pub fn contents(zip_path: &Path) -> Result<Contents> {
    let mut zip = crate::layer::open_zip(zip_path)?;
    let mut out = Contents::default();
    for i in 0..zip.len() {
        let mut f = zip
            .by_index(i)
            .map_err(|e| Error::input(format!("cannot read {}: {e}", zip_path.display())))?;
        let name = f.name().map(|n| n.into_owned()).unwrap_or_default();
        let is_link = f.unix_mode().is_some_and(|m| m & 0o170000 == 0o120000);
        if let Some(rest) = name.strip_prefix("python/")
            && let Some(m) = python_module(rest)
        {
            out.python_modules.push(m);
        }
        if let Some(rest) = name.strip_prefix("nodejs/node_modules/")
            && let Some(p) = node_package(rest)
        {
            out.node_packages.push(p);
        }
        if !f.is_dir() && !is_link {
            let mut magic = [0u8; 4];
            if f.read_exact(&mut magic).is_ok() && &magic == b"\x7fELF" && loadable(&name) {
                out.elf_files.push(name);
            }
        }
    }
    for list in [
        &mut out.python_modules,
        &mut out.node_packages,
        &mut out.elf_files,
    ] {
        list.sort();
        list.dedup();
    }
    Ok(out)
}

/// `numpy/__init__.py` → numpy; `six.py` → six; `_cffi_backend.cpython-39-x86_64-linux-gnu.so`
/// → _cffi_backend. Metadata, scripts and bundled-library folders are not modules.
fn python_module(rest: &str) -> Option<String> {
    let ident = |s: &str| {
        !s.is_empty()
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !s.starts_with(|c: char| c.is_ascii_digit())
    };
    match rest.split_once('/') {
        Some((pkg, "__init__.py")) if ident(pkg) => Some(pkg.to_string()),
        None => {
            let stem = rest.strip_suffix(".py").or_else(|| {
                rest.strip_suffix(".so")
                    .map(|s| s.split('.').next().unwrap_or(s))
            })?;
            (ident(stem) && stem != "__init__").then(|| stem.to_string())
        }
        _ => None,
    }
}

/// `bcrypt/package.json` → bcrypt; `@scope/name/package.json` → @scope/name. Type-only
/// packages (@types/*) have nothing to require.
fn node_package(rest: &str) -> Option<String> {
    let parts: Vec<&str> = rest.split('/').collect();
    let name = match parts.as_slice() {
        [scope, pkg, "package.json"] if scope.starts_with('@') => format!("{scope}/{pkg}"),
        [pkg, "package.json"] if !pkg.starts_with('.') && !pkg.starts_with('@') => pkg.to_string(),
        _ => return None,
    };
    (!name.starts_with("@types/")).then_some(name)
}

/// Shared objects and programs the loader maps; object files and archives are not loaded.
fn loadable(name: &str) -> bool {
    !(name.ends_with(".o") || name.ends_with(".a") || name.ends_with(".ko"))
}

pub async fn verify(
    plan: &VerifyPlan<'_>,
    engine: &Engine,
    console: &Console,
) -> Result<VerifyReport> {
    let found = contents(plan.zip)?;
    let rt = plan.runtime;
    let imports = if plan.imports.is_empty() {
        found.python_modules.clone()
    } else {
        plan.imports.clone()
    };
    let requires = if plan.requires.is_empty() {
        found.node_packages.clone()
    } else {
        plan.requires.clone()
    };
    for name in imports.iter().chain(&requires) {
        if name.is_empty()
            || name
                .chars()
                .any(|c| c.is_whitespace() || "'\"\\;$`".contains(c))
        {
            return Err(Error::input(format!(
                "`{name}` is not a module or package name"
            )));
        }
    }
    if !imports.is_empty() && rt.python.is_none() {
        return Err(Error::input(format!(
            "runtime {} has no Python to import modules with",
            rt.name
        )));
    }

    let image = match &plan.image {
        ImageChoice::Image(i) => {
            engine.ensure_base(i, plan.platform, console).await?;
            engine.probe_platform(plan.platform, i, console).await?;
            i.clone()
        }
        ImageChoice::BuildImageOn(base) => {
            engine
                .ensure_build_image(
                    &format!("fclayer/build-{}", rt.name),
                    images::build_context(rt)?,
                    base,
                    plan.platform,
                    console,
                )
                .await?
                .tag
        }
        ImageChoice::FcRunImage => {
            engine
                .ensure_base(rt.fc_run_image, plan.platform, console)
                .await?;
            engine
                .probe_platform(plan.platform, rt.fc_run_image, console)
                .await?;
            rt.fc_run_image.to_string()
        }
    };

    let mut env = vec![
        "PYTHONPATH=/opt/python".to_string(),
        "NODE_PATH=/opt/nodejs/node_modules".to_string(),
        "LD_LIBRARY_PATH=/opt/lib".to_string(),
        "PATH=/opt/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
        format!("FCLAYER_IMPORTS={}", imports.join(" ")),
        format!("FCLAYER_REQUIRES={}", requires.join(" ")),
    ];
    if rt.python.is_some() {
        env.push(format!("FCLAYER_PYTHON={}", python::interpreter(rt)));
    }
    let container = engine
        .create_container(&RunSpec {
            image: image.clone(),
            platform: plan.platform.to_string(),
            cmd: vec!["/bin/sh".into(), "/fclayer/verify.sh".into()],
            env,
            network_disabled: true,
            ..RunSpec::default()
        })
        .await?;

    let step = console.step("Unpacking", format!("{} into /opt", plan.zip.display()));
    let mut tools = TarBuilder::new();
    tools.dir("fclayer")?;
    let script = images::IMAGES
        .get_file("install/verify.sh")
        .expect("verify.sh embedded");
    tools.file("fclayer/verify.sh", script.contents(), true)?;
    tools.file(
        "fclayer/elf.txt",
        (found.elf_files.join("\n") + "\n").as_bytes(),
        false,
    )?;
    container.upload("/", tools.finish()?).await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(8);
    let zip = plan.zip.to_path_buf();
    let producer = tokio::task::spawn_blocking(move || {
        let mut writer = ChannelWriter { tx: tx.clone() };
        let result = layer_as_tar(&zip, &mut writer);
        if let Err(e) = &result {
            let _ = tx.blocking_send(Err(std::io::Error::other(e.message.clone())));
        }
        result
    });
    container
        .upload_stream("/opt", tokio_stream_from(rx))
        .await?;
    producer
        .await
        .map_err(|e| Error::build(format!("unpacking stopped: {e}")))??;
    step.done("");

    let step = console.step(
        "Verifying",
        format!(
            "{} imports, {} requires, {} ELF files in {image} (network off)",
            imports.len(),
            requires.len(),
            found.elf_files.len()
        ),
    );
    let exit = container.run_collect(plan.timeout, console).await?;
    container.remove().await?;
    let items = parse(&exit.lines);
    if !exit.lines.iter().any(|l| l == "fclayer: verify done") {
        drop(step);
        return Err(Error::build(format!(
            "the verification script did not finish ({})",
            exit.describe()
        ))
        .with_details(
            exit.lines
                .iter()
                .rev()
                .take(10)
                .rev()
                .map(|l| format!("| {l}")),
        )
        .with_hint(format!(
            "the image {image} needs /bin/sh, ldd and the runtime's interpreter"
        )));
    }
    let failed = items.iter().filter(|i| !i.passed).count();
    step.done(format!("{} passed, {failed} failed", items.len() - failed));
    Ok(VerifyReport {
        layer: plan.zip.display().to_string(),
        runtime: rt.name,
        platform: plan.platform,
        engine: engine.identity().clone(),
        image,
        items,
    })
}

/// Parse the script's "PASS what item" / "FAIL what item: error" lines.
pub fn parse(lines: &[String]) -> Vec<Item> {
    lines
        .iter()
        .filter_map(|line| {
            let (passed, rest) = if let Some(r) = line.strip_prefix("PASS ") {
                (true, r)
            } else {
                (false, line.strip_prefix("FAIL ")?)
            };
            let (check, rest) = rest.split_once(' ')?;
            let (item, error) = match (passed, rest.split_once(": ")) {
                (false, Some((item, err))) => (item.to_string(), Some(err.to_string())),
                _ => (rest.to_string(), None),
            };
            Some(Item {
                check: check.to_string(),
                item,
                passed,
                error,
            })
        })
        .collect()
}

/// Write the layer as a tar whose entries are relative to /opt, keeping modes and symlinks.
/// Names are checked like any other untrusted archive's.
fn layer_as_tar(zip_path: &Path, out: &mut dyn Write) -> Result<()> {
    let mut zip = crate::layer::open_zip(zip_path)?;
    let mut tar = tar::Builder::new(out);
    let fail = |e: std::io::Error| Error::build(format!("cannot stream the layer: {e}"));
    for i in 0..zip.len() {
        let mut f = zip
            .by_index(i)
            .map_err(|e| Error::input(format!("cannot read {}: {e}", zip_path.display())))?;
        let raw = f.name_raw().to_vec();
        let Some(path) = extract::layer_path(&raw, None)? else {
            continue;
        };
        let mode = f.unix_mode().unwrap_or(0o644);
        let mut h = tar::Header::new_gnu();
        h.set_mtime(0);
        h.set_mode(mode & 0o7777);
        if f.is_dir() {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_size(0);
            tar.append_data(&mut h, &path, std::io::empty())
                .map_err(fail)?;
        } else if mode & 0o170000 == 0o120000 {
            let mut target = String::new();
            f.read_to_string(&mut target).map_err(fail)?;
            let target = extract::link_target(&path, &target)?;
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            tar.append_link(&mut h, &path, &target).map_err(fail)?;
        } else {
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(f.size());
            tar.append_data(&mut h, &path, &mut f).map_err(fail)?;
        }
    }
    tar.into_inner().map_err(fail)?.flush().map_err(fail)?;
    Ok(())
}

/// A `Write` that hands its bytes to an async receiver in chunks.
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<std::io::Result<Bytes>>,
}

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.tx
            .blocking_send(Ok(Bytes::copy_from_slice(buf)))
            .map_err(|_| std::io::Error::other("the engine stopped reading the layer"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>,
) -> impl futures::Stream<Item = std::io::Result<Bytes>> + Send + 'static {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_modules_are_found_the_way_import_sees_them() {
        assert_eq!(python_module("numpy/__init__.py").as_deref(), Some("numpy"));
        assert_eq!(python_module("six.py").as_deref(), Some("six"));
        assert_eq!(
            python_module("_cffi_backend.cpython-39-x86_64-linux-gnu.so").as_deref(),
            Some("_cffi_backend")
        );
        assert_eq!(python_module("numpy/core/__init__.py"), None);
        assert_eq!(python_module("numpy-2.0.2.dist-info/METADATA"), None);
        assert_eq!(python_module("bin/f2py"), None);
        assert_eq!(python_module("numpy.libs/libopenblas.so"), None);
    }

    #[test]
    fn node_packages_include_scoped_ones_but_not_types() {
        assert_eq!(
            node_package("bcrypt/package.json").as_deref(),
            Some("bcrypt")
        );
        assert_eq!(
            node_package("@scope/x/package.json").as_deref(),
            Some("@scope/x")
        );
        assert_eq!(node_package("@types/node/package.json"), None);
        assert_eq!(node_package("bcrypt/lib/package.json"), None);
        assert_eq!(node_package(".bin/package.json"), None);
    }

    #[test]
    fn script_lines_parse_into_items() {
        let lines = vec![
            "PASS import numpy".to_string(),
            "FAIL import broken: ModuleNotFoundError: No module named 'nothere'".to_string(),
            "FAIL load lib/x.so: libfoo.so.1 => not found".to_string(),
            "fclayer: verify done".to_string(),
        ];
        let items = parse(&lines);
        assert_eq!(items.len(), 3);
        assert!(items[0].passed && items[0].item == "numpy");
        assert_eq!(
            items[1].error.as_deref(),
            Some("ModuleNotFoundError: No module named 'nothere'")
        );
        assert_eq!(items[2].check, "load");
        assert_eq!(items[2].item, "lib/x.so");
    }
}
