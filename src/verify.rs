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

use serde::Serialize;

use crate::cli::VerifyArgs;
use crate::console::Console;
use crate::docker::Engine;
use crate::docker::run::{Container, RunSpec};
use crate::error::{Error, Result};
use crate::extract;
use crate::images;
use crate::layer::read::{Kind, LayerZip};
use crate::runtime::apt::loadable;
use crate::runtime::node::package_name as node_package;
use crate::runtime::python::module_name as python_module;
use crate::runtime::{Arch, Runtime, python};
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

impl VerifyPlan<'_> {
    /// Check the command line before any engine is contacted: the runtime, the platform, the
    /// ZIP, the names given.
    pub fn new(args: &VerifyArgs) -> Result<VerifyPlan<'_>> {
        let runtime = Runtime::lookup(&args.runtime)?;
        let arch = match &args.platform {
            None => Arch::X86_64,
            Some(p) => Arch::parse(p)?,
        };
        if !args.zip.is_file() {
            return Err(
                Error::input(format!("{} is not a file", args.zip.display()))
                    .with_hint("give the layer ZIP to verify"),
            );
        }
        for name in args.imports.iter().chain(&args.requires) {
            check_name(name)?;
        }
        Ok(VerifyPlan {
            zip: &args.zip,
            runtime,
            platform: arch.platform(),
            image: match (&args.image, &args.base_image) {
                (Some(i), _) => ImageChoice::Image(i.clone()),
                (None, Some(b)) => ImageChoice::BuildImageOn(b.clone()),
                (None, None) => ImageChoice::FcRunImage,
            },
            imports: args.imports.clone(),
            requires: args.requires.clone(),
            timeout: Duration::from_secs(args.timeout.max(1)),
        })
    }
}

/// A module or package name to try. images/install/verify.sh splits FCLAYER_IMPORTS and
/// FCLAYER_REQUIRES at blanks and pastes each name into code it runs (`python -c "import $m"`,
/// `node -e "require('$p')"`), so a quote, backslash, semicolon, `$` or backquote could run
/// something else: an injection guard, for the names given and those read from the ZIP alike.
fn check_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name
            .chars()
            .any(|c| c.is_whitespace() || "'\"\\;$`".contains(c))
    {
        return Err(Error::input(format!(
            "`{name}` is not a module or package name"
        )));
    }
    Ok(())
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
    pub engine: Option<crate::docker::discover::Identity>,
    pub image: String,
    pub items: Vec<Item>,
}

impl VerifyReport {
    pub fn passed(&self) -> bool {
        self.items.iter().all(|i| i.passed)
    }

    /// One line per item that did not load: what was tried, and its error.
    pub fn failures(&self) -> Vec<String> {
        self.items
            .iter()
            .filter(|i| !i.passed)
            .map(|i| {
                format!(
                    "{} {}: {}",
                    i.check,
                    i.item,
                    i.error.as_deref().unwrap_or("failed")
                )
            })
            .collect()
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
    let mut zip = LayerZip::open(zip_path)?;
    let mut out = Contents::default();
    for i in 0..zip.len() {
        let e = zip.entry(i)?;
        // A name that cannot land where it says is refused when the layer is streamed.
        let Some(name) = e.path().map(str::to_string) else {
            continue;
        };
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
        if e.kind == Kind::File {
            let mut magic = [0u8; 4];
            if zip.open_entry(&e)?.read_exact(&mut magic).is_ok()
                && magic == crate::native::elf::MAGIC
                && loadable(&name)
            {
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

/// What to try in the layer: the names to import and require, and the ELF files to load.
struct Items {
    imports: Vec<String>,
    requires: Vec<String>,
    elf_files: Vec<String>,
}

/// Run the verification: what to try, the image, a container with the layer in /opt, the
/// script's report.
pub async fn verify(
    plan: &VerifyPlan<'_>,
    engine: &Engine,
    console: &Console,
) -> Result<VerifyReport> {
    let items = items(plan)?;
    let image = resolve_image(plan, engine, console).await?;
    let container = create_container(plan, &image, &items, engine).await?;
    upload_layer(plan, &container, &items, console).await?;
    let mut report = run_and_report(plan, container, image, &items, console).await?;
    report.engine = Some(engine.identity().clone());
    Ok(report)
}

/// What to try: the names given, else what the ZIP holds; every ELF file.
fn items(plan: &VerifyPlan<'_>) -> Result<Items> {
    let found = contents(plan.zip)?;
    let pick = |given: &[String], found: Vec<String>| {
        if given.is_empty() {
            found
        } else {
            given.to_vec()
        }
    };
    let imports = pick(&plan.imports, found.python_modules);
    let requires = pick(&plan.requires, found.node_packages);
    for name in imports.iter().chain(&requires) {
        check_name(name)?;
    }
    if !imports.is_empty() && plan.runtime.python.is_none() {
        return Err(Error::input(format!(
            "runtime {} has no Python to import modules with",
            plan.runtime.name
        )));
    }
    Ok(Items {
        imports,
        requires,
        elf_files: found.elf_files,
    })
}

/// The image to verify in, present and runnable on the plan's platform.
async fn resolve_image(
    plan: &VerifyPlan<'_>,
    engine: &Engine,
    console: &Console,
) -> Result<String> {
    let rt = plan.runtime;
    let image = match &plan.image {
        ImageChoice::Image(i) => i.clone(),
        ImageChoice::BuildImageOn(base) => {
            // Building the image downloads uv from PyPI: the host's CA bundle lets that through
            // a TLS-intercepting proxy, as it does for `fclayer build`.
            let ca = std::env::var_os("SSL_CERT_FILE").and_then(|p| std::fs::read(p).ok());
            let image = engine
                .ensure_build_image(
                    &rt.build_image_repo(),
                    images::build_context(rt, ca.as_deref())?,
                    base,
                    plan.platform,
                    console,
                )
                .await?;
            return Ok(image.tag);
        }
        ImageChoice::FcRunImage => rt.fc_run_image.to_string(),
    };
    engine.ensure_base(&image, plan.platform, console).await?;
    engine
        .probe_platform(plan.platform, &image, console)
        .await?;
    Ok(image)
}

/// A container of `image` with networking off and the paths FC sets, to run verify.sh in.
async fn create_container(
    plan: &VerifyPlan<'_>,
    image: &str,
    items: &Items,
    engine: &Engine,
) -> Result<Container> {
    let mut env = vec![
        "PYTHONPATH=/opt/python".to_string(),
        "NODE_PATH=/opt/nodejs/node_modules".to_string(),
        "LD_LIBRARY_PATH=/opt/lib".to_string(),
        "PATH=/opt/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
        format!("FCLAYER_IMPORTS={}", items.imports.join(" ")),
        format!("FCLAYER_REQUIRES={}", items.requires.join(" ")),
    ];
    if plan.runtime.python.is_some() {
        env.push(format!(
            "FCLAYER_PYTHON={}",
            python::interpreter(plan.runtime)
        ));
    }
    engine
        .create_container(&RunSpec {
            image: image.to_string(),
            platform: plan.platform.to_string(),
            cmd: vec!["/bin/sh".into(), "/fclayer/verify.sh".into()],
            env,
            network_disabled: true,
            ..RunSpec::default()
        })
        .await
}

/// The script and its list of ELF files at /fclayer, the layer streamed into /opt.
async fn upload_layer(
    plan: &VerifyPlan<'_>,
    container: &Container,
    items: &Items,
    console: &Console,
) -> Result<()> {
    let step = console.step("Unpacking", format!("{} into /opt", plan.zip.display()));
    let mut tools = TarBuilder::new();
    tools.dir("fclayer")?;
    let script = images::IMAGES
        .get_file("install/verify.sh")
        .expect("verify.sh embedded");
    tools.file("fclayer/verify.sh", script.contents(), true)?;
    tools.file(
        "fclayer/elf.txt",
        (items.elf_files.join("\n") + "\n").as_bytes(),
        false,
    )?;
    container.upload("/", tools.finish()?).await?;
    let zip = plan.zip.to_path_buf();
    container
        .upload_with("/opt", move |out| layer_as_tar(&zip, out))
        .await?;
    step.done("");
    Ok(())
}

/// Run verify.sh, remove the container, and read each item's verdict from its output.
async fn run_and_report(
    plan: &VerifyPlan<'_>,
    container: Container,
    image: String,
    items: &Items,
    console: &Console,
) -> Result<VerifyReport> {
    let step = console.step(
        "Verifying",
        format!(
            "{} imports, {} requires, {} ELF files in {image} (network off)",
            items.imports.len(),
            items.requires.len(),
            items.elf_files.len()
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
        runtime: plan.runtime.name,
        platform: plan.platform,
        engine: None,
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
    let mut zip = LayerZip::open(zip_path)?;
    let mut tar = tar::Builder::new(out);
    let fail = |e: std::io::Error| Error::build(format!("cannot stream the layer: {e}"));
    for i in 0..zip.len() {
        let e = zip.entry(i)?;
        // The packer's rule: every name issue is refused.
        let Some(path) = e.strict_path()? else {
            continue;
        };
        let mode = e.mode.unwrap_or(0o644);
        let mut h = tar::Header::new_gnu();
        h.set_mtime(0);
        h.set_mode(mode & 0o7777);
        match e.kind {
            Kind::Dir => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
                tar.append_data(&mut h, path, std::io::empty())
                    .map_err(fail)?;
            }
            Kind::Symlink => {
                let target = zip.link_target(&e)?;
                let target = extract::link_target(path, &target)?;
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                tar.append_link(&mut h, path, &target).map_err(fail)?;
            }
            Kind::File => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(e.size);
                tar.append_data(&mut h, path, zip.open_entry(&e)?)
                    .map_err(fail)?;
            }
        }
    }
    tar.into_inner().map_err(fail)?.flush().map_err(fail)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_could_break_out_of_the_script_are_refused() {
        for bad in [
            "",
            "os; rm -rf /",
            "a b",
            "x$(id)",
            "`id`",
            "a'b",
            "a\"b",
            "a\\b",
        ] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        for good in ["numpy", "@scope/pkg", "_cffi_backend", "left-pad"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
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
