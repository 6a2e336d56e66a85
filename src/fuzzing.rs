//! Entry points for the fuzz targets in `fuzz/` (not part of fclayer's API: hidden, unstable).
//! Each takes arbitrary bytes and runs one reader of untrusted input on them the way the commands
//! do; a target fails only if the code panics, hangs or runs out of memory. Errors are expected
//! answers to bad bytes and are ignored.
//!
//! The readers take paths, so the bytes are written to a scratch folder first: one per process,
//! in /dev/shm when it exists (no disk writes per run), removed by the OS with the folder's
//! tmpfs, or by `make fuzz` at the end.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::layer::pack::{PackOptions, Packer};
use crate::native::{self, Target};

fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = if Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let dir = base.join(format!("fclayer-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch folder for fuzzing");
        dir
    })
}

fn write(name: &str, data: &[u8]) -> PathBuf {
    let path = scratch().join(name);
    std::fs::write(&path, data).expect("write to the scratch folder");
    path
}

fn target() -> &'static Target {
    static TARGET: OnceLock<Target> = OnceLock::new();
    TARGET.get_or_init(|| Target::named("python3.10", None).expect("a known runtime"))
}

/// The ZIP readers: `check` (ELF gate on every member), `inspect` and `stack` on one file.
pub fn zip_reader(data: &[u8]) {
    let path = write("layer.zip", data);
    let _ = native::check_zip(&path, target());
    let _ = crate::layer::inspect::inspect(&path, 10);
    let _ = crate::layer::stack::stack(&[path.clone(), path]);
}

/// The ELF gate: the header/dynamic-section parser on the bytes, then the whole gate on a
/// layer holding them as a library beside a Python extension that needs it.
pub fn elf_gate(data: &[u8]) {
    let _ = native::elf::parse(data);
    let mut zip = Vec::new();
    {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(&mut zip));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        for name in ["lib/libfuzz.so", "python/fuzz/ext.so"] {
            if w.start_file(name, opts).is_err() || w.write_all(data).is_err() {
                return;
            }
        }
        if w.finish().is_err() {
            return;
        }
    }
    let path = write("elf.zip", &zip);
    let _ = native::check_zip(&path, target());
}

/// The tar validator: a container's /opt as a tar stream, through the packer's checks
/// (names, links, duplicates, types, the end marker) and its ordered phase.
pub fn tar_validator(data: &[u8]) {
    let _ = validate_tar(data);
}

/// `tar_validator` with its verdict: Ok when the stream became a ZIP.
pub fn validate_tar(data: &[u8]) -> crate::error::Result<()> {
    let scratch_file =
        || tempfile::tempfile_in(scratch()).map_err(|e| crate::error::Error::build(e.to_string()));
    let opts = PackOptions {
        threads: 1,
        level: 1,
        ..PackOptions::default()
    };
    let mut packer = Packer::new(scratch_file()?, opts);
    packer.add_tar(data, Some("opt"))?;
    packer.finish(&mut scratch_file()?).map(|_| ())
}

/// The project-file readers, each on the same bytes: requirements.txt, package.json,
/// composer.json, pom.xml, apt.txt, fclayer.toml and the Python locks.
pub fn project_files(data: &[u8]) {
    use crate::project;
    use crate::runtime::{apt, java, node, php, python};
    let dir = scratch().join("project");
    let _ = std::fs::create_dir_all(&dir);
    let at = |name: &str| {
        let p = dir.join(name);
        std::fs::write(&p, data).expect("write to the scratch folder");
        p
    };
    let _ = python::check_requirements(&at("requirements.txt"));
    let _ = node::check_package_json(&at("package.json"));
    let _ = php::check_composer_json(&at("composer.json"));
    let _ = java::check_pom(&at("pom.xml"));
    let _ = apt::read_apt_list(&at("apt.txt"));
    at(project::PROJECT_FILE);
    let _ = project::ProjectFile::load(&dir);
    // The Python locks and pyproject.toml, converted for a runtime (with junk as pyproject.toml
    // beside the TOML locks too).
    use crate::runtime::pyformats::{self, Selection, Target};
    let target = Target {
        runtime: crate::runtime::Runtime::find("python3.9").expect("in the table"),
        arch: crate::runtime::Arch::X86_64,
    };
    at("pyproject.toml");
    for name in [
        "uv.lock",
        "poetry.lock",
        "Pipfile.lock",
        "pylock.toml",
        "pyproject.toml",
    ] {
        at(name);
        let _ = pyformats::read(&dir, Some(Path::new(name)), &Selection::default(), &target);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The entry points run on the kinds of input the seed corpus holds (and on nothing).
    #[test]
    fn every_entry_point_takes_junk_and_seeds() {
        for data in [
            &b""[..],
            b"PK\x05\x06",
            b"\x7fELF\x02\x01\x01",
            b"[[layer]]\nname = 1",
        ] {
            zip_reader(data);
            elf_gate(data);
            tar_validator(data);
            project_files(data);
        }
    }
}
