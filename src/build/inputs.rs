//! Step 1 of a build: what is sent to the engine, read from the project before any engine is
//! contacted, so a hostile project (symlinks leading out of it) fails first.
//!
//! In installer mode the tar uploaded at `/` of the build container is listed as data first
//! (`fixed_entries`: scripts, hook, CA, `provided.txt`; cargo's `ArchiveFile` habit), then
//! written, then followed by the project's own files, which `project::add_inputs` walks.

use std::collections::BTreeMap;

use crate::error::Result;
use crate::images;
use crate::layer::Output;
use crate::native::Target;
use crate::plan::{BuildPlan, Mode};
use crate::project;
use crate::runtime::Kind;
use crate::tarball::TarBuilder;

/// Where inputs land in the build container.
pub(super) const INPUT_ROOT: &str = "fclayer";

/// What is sent to the engine, read from the project before any engine is contacted.
pub enum Inputs {
    /// The tar uploaded at `/` of the build container (see `input_archive`), and the project's
    /// files in it with their sha256.
    Install {
        tar: Vec<u8>,
        files: BTreeMap<String, String>,
    },
    /// The `docker build` context and the Dockerfile's name in it.
    Dockerfile {
        context: Vec<u8>,
        dockerfile: String,
    },
}

/// Read the project into what the engine will get, refusing what must not leave the host
/// (symlinks pointing outside the project).
pub fn inputs(plan: &BuildPlan, output: &Output) -> Result<Inputs> {
    match &plan.mode {
        Mode::Install { .. } => {
            let mut tar = TarBuilder::new();
            let files = input_archive(plan, output, &mut tar)?;
            Ok(Inputs::Install {
                tar: tar.finish()?,
                files,
            })
        }
        Mode::Dockerfile(spec) => {
            let (context, dockerfile) = project::docker_context(&plan.project, &spec.dockerfile)?;
            Ok(Inputs::Dockerfile {
                context,
                dockerfile,
            })
        }
    }
}

/// One entry of the input tar that fclayer itself supplies, in the order it is written.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Entry {
    Dir(String),
    /// An embedded folder of `images/` (and below), under this path.
    Embedded {
        tree: &'static str,
        at: String,
    },
    File {
        path: String,
        contents: Vec<u8>,
    },
}

/// fclayer's part of the input tar: `fclayer/install/` (scripts), `fclayer/hooks/`,
/// `fclayer/ca.crt`, `fclayer/provided.txt`, and the `fclayer/src` folder the project goes in.
pub(super) fn fixed_entries(plan: &BuildPlan) -> Result<Vec<Entry>> {
    let at = |rel: &str| format!("{INPUT_ROOT}/{rel}");
    let mut out = vec![
        Entry::Dir(INPUT_ROOT.to_string()),
        Entry::Embedded {
            tree: "install",
            at: at("install"),
        },
        // The PEP 600 hook sits beside the scripts in the source tree but is looked up on
        // PYTHONPATH.
        Entry::Dir(at("hooks")),
    ];
    let hook = images::IMAGES
        .get_file("install/hooks/_manylinux.py")
        .expect("hook embedded");
    out.push(Entry::File {
        path: at("hooks/_manylinux.py"),
        contents: hook.contents().to_vec(),
    });
    if let Some(ca) = &plan.ca {
        out.push(Entry::File {
            path: at("ca.crt"),
            contents: ca.pem.clone(),
        });
    }
    if plan.mode.kinds().contains(&Kind::Apt) {
        // The apt installer skips libraries the runtime image already has: the ELF gate's list.
        let target = Target::new(plan.runtime, Some(plan.platform))?;
        let list: String = target.provided.iter().map(|s| format!("{s}\n")).collect();
        out.push(Entry::File {
            path: at("provided.txt"),
            contents: list.into_bytes(),
        });
    }
    if let Some(text) = plan.python.as_ref().and_then(|p| p.generated.as_ref()) {
        // The requirements file fclayer wrote from a lock (or pyproject.toml): beside the
        // project, never over one of its files. Being in the input tar, it is in the cache key.
        out.push(Entry::Dir(at("lock")));
        out.push(Entry::File {
            path: crate::runtime::pyformats::GENERATED
                .trim_start_matches('/')
                .to_string(),
            contents: text.clone().into_bytes(),
        });
    }
    out.push(Entry::Dir(at("src")));
    Ok(out)
}

/// Fill `tar` with what is uploaded at `/` of the build container: fclayer's entries, then the
/// project below `fclayer/src/`. Returns the project's input files and their sha256.
fn input_archive(
    plan: &BuildPlan,
    output: &Output,
    tar: &mut TarBuilder,
) -> Result<BTreeMap<String, String>> {
    for entry in fixed_entries(plan)? {
        match entry {
            Entry::Dir(path) => tar.dir(&path)?,
            Entry::Embedded { tree, at } => images::add_tree(tar, tree, &at)?,
            Entry::File { path, contents } => tar.file(&path, &contents, false)?,
        }
    }
    project::add_inputs(
        tar,
        &plan.project,
        &format!("{INPUT_ROOT}/src"),
        &[output.target().to_path_buf()],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::tests::plan_for;

    fn paths(entries: &[Entry]) -> Vec<&str> {
        entries
            .iter()
            .map(|e| match e {
                Entry::Dir(p) | Entry::Embedded { at: p, .. } | Entry::File { path: p, .. } => {
                    p.as_str()
                }
            })
            .collect()
    }

    #[test]
    fn a_python_project_gets_scripts_hook_and_its_source_folder_only() {
        let plan = plan_for(&["--runtime", "python3.9"], &[]);
        let entries = fixed_entries(&plan).unwrap();
        assert_eq!(
            paths(&entries),
            [
                "fclayer",
                "fclayer/install",
                "fclayer/hooks",
                "fclayer/hooks/_manylinux.py",
                "fclayer/src"
            ]
        );
    }

    #[test]
    fn a_lock_adds_its_generated_requirements_outside_the_source() {
        let dir = tempfile::tempdir().unwrap();
        let fixtures =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pyformats/uv");
        for f in ["uv.lock", "pyproject.toml"] {
            std::fs::copy(fixtures.join(f), dir.path().join(f)).unwrap();
        }
        let plan =
            crate::plan::tests::try_plan(dir.path(), &["--runtime", "python3.9"], &[]).unwrap();
        let entries = fixed_entries(&plan).unwrap();
        let lock = entries
            .iter()
            .find_map(|e| match e {
                Entry::File { path, contents } if path == "fclayer/lock/requirements.txt" => {
                    Some(contents)
                }
                _ => None,
            })
            .expect("generated requirements uploaded");
        assert!(String::from_utf8_lossy(lock).contains("six==1.17.0 --hash=sha256:"));
        assert_eq!(paths(&entries).last(), Some(&"fclayer/src"));
    }

    #[test]
    fn apt_adds_the_runtime_s_library_list_before_the_source() {
        let plan = plan_for(&["--runtime", "python3.9", "--apt", "libxml2"], &[]);
        let entries = fixed_entries(&plan).unwrap();
        let list = entries
            .iter()
            .find_map(|e| match e {
                Entry::File { path, contents } if path == "fclayer/provided.txt" => Some(contents),
                _ => None,
            })
            .expect("provided.txt listed");
        let list = String::from_utf8_lossy(list);
        assert!(list.lines().any(|l| l == "libc.so.6"), "{list}");
        assert_eq!(paths(&entries).last(), Some(&"fclayer/src"));
    }
}
