//! A remote engine for real: a second dockerd that this test starts on a loopback TCP port with
//! TLS certificates it generates. fclayer reaches it through DOCKER_HOST + DOCKER_TLS_VERIFY +
//! DOCKER_CERT_PATH, and through a Docker context, and leaves nothing behind on either engine.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, the file names the Docker
/// CLI expects in DOCKER_CERT_PATH (ca.pem, cert.pem, key.pem).
fn certificates(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca-key.pem",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=fclayer test CA",
        ],
    );
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server-key.pem",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca-key.pem",
            "-CAcreateserial",
            "-out",
            "server-cert.pem",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
    );
    std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "key.pem",
            "-out",
            "client.csr",
            "-subj",
            "/CN=fclayer test client",
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "client.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca-key.pem",
            "-CAcreateserial",
            "-out",
            "cert.pem",
            "-days",
            "2",
            "-extfile",
            "client.ext",
        ],
    );
}

/// The second engine; stopped (and its state removed) when dropped, even if the test fails.
struct SecondEngine {
    child: Child,
    root: PathBuf,
    host: String,
    certs: PathBuf,
    bridge: String,
}

fn ip(args: &[&str]) {
    let ok = Command::new("ip")
        .args(args)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "ip {args:?} failed");
}

impl SecondEngine {
    fn start(certs: &Path) -> SecondEngine {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // Short paths: containerd's sockets live under the exec root and must fit in sun_path.
        let root = PathBuf::from(format!("/tmp/fcl2-{port}"));
        std::fs::create_dir_all(&root).unwrap();
        let host = format!("tcp://127.0.0.1:{port}");
        // A bridge of its own: `--bridge=none` would make this dockerd delete the host's docker0,
        // which the main engine's containers need.
        let bridge = format!("fcl2br{}", port % 10_000);
        let _ = Command::new("ip")
            .args(["link", "del", &bridge])
            .stderr(Stdio::null())
            .status();
        ip(&["link", "add", &bridge, "type", "bridge"]);
        let subnet = format!("10.217.{}.1/24", port % 250);
        ip(&["addr", "add", &subnet, "dev", &bridge]);
        ip(&["link", "set", &bridge, "up"]);
        let log = std::fs::File::create(root.join("dockerd.log")).unwrap();
        let child = Command::new("dockerd")
            .args(["--data-root", &root.join("data").to_string_lossy()])
            .args(["--exec-root", &root.join("x").to_string_lossy()])
            .args(["--pidfile", &root.join("pid").to_string_lossy()])
            .args(["-H", &host, "--tlsverify"])
            .args(["--tlscacert", &certs.join("ca.pem").to_string_lossy()])
            .args([
                "--tlscert",
                &certs.join("server-cert.pem").to_string_lossy(),
            ])
            .args(["--tlskey", &certs.join("server-key.pem").to_string_lossy()])
            .args(["--bridge", &bridge, "--iptables=false", "--ip-masq=false"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start a second dockerd");
        let engine = SecondEngine {
            child,
            root,
            host,
            certs: certs.to_path_buf(),
            bridge,
        };
        let start = Instant::now();
        while !engine.docker_ok(&["version"]) {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "the second dockerd did not answer: {}",
                std::fs::read_to_string(engine.root.join("dockerd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(300));
        }
        engine
    }

    fn cli(&self) -> Command {
        let mut c = Command::new("docker");
        c.env("DOCKER_HOST", &self.host)
            .env("DOCKER_TLS_VERIFY", "1")
            .env("DOCKER_CERT_PATH", &self.certs);
        c
    }

    fn docker_ok(&self, args: &[&str]) -> bool {
        self.cli()
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    fn docker(&self, args: &[&str]) -> String {
        let out = self.cli().args(args).output().unwrap();
        assert!(
            out.status.success(),
            "docker {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for SecondEngine {
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Overlay mounts of the data root, if any survived, must go before the folder can.
        let _ = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "grep -o ' {0}[^ ]*' /proc/mounts | sort -r | xargs -r -n1 umount -l",
                self.root.display()
            ))
            .status();
        let _ = std::fs::remove_dir_all(&self.root);
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .status();
    }
}

#[test]
#[ignore = "needs a Docker engine and base images: run `make test`"]
fn builds_on_a_remote_tls_engine_and_leaves_nothing_on_either() {
    require_engine_and(&["debian:12"]);
    let tmp = tempdir();
    let certs = tmp.path().join("certs");
    std::fs::create_dir(&certs).unwrap();
    certificates(&certs);
    let remote = SecondEngine::start(&certs);

    // The remote engine gets its own base image, under a name only it has.
    let mut save = Command::new("docker")
        .args(["save", "debian:12"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let load = remote
        .cli()
        .arg("load")
        .stdin(save.stdout.take().unwrap())
        .output()
        .unwrap();
    assert!(save.wait().unwrap().success(), "docker save failed");
    assert!(
        load.status.success(),
        "{}",
        String::from_utf8_lossy(&load.stderr)
    );
    remote.docker(&["tag", "debian:12", "fclayer-remote-only:1"]);

    let ctx = tmp.path().join("ctx");
    std::fs::create_dir(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM fclayer-remote-only:1\nRUN mkdir -p /opt/bin && cp /bin/true /opt/bin/remote-true\n",
    )
    .unwrap();
    let zip = tmp.path().join("remote.zip");
    let out = Build::project(&ctx)
        .runtime("custom.debian12")
        .dockerfile_arg("Dockerfile")
        .env("DOCKER_HOST", &remote.host)
        .env("DOCKER_TLS_VERIFY", "1")
        .env("DOCKER_CERT_PATH", &certs)
        .out(&zip)
        .run();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(zip_names(&zip), vec!["bin/", "bin/remote-true"]);

    // The same engine through a Docker context, with DOCKER_HOST unset.
    let config = tmp.path().join("docker-config");
    let id = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(b"fclayer-remote"))
    };
    let meta = config.join("contexts/meta").join(&id);
    let tls = config.join("contexts/tls").join(&id).join("docker");
    std::fs::create_dir_all(&meta).unwrap();
    std::fs::create_dir_all(&tls).unwrap();
    std::fs::write(
        meta.join("meta.json"),
        format!(r#"{{"Name":"fclayer-remote","Metadata":{{}},"Endpoints":{{"docker":{{"Host":"{}","SkipTLSVerify":false}}}}}}"#, remote.host),
    )
    .unwrap();
    for f in ["ca.pem", "cert.pem", "key.pem"] {
        std::fs::copy(certs.join(f), tls.join(f)).unwrap();
    }
    std::fs::write(
        config.join("config.json"),
        r#"{"currentContext": "fclayer-remote"}"#,
    )
    .unwrap();
    let zip2 = tmp.path().join("context.zip");
    let out = Build::project(&ctx)
        .runtime("custom.debian12")
        .dockerfile_arg("Dockerfile")
        .env_remove("DOCKER_HOST")
        .env("DOCKER_CONFIG", &config)
        .out(&zip2)
        .run();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read(&zip).unwrap(), std::fs::read(&zip2).unwrap());

    // A client certificate the engine does not trust is refused with a clear message.
    let wrong = tmp.path().join("wrong");
    std::fs::create_dir(&wrong).unwrap();
    certificates(&wrong);
    let out = Build::project(&ctx)
        .runtime("custom.debian12")
        .dockerfile_arg("Dockerfile")
        .env("DOCKER_HOST", &remote.host)
        .env("DOCKER_TLS_VERIFY", "1")
        .env("DOCKER_CERT_PATH", &wrong)
        .out(tmp.path().join("never.zip"))
        .run();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot reach a Docker engine"),
        "{}",
        stderr(&out)
    );

    // The main engine's bridge is untouched.
    assert!(
        Command::new("ip")
            .args(["link", "show", "docker0"])
            .status()
            .unwrap()
            .success()
    );
    // Nothing left on either engine.
    assert!(
        remote
            .docker(&["ps", "-aq", "--filter", "label=fclayer"])
            .trim()
            .is_empty()
    );
    assert!(
        remote
            .docker(&["images", "-q", "fclayer-tmp/*"])
            .trim()
            .is_empty()
    );
    assert!(fclayer_containers().is_empty());
    assert!(docker(&["images", "-q", "fclayer-tmp/*"]).trim().is_empty());
}
