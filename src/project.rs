//! The user's project: its optional `fclayer.toml`, the kind of layer its files call for, a
//! check of its manifest, and the input files sent into the build container.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, IoContext, Result};
use crate::extract;
use crate::runtime::Kind;
use crate::tarball::TarBuilder;

pub const PROJECT_FILE: &str = "fclayer.toml";

/// `fclayer.toml`: one or more layers.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectFile {
    #[serde(default, rename = "layer")]
    pub layers: Vec<LayerDecl>,
}

#[derive(Debug, Default, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct LayerDecl {
    pub name: Option<String>,
    pub runtime: Option<String>,
    /// Project directory, relative to the project file.
    pub source: Option<PathBuf>,
    /// Only this kind of content (python, node, java, php, apt) when the folder has several.
    pub kind: Option<String>,
    /// Debian packages for the layer's bin/ and lib/.
    #[serde(default)]
    pub apt: Vec<String>,
    /// Output ZIP, relative to the project file.
    pub output: Option<PathBuf>,
    pub platform: Option<String>,
    pub base_image: Option<String>,
    /// Build this Dockerfile (relative to the project file) instead of running installers.
    pub dockerfile: Option<PathBuf>,
    #[serde(default)]
    pub build_args: BTreeMap<String, String>,
    pub target: Option<String>,
    /// Python byte-code in the layer (default true; `--no-bytecode` turns it off).
    pub bytecode: Option<bool>,
    /// `--slim` for this layer.
    pub slim: Option<bool>,
}

impl ProjectFile {
    /// Read `dir/fclayer.toml` if there is one.
    pub fn load(dir: &Path) -> Result<Option<ProjectFile>> {
        let path = dir.join(PROJECT_FILE);
        if !path.is_file() {
            return Ok(None);
        }
        let text = read_text(&path)?;
        let parsed: ProjectFile = toml::from_str(&text).map_err(|e| {
            let (line, col) = e.span().map(|s| line_col(&text, s.start)).unwrap_or((0, 0));
            Error::input(format!("{}:{line}:{col}: {}", path.display(), e.message()))
                .with_hint("see the README's fclayer.toml section for the keys a [[layer]] takes")
        })?;
        Ok(Some(parsed))
    }
}

/// A project file as text. Bytes that are not UTF-8 are bad input, reported with their line.
fn read_text(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).at("read", path)?;
    String::from_utf8(bytes).map_err(|e| {
        let good = e.utf8_error().valid_up_to();
        let bytes = e.as_bytes();
        let line = bytes[..good].iter().filter(|b| **b == b'\n').count() + 1;
        Error::input(format!(
            "{}:{line}: not UTF-8 text (byte 0x{:02x})",
            path.display(),
            bytes[good]
        ))
        .with_hint("save the file as UTF-8")
    })
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rfind('\n')
        .map_or(before.len(), |i| before.len() - i - 1)
        + 1;
    (line, col)
}

/// The kinds of layer the files in `dir` call for.
pub fn detect_kinds(dir: &Path) -> Vec<Kind> {
    Kind::ALL
        .into_iter()
        .filter(|k| dir.join(k.manifest()).is_file())
        .collect()
}

/// Check requirements.txt line by line, so a typo is reported with its line before any container
/// starts. Lenient: pip's own options, paths and URLs pass; only what cannot be a requirement fails.
pub fn check_requirements(path: &Path) -> Result<()> {
    let text = read_text(path)?;
    let mut logical = String::new();
    let mut start_line = 0;
    for (i, raw) in text.lines().enumerate() {
        if logical.is_empty() {
            start_line = i + 1;
        }
        // Comments start at a # preceded by whitespace (pip's rule).
        let line = match raw.find(" #").or_else(|| raw.starts_with('#').then_some(0)) {
            Some(at) => &raw[..at],
            None => raw,
        };
        if let Some(cont) = line.strip_suffix('\\') {
            logical.push_str(cont);
            continue;
        }
        logical.push_str(line);
        let entry = logical.trim().to_string();
        logical.clear();
        if entry.is_empty() || entry.starts_with('-') || looks_like_path_or_url(&entry) {
            continue;
        }
        if let Err(why) = check_requirement(&entry) {
            return Err(Error::input(format!(
                "{}:{start_line}: `{entry}` is not a valid requirement: {why}",
                path.display()
            ))
            .with_hint(
                "write one requirement per line, e.g. `numpy>=1.21` or `requests[socks]==2.32.3`",
            ));
        }
    }
    Ok(())
}

/// Check a JSON manifest (package.json, composer.json and their lockfiles): it must parse, be an
/// object, and keep dependency maps as objects. Errors carry the file, line and column.
fn check_json_manifest(path: &Path, maps: &[&str]) -> Result<serde_json::Value> {
    let text = read_text(path)?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        Error::input(format!(
            "{}:{}:{}: not valid JSON: {}",
            path.display(),
            e.line(),
            e.column(),
            strip_position(&e.to_string())
        ))
        .with_hint("fix the JSON syntax (a missing comma or quote is the usual cause)")
    })?;
    let obj = value.as_object().ok_or_else(|| {
        Error::input(format!(
            "{}: expected a JSON object at the top level",
            path.display()
        ))
    })?;
    for key in maps {
        if let Some(v) = obj.get(*key)
            && !v.is_object()
        {
            return Err(Error::input(format!(
                "{}: `{key}` must be an object of package names to versions",
                path.display()
            )));
        }
    }
    Ok(value)
}

/// serde_json appends " at line L column C"; the location is already in front.
fn strip_position(msg: &str) -> &str {
    msg.find(" at line ").map_or(msg, |i| &msg[..i])
}

pub fn check_package_json(path: &Path) -> Result<()> {
    check_json_manifest(
        path,
        &["dependencies", "optionalDependencies", "devDependencies"],
    )?;
    let lock = path.with_file_name("package-lock.json");
    if lock.is_file() {
        check_json_manifest(&lock, &[])?;
    }
    Ok(())
}

pub fn check_composer_json(path: &Path) -> Result<()> {
    check_json_manifest(path, &["require", "require-dev"])?;
    let lock = path.with_file_name("composer.lock");
    if lock.is_file() {
        check_json_manifest(&lock, &[])?;
    }
    Ok(())
}

/// pom.xml must be well-formed XML with a `<project>` root.
pub fn check_pom(path: &Path) -> Result<()> {
    let text = read_text(path)?;
    let doc = roxmltree::Document::parse(&text).map_err(|e| {
        let pos = e.pos();
        Error::input(format!(
            "{}:{}:{}: not well-formed XML: {e}",
            path.display(),
            pos.row,
            pos.col
        ))
        .with_hint("fix the XML (an unclosed or mismatched tag is the usual cause)")
    })?;
    if doc.root_element().tag_name().name() != "project" {
        return Err(Error::input(format!(
            "{}: the root element is <{}>, expected <project>",
            path.display(),
            doc.root_element().tag_name().name()
        )));
    }
    Ok(())
}

/// Package names from apt.txt: whitespace-separated, `#` starts a comment.
pub fn read_apt_list(path: &Path) -> Result<Vec<String>> {
    let text = read_text(path)?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("");
        for name in line.split_whitespace() {
            check_apt_name(name).map_err(|why| {
                Error::input(format!("{}:{}: `{name}` {why}", path.display(), i + 1))
                    .with_hint("list Debian package names, e.g. `postgresql-client`")
            })?;
            if !out.iter().any(|n| n == name) {
                out.push(name.to_string());
            }
        }
    }
    Ok(out)
}

/// Debian policy: lower case letters, digits, `+ - .`, at least two characters, starting with
/// a letter or digit; optionally `=VERSION`.
pub fn check_apt_name(spec: &str) -> std::result::Result<(), String> {
    let (name, version) = spec
        .split_once('=')
        .map_or((spec, None), |(n, v)| (n, Some(v)));
    let valid = name.len() >= 2
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '+' | '-' | '.'));
    if !valid {
        return Err("is not a Debian package name".into());
    }
    if version.is_some_and(|v| v.is_empty() || v.contains(char::is_whitespace)) {
        return Err("has an empty or malformed version after `=`".into());
    }
    Ok(())
}

fn looks_like_path_or_url(s: &str) -> bool {
    s.starts_with('.')
        || s.starts_with('/')
        || s.contains("://")
        || s.ends_with(".whl")
        || s.ends_with(".tar.gz")
        || s.ends_with(".zip")
}

/// A PEP 508 requirement, checked loosely: a name, optional [extras], then specifiers, a URL
/// (`@ ...`) or markers (`; ...`).
fn check_requirement(s: &str) -> std::result::Result<(), String> {
    let name_end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
        .unwrap_or(s.len());
    let name = &s[..name_end];
    if name.is_empty() || !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err("expected a package name first".into());
    }
    let mut rest = s[name_end..].trim_start();
    if let Some(after) = rest.strip_prefix('[') {
        let close = after.find(']').ok_or("`[` of the extras is never closed")?;
        rest = after[close + 1..].trim_start();
    }
    let (spec, _markers) = rest.split_once(';').unwrap_or((rest, ""));
    let spec = spec.trim();
    if spec.is_empty() || spec.starts_with('@') {
        return Ok(());
    }
    let spec = spec.trim_start_matches('(').trim_end_matches(')');
    for clause in spec.split(',') {
        let clause = clause.trim();
        let op_len = ["===", "~=", "==", "!=", "<=", ">=", "<", ">"]
            .iter()
            .find(|op| clause.starts_with(*op))
            .map(|op| op.len())
            .ok_or_else(|| {
                format!("expected a version operator (==, >=, ~=, ...) before `{clause}`")
            })?;
        let version = clause[op_len..].trim();
        if version.is_empty() {
            return Err(format!("`{clause}` has no version after its operator"));
        }
        if !version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '*' | '+' | '!' | '-' | '_'))
        {
            return Err(format!("`{version}` is not a version"));
        }
    }
    Ok(())
}

/// Credentials the project's own files hold: passwords in the URLs of requirements.txt
/// (`--index-url https://user:pass@host/simple`) and auth values in `.npmrc`. The files go into
/// the build container as they are (the installer needs them); these values are masked in
/// everything fclayer prints. Also returns the environment variables `.npmrc` refers to
/// (`${NPM_TOKEN}`), which the installer needs set.
pub fn file_secrets(dir: &Path) -> (Vec<String>, Vec<String>) {
    let mut secrets = Vec::new();
    let mut vars = Vec::new();
    if let Ok(text) = std::fs::read_to_string(dir.join(Kind::Python.manifest())) {
        for word in text.split_whitespace() {
            secrets.extend(crate::plan::url_credentials(word));
        }
    }
    if let Ok(text) = std::fs::read_to_string(dir.join(".npmrc")) {
        let (s, v) = npmrc_secrets(&text);
        secrets.extend(s);
        vars.extend(v);
    }
    (secrets, vars)
}

/// Auth values of an `.npmrc` (`_authToken`, `_auth`, `_password`, whether global or scoped to
/// a registry as `//host/:_authToken`), and the `${VAR}` names they use instead of a value.
fn npmrc_secrets(text: &str) -> (Vec<String>, Vec<String>) {
    let mut secrets = Vec::new();
    let mut vars = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with(['#', ';']) {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        let name = key.rsplit(':').next().unwrap_or(key);
        if !matches!(name, "_authToken" | "_auth" | "_password" | "password") {
            continue;
        }
        let value = value.trim().trim_matches(['"', '\'']);
        let mut rest = value;
        let mut referenced = false;
        while let Some(start) = rest.find("${") {
            let Some(end) = rest[start..].find('}') else {
                break;
            };
            vars.push(rest[start + 2..start + end].to_string());
            referenced = true;
            rest = &rest[start + end + 1..];
        }
        if !referenced && !value.is_empty() {
            secrets.push(value.to_string());
        }
    }
    (secrets, vars)
}

/// Folders never sent into a build container: VCS data, local environments, build output.
const SKIP_DIRS: &[&str] = &[
    ".git",
    ".hg",
    ".svn",
    "node_modules",
    "__pycache__",
    ".venv",
    "venv",
    ".fclayer",
    ".aws-sam",
    ".s",
];

/// The project's files as a tar rooted at `dest` (e.g. `fclayer/src`), sorted by path.
/// `exclude` lists host paths left out (the output ZIP and its temporaries). Symlinks must stay
/// inside the project: a link leading out of it is refused, never followed.
pub fn add_inputs(
    tar: &mut TarBuilder,
    dir: &Path,
    dest: &str,
    exclude: &[PathBuf],
) -> Result<BTreeMap<String, String>> {
    let exclude: Vec<PathBuf> = exclude
        .iter()
        .filter_map(|p| {
            let parent = p
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            parent
                .canonicalize()
                .ok()
                .map(|d| d.join(p.file_name().unwrap_or_default()))
        })
        .collect();
    let keep = |full: &Path, _rel: &str, is_dir: bool| {
        let name = full
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        if is_dir {
            return !SKIP_DIRS.contains(&name.as_ref());
        }
        !(exclude.iter().any(|x| x == full)
            || name.ends_with(".partial")
            || name.ends_with(".spool"))
    };
    let root = dir.canonicalize().at("open", dir)?;
    let mut listed = BTreeMap::new();
    walk_inputs(tar, &root, &root, dest, &keep, &mut listed)?;
    Ok(listed)
}

/// A `docker build` context of `dir`, honouring `.dockerignore` the way the Docker CLI does.
/// Returns the tar and the Dockerfile's name inside it (the Dockerfile is always sent, and is
/// added under a private name when it lies outside the context).
pub fn docker_context(dir: &Path, dockerfile: &Path) -> Result<(Vec<u8>, String)> {
    let root = dir.canonicalize().at("open", dir)?;
    let dockerfile = dockerfile.canonicalize().at("open", dockerfile)?;
    let ignore = DockerIgnore::load(&root)?;
    let inside = dockerfile
        .strip_prefix(&root)
        .ok()
        .and_then(|p| p.to_str())
        .map(str::to_string);
    let keep = |_full: &Path, rel: &str, is_dir: bool| {
        Some(rel) == inside.as_deref() || rel == ".dockerignore" || !ignore.excluded(rel, is_dir)
    };
    let mut tar = TarBuilder::new();
    let mut listed = BTreeMap::new();
    walk_inputs(&mut tar, &root, &root, "", &keep, &mut listed)?;
    let name = match inside {
        Some(rel) => rel,
        None => {
            let name = ".fclayer.Dockerfile".to_string();
            tar.file_from_disk(&name, &dockerfile, false)?;
            name
        }
    };
    Ok((tar.finish()?, name))
}

/// `.dockerignore` rules: Go-style globs relative to the context (`*` stops at `/`, `**` spans
/// folders), a match on a folder excludes what is below it, `!` re-includes, the last matching
/// rule wins.
struct DockerIgnore {
    rules: Vec<(globset::GlobMatcher, bool)>,
}

impl DockerIgnore {
    fn load(root: &Path) -> Result<DockerIgnore> {
        let path = root.join(".dockerignore");
        let mut rules = Vec::new();
        if !path.is_file() {
            return Ok(DockerIgnore { rules });
        }
        let text = read_text(&path)?;
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (exclude, pattern) = match line.strip_prefix('!') {
                Some(p) => (false, p.trim()),
                None => (true, line),
            };
            let pattern = pattern.trim_start_matches('/').trim_end_matches('/');
            let pattern = pattern.strip_prefix("./").unwrap_or(pattern);
            let glob = globset::GlobBuilder::new(pattern)
                .literal_separator(true)
                .build()
                .map_err(|e| {
                    Error::input(format!(
                        "{}:{}: bad pattern `{line}`: {e}",
                        path.display(),
                        i + 1
                    ))
                })?;
            rules.push((glob.compile_matcher(), exclude));
        }
        Ok(DockerIgnore { rules })
    }

    fn excluded(&self, rel: &str, is_dir: bool) -> bool {
        let mut out = false;
        for (glob, exclude) in &self.rules {
            let hit = glob.is_match(rel)
                || rel
                    .match_indices('/')
                    .any(|(i, _)| glob.is_match(&rel[..i]));
            if hit {
                out = *exclude;
            }
        }
        // Keep walking into an excluded folder when a later `!` rule might bring files back.
        if out && is_dir && self.rules.iter().any(|(_, ex)| !ex) {
            return false;
        }
        out
    }
}

fn walk_inputs(
    tar: &mut TarBuilder,
    root: &Path,
    dir: &Path,
    dest: &str,
    keep: &dyn Fn(&Path, &str, bool) -> bool,
    listed: &mut BTreeMap<String, String>,
) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .at("read directory", dir)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<std::io::Result<_>>()
        .at("read directory", dir)?;
    names.sort();
    for name in names {
        let full = dir.join(&name);
        let rel = full.strip_prefix(root).expect("below root");
        let rel_str = rel.to_str().ok_or_else(|| {
            Error::input(format!("{} has a name that is not UTF-8", full.display()))
        })?;
        let meta = std::fs::symlink_metadata(&full).at("read", &full)?;
        let ft = meta.file_type();
        if !keep(&full, rel_str, ft.is_dir()) {
            continue;
        }
        let target_path = if dest.is_empty() {
            rel_str.to_string()
        } else {
            format!("{dest}/{rel_str}")
        };
        if ft.is_dir() {
            tar.dir(&target_path)?;
            walk_inputs(tar, root, &full, dest, keep, listed)?;
        } else if ft.is_file() {
            let exec = meta.permissions().mode() & 0o111 != 0;
            let sha = tar.file_from_disk(&target_path, &full, exec)?;
            listed.insert(rel_str.to_string(), sha);
        } else if ft.is_symlink() {
            let target = std::fs::read_link(&full).at("read link", &full)?;
            let target_str = target.to_string_lossy();
            let inside = if target.is_absolute() {
                target.starts_with(root)
            } else {
                extract::link_target(rel_str, &target_str).is_ok()
            };
            if !inside {
                return Err(Error::input(format!(
                    "{} is a symlink to {}, outside the project",
                    full.display(),
                    target.display()
                ))
                .with_hint("fclayer sends only the project's own files into the build; copy the file into the project instead of linking to it"));
            }
            if target.is_absolute() {
                // Re-express inside the container's copy of the project.
                let rel_target = target.strip_prefix(root).expect("checked above");
                let depth = rel.components().count() - 1;
                let up = "../".repeat(depth);
                tar.symlink(&target_path, &format!("{up}{}", rel_target.display()))?;
            } else {
                tar.symlink(&target_path, &target_str)?;
            }
        }
        // Sockets, FIFOs and devices are not inputs; leave them out.
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Result<()> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("requirements.txt");
        std::fs::write(&p, text).unwrap();
        check_requirements(&p)
    }

    #[test]
    fn good_requirements_pass() {
        check("numpy\nlxml>=4 # parser\nrequests[socks]==2.32.3\n\n-r other.txt\n--index-url https://x/simple\nfoo @ https://x/foo.whl\nbar; python_version<'3.10'\n./local-pkg\nbaz==1.*\n").unwrap();
    }

    #[test]
    fn bad_requirements_name_file_and_line() {
        let e = check("numpy\nlxml>>4\n").unwrap_err();
        assert!(e.message.contains("requirements.txt:2:"), "{}", e.message);
        assert!(e.message.contains("lxml>>4"));
        let e = check("numpy==\n").unwrap_err();
        assert!(
            e.message.contains(":1:") && e.message.contains("no version"),
            "{}",
            e.message
        );
        let e = check("requests[socks\n").unwrap_err();
        assert!(e.message.contains("never closed"), "{}", e.message);
    }

    #[test]
    fn json_manifests_report_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("package.json");
        std::fs::write(
            &p,
            "{\n  \"name\": \"x\",\n  \"dependencies\": {\"a\": \"1\"\n}\n",
        )
        .unwrap();
        let e = check_package_json(&p).unwrap_err();
        assert!(e.message.contains("package.json:5:"), "{}", e.message);
        std::fs::write(&p, "{\"dependencies\": [\"a\"]}").unwrap();
        assert!(
            check_package_json(&p)
                .unwrap_err()
                .message
                .contains("must be an object")
        );
        let c = dir.path().join("composer.json");
        std::fs::write(&c, "{\"require\": {\"a/b\": \"^1\"}}").unwrap();
        check_composer_json(&c).unwrap();
    }

    #[test]
    fn pom_must_be_well_formed_with_a_project_root() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pom.xml");
        std::fs::write(&p, "<project>\n  <dependencies>\n</project>\n").unwrap();
        let e = check_pom(&p).unwrap_err();
        assert!(e.message.contains("pom.xml:3:"), "{}", e.message);
        std::fs::write(&p, "<settings/>").unwrap();
        assert!(check_pom(&p).unwrap_err().message.contains("<project>"));
    }

    #[test]
    fn apt_lists_take_debian_names_only() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("apt.txt");
        std::fs::write(
            &p,
            "# tools\npostgresql-client libpq5=15.10-0+deb12u1\n\nlibc++1\n",
        )
        .unwrap();
        assert_eq!(
            read_apt_list(&p).unwrap(),
            vec!["postgresql-client", "libpq5=15.10-0+deb12u1", "libc++1"]
        );
        std::fs::write(&p, "ok-pkg\nBad_Name\n").unwrap();
        let e = read_apt_list(&p).unwrap_err();
        assert!(
            e.message.contains("apt.txt:2:") && e.message.contains("Bad_Name"),
            "{}",
            e.message
        );
    }

    #[test]
    fn project_file_errors_have_line_numbers() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(PROJECT_FILE),
            "[[layer]]\nname = \"a\"\nruntim = \"python3.9\"\n",
        )
        .unwrap();
        let e = ProjectFile::load(dir.path()).unwrap_err();
        assert!(e.message.contains("fclayer.toml:3:"), "{}", e.message);
        assert!(e.message.contains("runtim"), "{}", e.message);
    }

    #[test]
    fn npmrc_auth_values_and_variables_are_found() {
        let (secrets, vars) = npmrc_secrets(
            "registry=https://registry.npmjs.org/\n\
             //npm.example.com/:_authToken=npm_s3cr3tT0ken\n\
             ; a comment: _authToken=nope\n\
             //other.example.com/:_authToken=${NPM_TOKEN}\n\
             _auth = \"dXNlcjpwYXNz\"\n\
             //npm.example.com/:username=bob\n",
        );
        assert_eq!(secrets, vec!["npm_s3cr3tT0ken", "dXNlcjpwYXNz"]);
        assert_eq!(vars, vec!["NPM_TOKEN"]);
    }

    #[test]
    fn dockerignore_follows_docker_rules() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::write(
            p.join(".dockerignore"),
            "# comment\n*.log\nbuild/\n**/secret.txt\n!build/keep.txt\n",
        )
        .unwrap();
        let ig = DockerIgnore::load(p).unwrap();
        assert!(ig.excluded("a.log", false));
        assert!(
            !ig.excluded("sub/a.log", false),
            "`*` does not cross folders"
        );
        assert!(ig.excluded("build/x.o", false));
        assert!(!ig.excluded("build/keep.txt", false));
        assert!(ig.excluded("deep/er/secret.txt", false));
        assert!(!ig.excluded("src/main.c", false));
    }

    #[test]
    fn docker_context_sends_the_dockerfile_even_if_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::write(p.join("Dockerfile"), "FROM scratch\n").unwrap();
        std::fs::write(p.join("big.bin"), "x").unwrap();
        std::fs::write(p.join(".dockerignore"), "Dockerfile\n*.bin\n").unwrap();
        let (tar, name) = docker_context(p, &p.join("Dockerfile")).unwrap();
        assert_eq!(name, "Dockerfile");
        let mut ar = tar::Archive::new(&tar[..]);
        let names: Vec<String> = ar
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec![".dockerignore", "Dockerfile"]);
    }

    #[test]
    fn inputs_skip_vcs_and_refuse_escaping_links() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::write(p.join("requirements.txt"), "six\n").unwrap();
        std::fs::create_dir(p.join(".git")).unwrap();
        std::fs::write(p.join(".git/HEAD"), "x").unwrap();
        std::os::unix::fs::symlink("requirements.txt", p.join("req.txt")).unwrap();
        let mut tar = TarBuilder::new();
        let listed = add_inputs(&mut tar, p, "fclayer/src", &[]).unwrap();
        assert_eq!(listed.keys().collect::<Vec<_>>(), vec!["requirements.txt"]);

        std::os::unix::fs::symlink("/etc/passwd", p.join("evil")).unwrap();
        let mut tar = TarBuilder::new();
        let e = add_inputs(&mut tar, p, "fclayer/src", &[]).unwrap_err();
        assert!(e.message.contains("outside the project"), "{}", e.message);
    }
}
