//! The provenance manifest beside a layer ZIP (`<name>.manifest.json`): writing it, and
//! `--frozen`'s comparison with the one an earlier build left. Both a fresh build (`finish`) and a
//! cache hit (`cached`) end here.

use std::collections::BTreeMap;
use std::path::Path;

use crate::console::Console;
use crate::error::{Error, Result};
use crate::manifest::{self, Manifest};
use crate::runtime::pyformats::{PythonInput, normalize};

/// --frozen: the new build must record exactly what the earlier one did.
pub(super) fn frozen_check(path: &Path, new: &Manifest) -> Result<()> {
    if !path.is_file() {
        return Err(Error::input(format!(
            "--frozen compares with the manifest of an earlier build, and {} does not exist",
            path.display()
        ))
        .with_hint("build once without --frozen (and commit the manifest beside the ZIP)"));
    }
    let old = Manifest::load(path)?;
    let diffs = old.differences(new);
    if diffs.is_empty() {
        return Ok(());
    }
    Err(Error::build(format!(
        "--frozen: this build differs from what {} records",
        path.display()
    ))
    .with_details(diffs.into_iter().take(20))
    .with_hint("pin the versions that moved, or rebuild without --frozen to accept the change"))
}

/// --frozen with a lock: the layer must hold exactly the lock's pins (names compared after PEP
/// 503 normalisation), then, when an earlier build left a manifest, what it recorded.
pub(super) fn frozen_with_lock(
    lock: Option<&PythonInput>,
    path: &Path,
    new: &Manifest,
) -> Result<()> {
    let Some(lock) = lock.filter(|l| l.locked()) else {
        return frozen_check(path, new);
    };
    let pinned: BTreeMap<String, String> = lock
        .pins
        .iter()
        .map(|p| (normalize(&p.name), p.version.clone()))
        .collect();
    let installed: BTreeMap<String, String> = new
        .packages
        .get("python")
        .into_iter()
        .flatten()
        .map(|(n, v)| (normalize(n), v.clone()))
        .collect();
    let mut diffs = Vec::new();
    for (name, version) in &pinned {
        match installed.get(name) {
            Some(v) if v == version => {}
            Some(v) => diffs.push(format!(
                "{name}: {} pins {version}, the layer holds {v}",
                lock.file
            )),
            None => diffs.push(format!(
                "{name}: {} pins {version}, the layer does not hold it",
                lock.file
            )),
        }
    }
    for (name, v) in &installed {
        if !pinned.contains_key(name) {
            diffs.push(format!("{name} {v}: in the layer, not in {}", lock.file));
        }
    }
    if !diffs.is_empty() {
        return Err(Error::build(format!(
            "--frozen: the layer differs from the pins of {}",
            lock.file
        ))
        .with_details(diffs.into_iter().take(20))
        .with_hint(
            "the installer changed the set it was given: run with --verbose and report it",
        ));
    }
    if path.is_file() {
        frozen_check(path, new)?;
    }
    Ok(())
}

/// Write the manifest beside `output`; a failure is a warning (the layer itself is complete).
pub(super) fn write_manifest(output: &Path, manifest: &Manifest, console: &Console) {
    let path = manifest::path_for(output);
    if let Err(e) = manifest.write(&path) {
        console.warn(format!("could not write the manifest: {}", e.message));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::pyformats::{Format, Pin, Selection};

    fn lock(pins: &[(&str, &str)]) -> PythonInput {
        PythonInput {
            file: "uv.lock".into(),
            format: Format::Uv,
            ignored: Vec::new(),
            generated: Some(String::new()),
            pins: pins
                .iter()
                .map(|(n, v)| Pin {
                    name: n.to_string(),
                    version: v.to_string(),
                    hashes: vec!["sha256:00".into()],
                    files: Vec::new(),
                    index: None,
                })
                .collect(),
            selection: Selection::default(),
            netrc: None,
            secrets: Vec::new(),
            trusted_hosts: Vec::new(),
        }
    }

    fn layer(pkgs: &[(&str, &str)]) -> Manifest {
        let mut m = Manifest::default();
        m.packages.insert(
            "python".into(),
            pkgs.iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        );
        m
    }

    #[test]
    fn frozen_with_a_lock_compares_the_layer_with_the_pins() {
        let dir = tempfile::tempdir().unwrap();
        let none = dir.path().join("layer.manifest.json");
        let l = lock(&[("Charset-Normalizer", "3.5.3"), ("six", "1.17.0")]);
        let same = layer(&[("charset_normalizer", "3.5.3"), ("six", "1.17.0")]);
        frozen_with_lock(Some(&l), &none, &same).unwrap();
        let moved = layer(&[
            ("charset_normalizer", "3.5.2"),
            ("six", "1.17.0"),
            ("idna", "3.20"),
        ]);
        let e = frozen_with_lock(Some(&l), &none, &moved).unwrap_err();
        assert!(
            e.details.iter().any(
                |d| d.contains("charset-normalizer: uv.lock pins 3.5.3, the layer holds 3.5.2")
            ),
            "{:?}",
            e.details
        );
        assert!(
            e.details
                .iter()
                .any(|d| d.contains("idna 3.20: in the layer")),
            "{:?}",
            e.details
        );
        assert!(
            frozen_with_lock(None, &none, &same).is_err(),
            "without a lock an earlier manifest is needed"
        );
    }
}
