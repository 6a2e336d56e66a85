//! Secrets reach the installer and nothing else. Builds run with a CA bundle (marked), proxy
//! credentials (HTTPS_PROXY with a password), a private index URL with a password (PIP_INDEX_URL,
//! and one in requirements.txt) and an `.npmrc` token. The installers prove they got each one
//! by printing a digest of it (and print some in clear, which fclayer must mask); then the test
//! scans for the secrets' bytes:
//!
//! - the layer ZIP: its raw bytes and every entry decompressed, manifests included
//!   (nodejs/package.json, the dist-info files);
//! - `docker history --no-trunc` and `docker image inspect` of every image fclayer built or used
//!   (the build images, and every image that appeared during a Dockerfile build);
//! - everything fclayer printed, on stdout and stderr, including an error's log tail.

mod common;

use std::io::Read;
use std::path::Path;
use std::process::Command;

use common::*;
use sha2::{Digest, Sha256};

struct Secrets {
    pip_password: String,
    requirements_password: String,
    proxy_password: String,
    npm_token: String,
    ca_marker: String,
}

impl Secrets {
    fn new() -> Secrets {
        let n = format!(
            "{}x{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
        );
        Secrets {
            pip_password: format!("pipPw-{n}"),
            requirements_password: format!("reqPw-{n}"),
            proxy_password: format!("proxyPw-{n}"),
            npm_token: format!("npmTok-{n}"),
            ca_marker: format!("fclayer-ca-marker-{n}"),
        }
    }

    fn all(&self) -> [(&'static str, &str); 5] {
        [
            ("PIP_INDEX_URL password", &self.pip_password),
            (
                "requirements.txt index password",
                &self.requirements_password,
            ),
            ("proxy password", &self.proxy_password),
            (".npmrc token", &self.npm_token),
            ("CA bundle", &self.ca_marker),
        ]
    }

    fn proxy_url(&self) -> String {
        // Nothing listens there; NO_PROXY=* keeps every client from using it.
        format!("http://proxyuser:{}@127.0.0.1:9", self.proxy_password)
    }

    fn index_url(&self) -> String {
        format!("https://fcuser:{}@pypi.org/simple", self.pip_password)
    }

    /// The host's bundle (it holds the intercepting proxy's CA, which pip needs here) plus a
    /// marker line.
    fn ca_bundle(&self, dir: &Path) -> std::path::PathBuf {
        let mut pem = std::fs::read("/etc/ssl/certs/ca-certificates.crt").expect("host CA bundle");
        pem.extend_from_slice(format!("\n# {}\n", self.ca_marker).as_bytes());
        let path = dir.join("corp-ca.pem");
        std::fs::write(&path, pem).unwrap();
        path
    }

    /// fclayer with the secrets in its environment.
    fn fclayer(&self, ca: &Path) -> Command {
        let mut c = fclayer();
        c.env_remove("SSL_CERT_FILE")
            .env("PIP_INDEX_URL", self.index_url())
            .env("HTTPS_PROXY", self.proxy_url())
            .env("NO_PROXY", "*")
            .env("no_proxy", "*")
            .arg("--verbose")
            .arg("build")
            .arg("--ca-cert")
            .arg(ca);
        c
    }
}

fn digest16(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))[..16].to_string()
}

/// Where `haystack` holds any secret, named.
fn leaks(secrets: &Secrets, haystack: &[u8]) -> Vec<&'static str> {
    secrets
        .all()
        .iter()
        .filter(|(_, s)| haystack.windows(s.len()).any(|w| w == s.as_bytes()))
        .map(|(name, _)| *name)
        .collect()
}

fn assert_no_leak(secrets: &Secrets, what: &str, haystack: &[u8]) {
    let found = leaks(secrets, haystack);
    assert!(found.is_empty(), "{found:?} leaked into {what}");
}

/// The raw ZIP and every entry, decompressed.
fn scan_zip(secrets: &Secrets, zip_path: &Path) -> usize {
    assert_no_leak(secrets, "the ZIP file", &std::fs::read(zip_path).unwrap());
    let mut zip = zip::ZipArchive::new(std::fs::File::open(zip_path).unwrap()).unwrap();
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).unwrap();
        let mut data = Vec::new();
        f.read_to_end(&mut data).unwrap();
        assert_no_leak(
            secrets,
            &format!("layer entry {}", f.name().unwrap()),
            &data,
        );
    }
    zip.len()
}

/// `docker history --no-trunc` and `docker image inspect` of an image.
fn scan_image(secrets: &Secrets, image: &str) {
    let history = docker(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.CreatedBy}} {{.Comment}}",
        image,
    ]);
    assert_no_leak(
        secrets,
        &format!("docker history of {image}"),
        history.as_bytes(),
    );
    let inspect = docker(&["image", "inspect", image]);
    assert_no_leak(
        secrets,
        &format!("docker inspect of {image}"),
        inspect.as_bytes(),
    );
}

/// The build image a build used, from its "Reusing build image" / "Building image" line.
fn build_image_of(stderr: &str) -> String {
    stderr
        .lines()
        .find_map(|l| {
            let l = l.trim();
            l.strip_prefix("Reusing build image ")
                .or_else(|| l.strip_prefix("Building image "))
                .map(|rest| rest.split_whitespace().next().unwrap().to_string())
        })
        .unwrap_or_else(|| panic!("no build image named in:\n{stderr}"))
}

fn all_image_ids() -> std::collections::BTreeSet<String> {
    docker(&["images", "-aq", "--no-trunc"])
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn pip_gets_the_index_password_proxy_and_ca_but_nothing_else_does() {
    require_engine_and(&["debian:11"]);
    // uv is the default installer, pip the one that names the indexes it uses; the secrets must
    // stay out of every output with both.
    for installer in ["pip", "uv"] {
        let secrets = Secrets::new();
        let tmp = tempdir();
        let ca = secrets.ca_bundle(tmp.path());
        let project = python_project(
            tmp.path(),
            &format!(
                "--extra-index-url https://fcuser:{}@pypi.org/simple\nsix==1.16.0\n",
                secrets.requirements_password
            ),
        );
        let out_zip = tmp.path().join("layer.zip");
        let out = run(secrets
            .fclayer(&ca)
            .args(["--runtime", "python3.9", "--base-image", "debian:11"])
            .args(["--installer", installer])
            .arg(&project)
            .arg("-o")
            .arg(&out_zip));
        assert!(out.status.success(), "build with {installer} failed");
        let err = stderr(&out);
        if installer == "pip" {
            // pip used both indexes (it names them, password masked): the credentials reached it.
            assert!(
                err.contains("Looking in indexes: https://fcuser:****@pypi.org/simple, https://fcuser:****@pypi.org/simple"),
                "pip did not get the index URLs: {err}"
            );
        } else {
            // The host's PIP_INDEX_URL, handed to uv as its default index (password masked).
            assert!(
                err.contains("index https://fcuser:****@pypi.org/simple"),
                "uv did not get the index URL: {err}"
            );
        }
        assert_no_leak(&secrets, "stderr", &out.stderr);
        assert_no_leak(&secrets, "stdout", &out.stdout);
        let entries = scan_zip(&secrets, &out_zip);
        assert!(entries > 3, "suspiciously small layer");
        scan_image(&secrets, &build_image_of(&err));
    }
}

#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn npm_gets_the_npmrc_token_proxy_and_ca_but_nothing_else_does() {
    require_engine_and(&["debian:12"]);
    let secrets = Secrets::new();
    let tmp = tempdir();
    let ca = secrets.ca_bundle(tmp.path());
    let project = tmp.path().join("api");
    std::fs::create_dir(&project).unwrap();
    // The root package's preinstall runs where npm runs: it prints digests of what it was given
    // (proof without the bytes), then two secrets in clear, which fclayer must mask.
    let script = "const fs=require('fs'),c=require('crypto');\
        const h=s=>c.createHash('sha256').update(s||'').digest('hex').slice(0,16);\
        const rc=fs.readFileSync('.npmrc','utf8');\
        const tok=(rc.match(/_authToken=(.*)/)||[])[1];\
        const ca=fs.readFileSync(process.env.NODE_EXTRA_CA_CERTS,'utf8');\
        console.log('fclayer-secrets npmrc='+h(tok)+' proxy='+h(process.env.HTTPS_PROXY)+' index='+h(process.env.PIP_INDEX_URL)+' ca='+h((ca.match(/# (fclayer-ca-marker-.*)/)||[])[1]));\
        console.log('in clear: '+process.env.HTTPS_PROXY+' '+tok);";
    let package = serde_json::json!({
        "name": "api",
        "version": "1.0.0",
        "scripts": {"preinstall": format!("node -e \"{}\"", script.replace('"', "\\\""))},
    });
    std::fs::write(project.join("package.json"), package.to_string()).unwrap();
    std::fs::write(
        project.join(".npmrc"),
        format!(
            "@fcsecret:registry=https://npm.fclayer-test.invalid/\n//npm.fclayer-test.invalid/:_authToken={}\n",
            secrets.npm_token
        ),
    )
    .unwrap();
    let out_zip = tmp.path().join("layer.zip");
    let out = run(secrets
        .fclayer(&ca)
        .args(["--runtime", "nodejs18", "--base-image", "debian:12"])
        .arg(&project)
        .arg("-o")
        .arg(&out_zip));
    assert!(out.status.success(), "build failed");
    let err = stderr(&out);
    let proof = format!(
        "fclayer-secrets npmrc={} proxy={} index={} ca={}",
        digest16(&secrets.npm_token),
        digest16(&secrets.proxy_url()),
        digest16(&secrets.index_url()),
        digest16(&secrets.ca_marker)
    );
    assert!(
        err.contains(&proof),
        "the installer did not get every secret ({proof}):\n{err}"
    );
    assert!(
        err.contains("in clear: http://proxyuser:****@127.0.0.1:9 ****"),
        "secrets printed by the installer were not masked:\n{err}"
    );
    assert_no_leak(&secrets, "stderr", &out.stderr);
    assert_no_leak(&secrets, "stdout", &out.stdout);
    let names = zip_names(&out_zip);
    assert!(
        names.contains(&"nodejs/package.json".to_string()),
        "{names:?}"
    );
    assert!(
        !names.iter().any(|n| n.ends_with(".npmrc")),
        ".npmrc in the layer"
    );
    scan_zip(&secrets, &out_zip);
    scan_image(&secrets, &build_image_of(&err));
}

#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn dockerfile_builds_get_the_proxy_but_keep_it_out_of_history_and_logs() {
    require_engine_and(&["debian:12"]);
    let secrets = Secrets::new();
    let tmp = tempdir();
    let ca = secrets.ca_bundle(tmp.path());
    let ctx = tmp.path().join("ctx");
    std::fs::create_dir(&ctx).unwrap();
    // The nonce keeps the engine's cache from skipping the step that proves the proxy arrived.
    let nonce = digest16(&secrets.proxy_password);
    std::fs::write(
        ctx.join("Dockerfile"),
        format!(
            "FROM debian:12\n\
             RUN echo run-{nonce} && echo \"fclayer-secrets proxy=$(printf %s \"$HTTPS_PROXY\" | sha256sum | cut -c1-16)\" \
             && echo \"in clear: $HTTPS_PROXY\" && mkdir -p /opt/x && echo ok >/opt/x/f\n"
        ),
    )
    .unwrap();
    let before = all_image_ids();
    let out_zip = tmp.path().join("layer.zip");
    let out = run(secrets
        .fclayer(&ca)
        .args(["--runtime", "custom.debian12", "--dockerfile"])
        .arg(ctx.join("Dockerfile"))
        .arg(&ctx)
        .arg("-o")
        .arg(&out_zip));
    assert!(out.status.success(), "build failed");
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "fclayer-secrets proxy={}",
            digest16(&secrets.proxy_url())
        )),
        "the RUN step did not get the proxy: {err}"
    );
    assert!(
        err.contains("in clear: http://proxyuser:****@127.0.0.1:9"),
        "the image build's output was not masked: {err}"
    );
    assert_no_leak(&secrets, "stderr", &out.stderr);
    scan_zip(&secrets, &out_zip);
    let new: Vec<String> = all_image_ids().difference(&before).cloned().collect();
    assert!(
        !new.is_empty(),
        "no image was built: the scan proves nothing"
    );
    for image in &new {
        scan_image(&secrets, image);
    }

    // A failing step prints the secret in its last lines: the error's log tail is masked too.
    std::fs::write(
        ctx.join("Dockerfile"),
        format!(
            "FROM debian:12\nRUN echo fail-{nonce} && echo \"proxy was $HTTPS_PROXY\" && exit 3\n"
        ),
    )
    .unwrap();
    let failed = run(secrets
        .fclayer(&ca)
        .args(["--runtime", "custom.debian12", "--dockerfile"])
        .arg(ctx.join("Dockerfile"))
        .arg(&ctx)
        .arg("-o")
        .arg(&out_zip));
    assert_eq!(failed.status.code(), Some(1));
    let err = stderr(&failed);
    assert!(
        err.contains("| proxy was http://proxyuser:****@127.0.0.1:9"),
        "no masked log tail: {err}"
    );
    assert_no_leak(&secrets, "stderr of a failed build", &failed.stderr);
}
