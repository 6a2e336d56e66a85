//! `fclayer publish` and `fclayer layers` against a stand-in for FC's layer endpoints and OSS
//! (tests/support/fc_server.py) that checks every request's signature with Alibaba's own signers
//! from PyPI. FC itself is not reachable from CI.
//!
//! The signers live in a venv that `scripts/oracle-venv.sh` makes (`make test` runs it). Without
//! it these tests are `#[ignore]`d with the reason in plain `cargo test`; run with
//! `--include-ignored` (as `make test` does) they fail, never skip, when the venv is missing, and
//! `oracle_is_installed_in_ci` fails any CI run (CI=true) that lacks it.

mod common;
#[path = "support/oracle.rs"]
mod oracle;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{run, stderr, stdout};
use oracle::{AK, SECRET, STS_AK, STS_SECRET, Server, TOKEN, oracle_python};

#[test]
fn oracle_is_installed_in_ci() {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        assert!(
            oracle_python().is_file(),
            "CI=true but the signing oracle is missing at {}: run scripts/oracle-venv.sh",
            oracle_python().display()
        );
    }
}

/// A home folder of its own, so no real credentials or profiles are read.
struct Env {
    home: tempfile::TempDir,
    work: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        Env {
            home: tempfile::tempdir().unwrap(),
            work: tempfile::tempdir().unwrap(),
        }
    }

    /// A layer ZIP made by `fclayer pack` from one file of this content.
    fn zip(&self, name: &str, content: &str) -> PathBuf {
        let dir = self.work.path().join(format!("{name}-dir"));
        std::fs::create_dir_all(dir.join("python")).unwrap();
        std::fs::write(dir.join("python/mod.py"), content).unwrap();
        let zip = self.work.path().join(format!("{name}.zip"));
        let out = run(common::fclayer()
            .arg("pack")
            .arg(&dir)
            .arg("-o")
            .arg(&zip)
            .arg("-q"));
        assert!(out.status.success());
        zip
    }

    fn fclayer(&self, server: &Server) -> Command {
        let mut c = common::fclayer();
        for var in [
            "ALIBABA_CLOUD_ACCESS_KEY_ID",
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
            "ALIBABA_CLOUD_SECURITY_TOKEN",
            "ALIBABA_CLOUD_PROFILE",
            "ALIBABA_CLOUD_REGION_ID",
            "ALIBABA_CLOUD_CREDENTIALS_FILE",
            "FCLAYER_OSS_ENDPOINT",
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "http_proxy",
            "https_proxy",
        ] {
            c.env_remove(var);
        }
        c.env("HOME", self.home.path())
            .env("FCLAYER_FC_ENDPOINT", server.url())
            .env("ALIBABA_CLOUD_ACCESS_KEY_ID", AK)
            .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET);
        c
    }

    fn publish(&self, server: &Server, zip: &Path, layer: &str) -> Command {
        let mut c = self.fclayer(server);
        c.arg("publish")
            .arg(zip)
            .args(["--layer-name", layer, "--region", "cn-hangzhou"])
            .args(["--compatible-runtime", "python3.10,python3.9"]);
        c
    }
}

/// Run, and check that no credential appears in anything it printed.
fn run_clean(cmd: &mut Command) -> Output {
    let out = run(cmd);
    for secret in [SECRET, AK, STS_AK, STS_SECRET, TOKEN] {
        assert!(
            !stdout(&out).contains(secret) && !stderr(&out).contains(secret),
            "a credential was printed"
        );
    }
    out
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_str(&stdout(out)).expect("--json prints JSON")
}

fn crc64(path: &Path) -> String {
    fclayer::layer::digest::Digests::of_bytes(&std::fs::read(path).unwrap())
        .crc64
        .to_string()
}

#[test]
#[ignore = "needs Alibaba's signers from PyPI: scripts/oracle-venv.sh (make test runs it)"]
fn publish_then_skip_unchanged_then_publish_a_change() {
    let server = Server::start();
    let env = Env::new();
    let v1 = env.zip("v1", "x = 1\n");

    // A layer FC does not know yet is created by its first version, with the exact bytes.
    let out = run_clean(
        env.publish(&server, &v1, "my-deps")
            .args(["--description", "deps"]),
    );
    assert!(out.status.success());
    let arn = "acs:fc:cn-hangzhou:1234567890123456:layers/my-deps/versions/1";
    assert_eq!(stdout(&out).trim(), arn);
    let err = stderr(&out);
    assert!(err.contains("credentials from environment"), "{err}");
    assert!(err.contains("no such layer yet"), "{err}");
    assert!(
        err.contains(&format!("    - {arn}")),
        "the s.yaml line: {err}"
    );
    assert_eq!(server.stored_zip("my-deps", 1), std::fs::read(&v1).unwrap());
    let versions = server.versions("my-deps");
    assert_eq!(versions.len(), 1);
    assert_eq!(
        versions[0]["compatibleRuntime"],
        serde_json::json!(["python3.10", "python3.9"])
    );
    assert_eq!(versions[0]["description"], "deps");
    assert_eq!(versions[0]["codeChecksum"], crc64(&v1));
    let creates = server.log("CreateLayerVersion");
    assert_eq!(creates.len(), 1);
    assert_eq!(creates[0]["checksum_sent"], true);
    assert_eq!(creates[0]["upload"], "inline");

    // The same ZIP again: nothing uploaded, version 1 reported.
    let out = run_clean(env.publish(&server, &v1, "my-deps").arg("--json"));
    assert!(out.status.success());
    let r = json(&out);
    assert_eq!(r["status"], "unchanged");
    assert_eq!(r["upload"], "none");
    assert_eq!(r["version"], 1);
    assert_eq!(r["arn"], arn);
    assert_eq!(
        server.log("CreateLayerVersion").len(),
        1,
        "nothing was created"
    );
    assert!(stderr(&out).contains("unchanged"));

    // A changed ZIP becomes version 2.
    let v2 = env.zip("v2", "x = 2\n");
    let out = run_clean(env.publish(&server, &v2, "my-deps").arg("--json"));
    assert!(out.status.success());
    let r = json(&out);
    assert_eq!(
        (r["status"].as_str(), r["version"].as_u64()),
        (Some("created"), Some(2))
    );
    assert_eq!(r["code_checksum"], crc64(&v2));
    assert_eq!(server.stored_zip("my-deps", 2), std::fs::read(&v2).unwrap());

    // `fclayer layers` lists both, newest first.
    let out = run_clean(env.fclayer(&server).args([
        "layers",
        "my-deps",
        "--region",
        "cn-hangzhou",
        "--json",
    ]));
    assert!(out.status.success());
    let list = json(&out);
    assert_eq!(list[0]["version"], 2);
    assert_eq!(list[1]["version"], 1);
    // Every request was signed over the headers FC requires (the server refused any other).
    for e in server
        .log("ListLayerVersions")
        .iter()
        .chain(&server.log("CreateLayerVersion"))
    {
        assert_ne!(e["status"], "refused", "{e}");
    }
}

#[test]
#[ignore = "needs Alibaba's signers from PyPI: scripts/oracle-venv.sh (make test runs it)"]
fn the_compatible_runtime_defaults_to_the_manifests() {
    let server = Server::start();
    let env = Env::new();
    let zip = env.zip("m", "m = 1\n");
    let manifest = fclayer::manifest::Manifest {
        runtime: "python3.9".into(),
        ..Default::default()
    };
    manifest.write(&fclayer::manifest::path_for(&zip)).unwrap();
    let out = run_clean(env.fclayer(&server).arg("publish").arg(&zip).args([
        "--layer-name",
        "m",
        "--region",
        "cn-hangzhou",
        "--json",
    ]));
    assert!(out.status.success());
    assert_eq!(
        json(&out)["compatible_runtime"],
        serde_json::json!(["python3.9"])
    );
    assert_eq!(
        server.versions("m")[0]["compatibleRuntime"],
        serde_json::json!(["python3.9"])
    );
}

#[test]
#[ignore = "needs Alibaba's signers from PyPI: scripts/oracle-venv.sh (make test runs it)"]
fn every_page_of_versions_is_read() {
    let server = Server::start();
    let env = Env::new();
    let zip = env.zip("p", "p = 1\n");
    // 250 versions (100 per page): only the last page holds the newest, which has our bytes.
    server.control(&format!(
        r#"{{"seed": {{"layer": "many", "count": 250, "last_checksum": "{}"}}}}"#,
        crc64(&zip)
    ));
    let out = run_clean(env.publish(&server, &zip, "many").arg("--json"));
    assert!(out.status.success());
    assert_eq!(json(&out)["version"], 250);
    assert_eq!(json(&out)["status"], "unchanged");
    let pages: Vec<u64> = server
        .log("ListLayerVersions")
        .iter()
        .map(|e| e["start"].as_u64().unwrap())
        .collect();
    assert_eq!(pages, [0, 101, 201]);
    // A different ZIP: version 251.
    let other = env.zip("q", "q = 1\n");
    let out = run_clean(env.publish(&server, &other, "many").arg("--json"));
    assert_eq!(json(&out)["version"], 251);
}

#[test]
#[ignore = "needs Alibaba's signers from PyPI: scripts/oracle-venv.sh (make test runs it)"]
fn an_sts_token_is_sent_and_signed() {
    let server = Server::start();
    let env = Env::new();
    let zip = env.zip("s", "s = 1\n");
    let out = run_clean(
        env.publish(&server, &zip, "sts-layer")
            .env("ALIBABA_CLOUD_ACCESS_KEY_ID", STS_AK)
            .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", STS_SECRET)
            .env("ALIBABA_CLOUD_SECURITY_TOKEN", TOKEN),
    );
    assert!(out.status.success());
    assert!(stderr(&out).contains("STS token"));
    let create = &server.log("CreateLayerVersion")[0];
    assert_eq!(create["sts"], true);
    let signed: Vec<&str> = create["signed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(signed.contains(&"x-acs-security-token") && signed.contains(&"x-acs-accesskey-id"));
    // Without its token the STS key is refused, with a hint about the token.
    let out = run_clean(
        env.publish(&server, &zip, "sts-layer")
            .env("ALIBABA_CLOUD_ACCESS_KEY_ID", STS_AK)
            .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", STS_SECRET),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("InvalidSecurityToken"),
        "{}",
        stderr(&out)
    );
}

#[test]
#[ignore = "needs Alibaba's signers from PyPI: scripts/oracle-venv.sh (make test runs it)"]
fn a_wrong_secret_or_key_is_reported_in_one_line_with_a_hint() {
    let server = Server::start();
    let env = Env::new();
    let zip = env.zip("w", "w = 1\n");
    let out = run_clean(
        env.publish(&server, &zip, "w")
            .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "NotTheRightSecret123"),
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        !err.contains("NotTheRightSecret123"),
        "the wrong secret is masked too"
    );
    let line = err.lines().find(|l| l.starts_with("error:")).unwrap();
    assert!(line.contains("403 SignatureDoesNotMatch"), "{line}");
    assert!(line.contains("RequestId req-"), "{line}");
    assert!(err.contains("hint:") && err.contains("clock"), "{err}");
    assert!(server.versions("w").is_empty());

    let out = run_clean(
        env.publish(&server, &zip, "w")
            .env("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAIunknown"),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("InvalidAccessKeyId"));
    assert!(stderr(&out).contains("RAM console"));

    server.control(r#"{"deny": true}"#);
    let out = run_clean(&mut env.publish(&server, &zip, "w"));
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("AccessDenied"));
    assert!(stderr(&out).contains("fc:CreateLayerVersion on acs:fc:cn-hangzhou:*:layers/w/*"));
}

#[test]
#[ignore = "needs Alibaba's signers from PyPI: scripts/oracle-venv.sh (make test runs it)"]
fn throttling_is_retried_then_succeeds() {
    let server = Server::start();
    let env = Env::new();
    let zip = env.zip("t", "t = 1\n");
    server.control(r#"{"throttle": 2}"#);
    let out = run_clean(&mut env.publish(&server, &zip, "t"));
    assert!(out.status.success());
    assert!(stderr(&out).contains("429 Throttling"), "{}", stderr(&out));
    assert!(stderr(&out).contains("retrying"));
    assert_eq!(server.versions("t").len(), 1);
    // More throttling than retries: an error, nothing created.
    server.control(r#"{"throttle": 10}"#);
    let other = env.zip("t2", "t = 2\n");
    let out = run_clean(env.publish(&server, &other, "t").args(["--retries", "1"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("throttling"));
    assert_eq!(server.versions("t").len(), 1);
}

#[test]
#[ignore = "needs Alibaba's signers from PyPI: scripts/oracle-venv.sh (make test runs it)"]
fn a_lost_answer_after_the_create_makes_no_second_version() {
    let server = Server::start();
    let env = Env::new();
    // A 5xx after FC made the version.
    let zip = env.zip("e", "e = 1\n");
    server.control(r#"{"error_after_create": 1}"#);
    let out = run_clean(env.publish(&server, &zip, "e").arg("--json"));
    assert!(out.status.success());
    assert_eq!(json(&out)["version"], 1);
    assert!(
        stderr(&out).contains("the lost attempt made it"),
        "{}",
        stderr(&out)
    );
    assert_eq!(server.versions("e").len(), 1);
    assert_eq!(server.log("CreateLayerVersion").len(), 1);
    // The connection dropped after FC made the version.
    let zip2 = env.zip("e2", "e = 2\n");
    server.control(r#"{"drop_after_create": 1}"#);
    let out = run_clean(env.publish(&server, &zip2, "e").arg("--json"));
    assert!(out.status.success());
    assert_eq!(json(&out)["version"], 2);
    assert_eq!(server.versions("e").len(), 2);
}

#[test]
#[ignore = "needs Alibaba's signers from PyPI: scripts/oracle-venv.sh (make test runs it)"]
fn a_zip_over_the_inline_limit_goes_through_oss() {
    let server = Server::start();
    let env = Env::new();
    let zip = env.zip("o", &"print('oss')\n".repeat(100));
    let size = std::fs::metadata(&zip).unwrap().len();
    let limit = (size - 1).to_string();
    // Without a bucket: an error saying how big it is and what to pass; nothing sent.
    let out = run_clean(
        env.publish(&server, &zip, "big")
            .args(["--inline-max", &limit]),
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains(&format!("({size} bytes)")), "{err}");
    assert!(err.contains("--oss-bucket"), "{err}");
    assert!(server.state()["log"].as_array().unwrap().is_empty());

    for (layer, creds) in [
        ("big", (AK, SECRET, None)),
        ("big-sts", (STS_AK, STS_SECRET, Some(TOKEN))),
    ] {
        let mut cmd = env.publish(&server, &zip, layer);
        cmd.args([
            "--inline-max",
            &limit,
            "--oss-bucket",
            "my-bucket",
            "--oss-prefix",
            "fclayer",
        ])
        .args(["--oss-endpoint", &server.url(), "--json"])
        .env("ALIBABA_CLOUD_ACCESS_KEY_ID", creds.0)
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", creds.1);
        if let Some(t) = creds.2 {
            cmd.env("ALIBABA_CLOUD_SECURITY_TOKEN", t);
        }
        let out = run_clean(&mut cmd);
        assert!(out.status.success());
        let r = json(&out);
        assert_eq!(r["upload"], "oss");
        let object = r["oss_object"].as_str().unwrap();
        assert!(
            object.starts_with(&format!("oss://my-bucket/fclayer/{layer}/")),
            "{object}"
        );
        assert_eq!(server.stored_zip(layer, 1), std::fs::read(&zip).unwrap());
        let put = server.log("PutObject");
        assert_eq!(put.last().unwrap()["status"], "stored");
        assert_eq!(put.last().unwrap()["sts"], creds.2.is_some());
    }
    // OSS expecting another secret: its signer's check refuses the upload, nothing is created.
    server.control(r#"{"oss_expects_other_secret": true}"#);
    let other = env.zip("o2", &"print('x')\n".repeat(100));
    let out = run_clean(env.publish(&server, &other, "big").args([
        "--inline-max",
        "10",
        "--oss-bucket",
        "my-bucket",
        "--oss-endpoint",
        &server.url(),
    ]));
    assert_eq!(server.versions("big").len(), 1);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("OSS answered 403 SignatureDoesNotMatch"),
        "{}",
        stderr(&out)
    );
}

#[test]
#[ignore = "needs Alibaba's signers from PyPI: scripts/oracle-venv.sh (make test runs it)"]
fn credentials_from_the_aliyun_cli_profile() {
    let server = Server::start();
    let env = Env::new();
    let zip = env.zip("c", "c = 1\n");
    std::fs::create_dir_all(env.home.path().join(".aliyun")).unwrap();
    std::fs::write(
        env.home.path().join(".aliyun/config.json"),
        format!(
            r#"{{"current": "ci", "profiles": [{{"name": "ci", "mode": "AK", "access_key_id": "{AK}", "access_key_secret": "{SECRET}", "region_id": "cn-hangzhou"}},
               {{"name": "sso", "mode": "CloudSSO"}}]}}"#
        ),
    )
    .unwrap();
    // No --region: the profile's.
    let out = run_clean(
        env.fclayer(&server)
            .env_remove("ALIBABA_CLOUD_ACCESS_KEY_ID")
            .env_remove("ALIBABA_CLOUD_ACCESS_KEY_SECRET")
            .arg("publish")
            .arg(&zip)
            .args(["--layer-name", "c", "--compatible-runtime", "python3.10"]),
    );
    assert!(out.status.success());
    assert!(
        stderr(&out).contains("profile `ci` (AK)"),
        "{}",
        stderr(&out)
    );
    let out = run_clean(env.fclayer(&server).arg("publish").arg(&zip).args([
        "--layer-name",
        "c",
        "--compatible-runtime",
        "python3.10",
        "--profile",
        "sso",
    ]));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("uses mode CloudSSO, which fclayer cannot use"));
}

/// A CA and a certificate it signed for 127.0.0.1 (rustls refuses a CA certificate as a server's).
fn make_certs(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let (ca, ca_key) = (dir.join("ca.pem"), dir.join("ca.key"));
    let (cert, key, csr, ext) = (
        dir.join("srv.pem"),
        dir.join("srv.key"),
        dir.join("srv.csr"),
        dir.join("ext"),
    );
    std::fs::write(
        &ext,
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    let openssl = |args: &[&std::ffi::OsStr]| {
        let out = Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let s = |v: &str| std::ffi::OsString::from(v);
    openssl(&[
        s("req").as_os_str(),
        &s("-x509"),
        &s("-newkey"),
        &s("rsa:2048"),
        &s("-nodes"),
        &s("-days"),
        &s("1"),
        &s("-subj"),
        &s("/CN=fclayer test CA"),
        &s("-keyout"),
        ca_key.as_os_str(),
        &s("-out"),
        ca.as_os_str(),
    ]);
    openssl(&[
        s("req").as_os_str(),
        &s("-newkey"),
        &s("rsa:2048"),
        &s("-nodes"),
        &s("-subj"),
        &s("/CN=127.0.0.1"),
        &s("-keyout"),
        key.as_os_str(),
        &s("-out"),
        csr.as_os_str(),
    ]);
    openssl(&[
        s("x509").as_os_str(),
        &s("-req"),
        &s("-in"),
        csr.as_os_str(),
        &s("-CA"),
        ca.as_os_str(),
        &s("-CAkey"),
        ca_key.as_os_str(),
        &s("-CAcreateserial"),
        &s("-days"),
        &s("1"),
        &s("-extfile"),
        ext.as_os_str(),
        &s("-out"),
        cert.as_os_str(),
    ]);
    (ca, cert, key)
}

#[test]
#[ignore = "needs Alibaba's signers from PyPI: scripts/oracle-venv.sh (make test runs it)"]
fn https_trusts_the_ca_given_by_flag_or_ssl_cert_file() {
    let env = Env::new();
    let (ca, cert, key) = make_certs(env.work.path());
    let server = Server::start_with(&[
        std::ffi::OsStr::new("--tls"),
        cert.as_os_str(),
        key.as_os_str(),
    ]);
    let https = format!(
        "https://127.0.0.1:{}",
        server.url().rsplit(':').next().unwrap()
    );
    let zip = env.zip("tls", "tls = 1\n");
    // Not trusted: one clear error (not retried), naming --ca-cert.
    let out = run_clean(
        env.publish(&server, &zip, "tls")
            .env("FCLAYER_FC_ENDPOINT", &https)
            .env_remove("SSL_CERT_FILE"),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--ca-cert"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("retrying"));
    // --ca-cert, then SSL_CERT_FILE.
    let out = run_clean(
        env.publish(&server, &zip, "tls")
            .env("FCLAYER_FC_ENDPOINT", &https)
            .env_remove("SSL_CERT_FILE")
            .arg("--ca-cert")
            .arg(&ca),
    );
    assert!(out.status.success());
    let other = env.zip("tls2", "tls = 2\n");
    let out = run_clean(
        env.publish(&server, &other, "tls")
            .env("FCLAYER_FC_ENDPOINT", &https)
            .env("SSL_CERT_FILE", &ca)
            .arg("--json"),
    );
    assert!(out.status.success());
    assert_eq!(json(&out)["version"], 2);
}

#[test]
fn a_bad_publish_table_or_flag_fails_before_any_build() {
    let env = Env::new();
    let dir = env.work.path().join("proj");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("requirements.txt"), "six\n").unwrap();
    std::fs::write(
        dir.join("fclayer.toml"),
        "[[layer]]\nname = \"deps\"\nruntime = \"python3.9\"\n\n[layer.publish]\nregion = \"cn-hangzhou\"\naccess_key_secret = \"x\"\n",
    )
    .unwrap();
    // DOCKER_HOST points nowhere: the file must fail before any engine is asked.
    let out = run_clean(
        common::fclayer()
            .env("DOCKER_HOST", "unix:///nonexistent.sock")
            .arg("build")
            .arg(&dir),
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("fclayer.toml:7:1") && err.contains("unknown field `access_key_secret`"),
        "{err}"
    );
    let out = run_clean(
        common::fclayer()
            .env("DOCKER_HOST", "unix:///nonexistent.sock")
            .args(["build", "--check", "--publish", "x"])
            .arg(&dir),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("cannot be used with"),
        "{}",
        stderr(&out)
    );
    // --publish names one FC layer: not several built layers.
    std::fs::write(
        dir.join("fclayer.toml"),
        "[[layer]]\nname = \"a\"\nruntime = \"python3.9\"\n\n[[layer]]\nname = \"b\"\nruntime = \"python3.9\"\n",
    )
    .unwrap();
    let out = run_clean(
        common::fclayer()
            .env("DOCKER_HOST", "unix:///nonexistent.sock")
            .args(["build", "--publish", "x"])
            .arg(&dir),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--publish names one FC layer, but this builds 2 layers"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn bad_input_fails_before_any_request() {
    let env = Env::new();
    let zip = env.zip("b", "b = 1\n");
    // Port 9 (discard) on loopback: nothing must be sent there, the checks fail first.
    let mut base = common::fclayer();
    base.env("HOME", env.home.path())
        .env("FCLAYER_FC_ENDPOINT", "http://127.0.0.1:9")
        .env("ALIBABA_CLOUD_ACCESS_KEY_ID", AK)
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET)
        .env_remove("ALIBABA_CLOUD_REGION_ID");
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "--layer-name",
                "1bad",
                "--region",
                "cn-hangzhou",
                "--compatible-runtime",
                "python3.10",
            ],
            "not a valid FC layer name",
        ),
        (
            &["--layer-name", "ok", "--region", "cn-hangzhou"],
            "no compatible runtime",
        ),
        (
            &[
                "--layer-name",
                "ok",
                "--region",
                "cn-hangzhou",
                "--compatible-runtime",
                "python9",
            ],
            "unknown runtime `python9`",
        ),
        (
            &["--layer-name", "ok", "--compatible-runtime", "python3.10"],
            "no region to publish to",
        ),
        (
            &[
                "--layer-name",
                "ok",
                "--region",
                "cn-hangzhou",
                "--compatible-runtime",
                "python3.10",
                "--endpoint",
                "http://example.com",
            ],
            "unencrypted",
        ),
    ];
    for (args, want) in cases {
        let mut cmd = common::fclayer();
        cmd.env("HOME", env.home.path())
            .env("FCLAYER_FC_ENDPOINT", "http://127.0.0.1:9")
            .env("ALIBABA_CLOUD_ACCESS_KEY_ID", AK)
            .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET)
            .env_remove("ALIBABA_CLOUD_REGION_ID")
            .arg("publish")
            .arg(&zip)
            .args(*args);
        let out = run_clean(&mut cmd);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(stderr(&out).contains(want), "{args:?}: {}", stderr(&out));
    }
    // Not a ZIP.
    let not_zip = env.work.path().join("x.zip");
    std::fs::write(&not_zip, "hello").unwrap();
    let out = run_clean(base.arg("publish").arg(&not_zip).args([
        "--layer-name",
        "ok",
        "--region",
        "cn-hangzhou",
        "--compatible-runtime",
        "python3.10",
    ]));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("is not a ZIP file"));
    // No credentials anywhere.
    let out = run_clean(
        common::fclayer()
            .env("HOME", env.home.path())
            .env_remove("ALIBABA_CLOUD_ACCESS_KEY_ID")
            .env_remove("ALIBABA_CLOUD_ACCESS_KEY_SECRET")
            .env_remove("ALIBABA_CLOUD_CREDENTIALS_FILE")
            .arg("publish")
            .arg(&zip)
            .args([
                "--layer-name",
                "ok",
                "--region",
                "cn-hangzhou",
                "--compatible-runtime",
                "python3.10",
            ]),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no Alibaba Cloud credentials found"));
}
