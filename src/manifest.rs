//! Provenance: what went into a layer, written beside the ZIP as `<name>.manifest.json`.
//!
//! The manifest records the build image (tag and ID, base and its ID), the runtime and platform,
//! a hash of every input file, the exact package versions installed (read back from the layer:
//! Python dist-info, Node.js package.json files, Composer's installed.json, Maven jars; Debian
//! package versions reported by the apt installer) and the ZIP's digests. It holds no times and
//! no secrets, so the same build gives the same manifest. `--frozen` compares a new build's
//! manifest with the one beside the output and refuses any difference.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    pub fclayer: String,
    pub runtime: String,
    pub platform: String,
    /// The engine that ran the build: Docker or Podman, its version and API version. `--frozen`
    /// does not compare it: the same inputs give the same layer on either engine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<crate::docker::discover::Identity>,
    pub build_image: ImageRef,
    /// Input file (relative to the project) → sha256.
    pub inputs: BTreeMap<String, String>,
    pub installers: Vec<String>,
    /// Installer → package → version.
    pub packages: BTreeMap<String, BTreeMap<String, String>>,
    /// Environment that changed what was installed (credentials masked).
    pub env: BTreeMap<String, String>,
    pub layer: LayerRef,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ImageRef {
    pub tag: String,
    pub id: String,
    pub base: String,
    pub base_id: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct LayerRef {
    pub sha256: String,
    pub crc64: String,
    pub size: u64,
    pub files: u64,
}

/// Where the manifest of `zip` lives: `layer.zip` → `layer.manifest.json`.
pub fn path_for(zip: &Path) -> PathBuf {
    let name = zip
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name.strip_suffix(".zip").unwrap_or(&name);
    zip.with_file_name(format!("{stem}.manifest.json"))
}

impl Manifest {
    pub fn load(path: &Path) -> Result<Manifest> {
        let bytes = std::fs::read(path).at("read", path)?;
        serde_json::from_slice(&bytes).map_err(|e| {
            Error::input(format!(
                "{}:{}: not a fclayer manifest: {e}",
                path.display(),
                e.line()
            ))
        })
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        let mut json = serde_json::to_vec_pretty(self).expect("manifest serialises");
        json.push(b'\n');
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let tmp = tempfile::Builder::new()
            .prefix(".manifest-")
            .tempfile_in(dir)
            .at("write to", dir)?;
        std::fs::write(tmp.path(), json).at("write", tmp.path())?;
        tmp.persist(path)
            .map_err(|e| Error::io("write", path, e.error))?;
        Ok(())
    }

    /// What differs between an earlier build's manifest (`self`) and a new one, for --frozen.
    /// The layer's own digests are left out: they follow from the rest.
    pub fn differences(&self, new: &Manifest) -> Vec<String> {
        let mut out = Vec::new();
        let mut field = |name: &str, a: String, b: String| {
            if a != b {
                out.push(format!("{name}: {a} → {b}"));
            }
        };
        field("fclayer", self.fclayer.clone(), new.fclayer.clone());
        field("runtime", self.runtime.clone(), new.runtime.clone());
        field("platform", self.platform.clone(), new.platform.clone());
        field(
            "build image",
            self.build_image.id.clone(),
            new.build_image.id.clone(),
        );
        field(
            "base image",
            self.build_image.base_id.clone(),
            new.build_image.base_id.clone(),
        );
        diff_maps(&mut out, "input", &self.inputs, &new.inputs);
        let kinds: std::collections::BTreeSet<&String> =
            self.packages.keys().chain(new.packages.keys()).collect();
        let empty = BTreeMap::new();
        for kind in kinds {
            let a = self.packages.get(kind).unwrap_or(&empty);
            let b = new.packages.get(kind).unwrap_or(&empty);
            diff_maps(&mut out, &format!("{kind} package"), a, b);
        }
        diff_maps(&mut out, "environment", &self.env, &new.env);
        out
    }
}

fn diff_maps(
    out: &mut Vec<String>,
    what: &str,
    a: &BTreeMap<String, String>,
    b: &BTreeMap<String, String>,
) {
    for (k, v) in a {
        match b.get(k) {
            None => out.push(format!("{what} {k} {v} removed")),
            Some(w) if w != v => out.push(format!("{what} {k}: {v} → {w}")),
            _ => {}
        }
    }
    for (k, v) in b {
        if !a.contains_key(k) {
            out.push(format!("{what} {k} {v} added"));
        }
    }
}

/// Package versions found in a layer ZIP, per installer.
pub fn packages_in(zip_path: &Path) -> Result<BTreeMap<String, BTreeMap<String, String>>> {
    let mut zip = crate::layer::open_zip(zip_path)?;
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let names: Vec<String> = (0..zip.len())
        .filter_map(|i| {
            zip.name_for_index(i)
                .and_then(|n| n.ok())
                .map(|n| n.into_owned())
        })
        .collect();
    for name in &names {
        if let Some(dist) = name
            .strip_prefix("python/")
            .and_then(|r| r.strip_suffix(".dist-info/METADATA"))
            .filter(|d| !d.contains('/'))
        {
            // The folder name is NAME-VERSION with '-' in names escaped to '_'.
            if let Some((pkg, ver)) = dist.rsplit_once('-') {
                out.entry("python".into())
                    .or_default()
                    .insert(pkg.to_lowercase(), ver.into());
            }
        }
        if let Some(jar) = name
            .strip_prefix("java/lib/")
            .filter(|j| j.ends_with(".jar") && !j.contains('/'))
        {
            let stem = jar.trim_end_matches(".jar");
            let split = stem.char_indices().rev().find(|(i, c)| {
                *c == '-' && stem[i + 1..].starts_with(|d: char| d.is_ascii_digit())
            });
            let (a, v) = match split {
                Some((i, _)) => (&stem[..i], &stem[i + 1..]),
                None => (stem, ""),
            };
            out.entry("java".into())
                .or_default()
                .insert(a.into(), v.into());
        }
    }
    let read_json = |zip: &mut zip::ZipArchive<_>, name: &str| -> Option<serde_json::Value> {
        let mut f = zip.by_name(name).ok()?;
        let mut s = String::new();
        f.read_to_string(&mut s).ok()?;
        serde_json::from_str(&s).ok()
    };
    for name in &names {
        let Some(rest) = name.strip_prefix("nodejs/node_modules/") else {
            continue;
        };
        if !rest.ends_with("/package.json") || rest.contains("/test/") {
            continue;
        }
        // node_modules/<pkg>/package.json, @scope/<pkg>/package.json, or nested node_modules.
        let parts: Vec<&str> = rest.split('/').collect();
        let depth_ok = match parts.as_slice() {
            [_, "package.json"] => true,
            [s, _, "package.json"] => s.starts_with('@'),
            _ => {
                rest.contains("/node_modules/") && {
                    let tail = rest.rsplit_once("/node_modules/").map_or("", |(_, t)| t);
                    let t: Vec<&str> = tail.split('/').collect();
                    matches!(t.as_slice(), [_, "package.json"])
                        || matches!(t.as_slice(), [s, _, "package.json"] if s.starts_with('@'))
                }
            }
        };
        if !depth_ok {
            continue;
        }
        if let Some(v) = read_json(&mut zip, name)
            && let (Some(n), Some(ver)) = (v["name"].as_str(), v["version"].as_str())
        {
            let key = rest.trim_end_matches("/package.json").to_string();
            let label = if key == n { n.to_string() } else { key };
            out.entry("node".into())
                .or_default()
                .insert(label, ver.into());
        }
    }
    if names
        .iter()
        .any(|n| n == "php/vendor/composer/installed.json")
        && let Some(v) = read_json(&mut zip, "php/vendor/composer/installed.json")
    {
        // Composer 2 wraps the list in {"packages": [...]}; Composer 1 writes the list itself.
        let list = v.get("packages").cloned().unwrap_or(v);
        for p in list.as_array().into_iter().flatten() {
            if let (Some(n), Some(ver)) = (p["name"].as_str(), p["version"].as_str()) {
                out.entry("php".into())
                    .or_default()
                    .insert(n.into(), ver.into());
            }
        }
    }
    Ok(out)
}

/// `package=version` lines (the apt installer's report) as a map.
pub fn parse_versions(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.trim().split_once('='))
        .map(|(p, v)| (p.to_string(), v.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_path_replaces_the_zip_extension() {
        assert_eq!(
            path_for(Path::new("out/layer.zip")),
            Path::new("out/layer.manifest.json")
        );
        assert_eq!(
            path_for(Path::new("layer")),
            Path::new("layer.manifest.json")
        );
    }

    #[test]
    fn differences_name_what_changed() {
        let mut a = Manifest::default();
        a.packages
            .entry("python".into())
            .or_default()
            .insert("numpy".into(), "2.0.2".into());
        a.inputs.insert("requirements.txt".into(), "aa".into());
        let mut b = a.clone();
        assert!(a.differences(&b).is_empty());
        b.packages
            .get_mut("python")
            .unwrap()
            .insert("numpy".into(), "2.1.0".into());
        b.inputs.insert("requirements.txt".into(), "bb".into());
        b.build_image.id = "sha256:new".into();
        let d = a.differences(&b);
        assert!(
            d.iter().any(|l| l == "python package numpy: 2.0.2 → 2.1.0"),
            "{d:?}"
        );
        assert!(
            d.iter().any(|l| l.starts_with("input requirements.txt")),
            "{d:?}"
        );
        assert!(d.iter().any(|l| l.starts_with("build image")), "{d:?}");
    }

    #[test]
    fn packages_are_read_back_from_the_layer() {
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path().join("t");
        let mk = |p: &str, body: &str| {
            let f = tree.join(p);
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(f, body).unwrap();
        };
        mk("python/numpy-2.0.2.dist-info/METADATA", "Name: numpy\n");
        mk("python/charset_normalizer-3.4.0.dist-info/METADATA", "x");
        mk(
            "nodejs/node_modules/is-number/package.json",
            r#"{"name":"is-number","version":"7.0.0"}"#,
        );
        mk(
            "nodejs/node_modules/@scope/x/package.json",
            r#"{"name":"@scope/x","version":"1.2.3"}"#,
        );
        mk(
            "nodejs/node_modules/a/node_modules/b/package.json",
            r#"{"name":"b","version":"2.0.0"}"#,
        );
        mk(
            "nodejs/node_modules/a/package.json",
            r#"{"name":"a","version":"1.0.0"}"#,
        );
        mk(
            "nodejs/node_modules/a/lib/package.json",
            r#"{"name":"inner","version":"9"}"#,
        );
        mk(
            "php/vendor/composer/installed.json",
            r#"{"packages":[{"name":"acme/greeter","version":"1.2.0"}]}"#,
        );
        mk("java/lib/hello-1.0.jar", "x");
        mk("java/lib/commons-lang3-3.14.0.jar", "x");
        let zip = dir.path().join("l.zip");
        crate::layer::pack_dir(&tree, &zip, Default::default(), u64::MAX).unwrap();
        let p = packages_in(&zip).unwrap();
        assert_eq!(p["python"]["numpy"], "2.0.2");
        assert_eq!(p["python"]["charset_normalizer"], "3.4.0");
        assert_eq!(p["node"]["is-number"], "7.0.0");
        assert_eq!(p["node"]["@scope/x"], "1.2.3");
        assert_eq!(p["node"]["a/node_modules/b"], "2.0.0");
        assert!(!p["node"].contains_key("a/lib"), "{:?}", p["node"]);
        assert_eq!(p["php"]["acme/greeter"], "1.2.0");
        assert_eq!(p["java"]["hello"], "1.0");
        assert_eq!(p["java"]["commons-lang3"], "3.14.0");
    }
}
