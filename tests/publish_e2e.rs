//! `fclayer build` publishing what it built, end to end: a real python3.9 build in Docker (on the
//! local Debian 11 base, as tests/e2e_python.rs does), then the publish through the stand-in FC
//! server that checks every signature with Alibaba's signer (see tests/publish.rs).

mod common;
#[path = "support/oracle.rs"]
mod oracle;

use common::{fclayer, require_engine_and, run, stderr, stdout};
use oracle::{AK, SECRET, Server};

#[test]
#[ignore = "needs a Docker engine, base images and Alibaba's signers from PyPI: run `make test`"]
fn a_build_publishes_its_layer_and_an_unchanged_rebuild_uploads_nothing() {
    require_engine_and(&["debian:11"]);
    let server = Server::start();
    let tmp = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("proj");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("requirements.txt"), "six==1.16.0\n").unwrap();
    std::fs::write(
        dir.join("fclayer.toml"),
        "[[layer]]\nname = \"deps\"\nruntime = \"python3.9\"\nbase_image = \"debian:11\"\noutput = \"deps.zip\"\n\n\
         [layer.publish]\nlayer_name = \"six-layer\"\nregion = \"cn-hangzhou\"\ndescription = \"six\"\n",
    )
    .unwrap();
    let build = |extra: &[&str]| {
        let mut c = fclayer();
        c.env("HOME", home.path())
            .env("FCLAYER_FC_ENDPOINT", server.url())
            .env("ALIBABA_CLOUD_ACCESS_KEY_ID", AK)
            .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET)
            .env_remove("ALIBABA_CLOUD_SECURITY_TOKEN")
            .arg("build")
            .arg(&dir)
            .args(extra);
        let out = run(&mut c);
        assert!(!stdout(&out).contains(SECRET) && !stderr(&out).contains(SECRET));
        assert!(!stdout(&out).contains(AK) && !stderr(&out).contains(AK));
        out
    };
    let report = |out: &std::process::Output| -> serde_json::Value {
        serde_json::from_str(&stdout(out)).expect("--json")
    };

    // The publish table: the built runtime is the compatible runtime.
    let out = build(&["--json"]);
    assert!(out.status.success());
    let p = &report(&out)[0]["published"];
    assert_eq!(p["status"], "created");
    assert_eq!(p["version"], 1);
    assert_eq!(p["compatible_runtime"], serde_json::json!(["python3.9"]));
    let zip = std::fs::read(dir.join("deps.zip")).unwrap();
    assert_eq!(server.stored_zip("six-layer", 1), zip);

    // The same build again (from the build cache, same bytes): nothing uploaded.
    let out = build(&["--json"]);
    assert!(out.status.success());
    let p = &report(&out)[0]["published"];
    assert_eq!(
        (p["status"].as_str(), p["version"].as_u64()),
        (Some("unchanged"), Some(1))
    );
    assert_eq!(server.log("CreateLayerVersion").len(), 1);

    // --publish names another layer; the ARN is printed on stdout for s.yaml.
    let out = build(&["--publish", "six-other"]);
    assert!(out.status.success());
    assert!(
        stdout(&out).contains("acs:fc:cn-hangzhou:1234567890123456:layers/six-other/versions/1"),
        "{}",
        stdout(&out)
    );
    assert!(stderr(&out).contains("layers:"));
    assert_eq!(server.stored_zip("six-other", 1), zip);
}
