//! The stand-in FC/OSS server of the publish tests (tests/support/fc_server.py), run with the
//! Python of the oracle venv that scripts/oracle-venv.sh makes. Shared by tests/publish*.rs.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub const AK: &str = "LTAI5tTestAccessKeyId";
pub const SECRET: &str = "TestSecretValue0123456789abcdef";
pub const STS_AK: &str = "STS.NUTestStsKeyId";
pub const STS_SECRET: &str = "StsSecretValue9876543210zyxwv";
pub const TOKEN: &str = "CAIStsTokenValueForTheTests+/=xyz";

pub fn oracle_python() -> PathBuf {
    match std::env::var_os("FCLAYER_ORACLE_VENV") {
        Some(v) => PathBuf::from(v).join("bin/python"),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("target/oracle-venv/bin/python"),
    }
}

/// The test server, stopped (by its own pid) when dropped.
pub struct Server {
    child: Child,
    port: u16,
    pub state: tempfile::TempDir,
}

impl Server {
    pub fn start() -> Server {
        Server::start_with(&[])
    }

    /// With extra arguments for the server, e.g. `--tls CERT KEY`.
    pub fn start_with(extra: &[&std::ffi::OsStr]) -> Server {
        let python = oracle_python();
        assert!(
            python.is_file(),
            "the signing oracle is missing at {}: run scripts/oracle-venv.sh",
            python.display()
        );
        let state = tempfile::tempdir().unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/fc_server.py");
        let mut child = Command::new(python)
            .arg(script)
            .arg("--state")
            .arg(state.path())
            .args(["--account", &format!("{AK}:{SECRET}")])
            .args(["--account", &format!("{STS_AK}:{STS_SECRET}:{TOKEN}")])
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the test server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("PORT ")
            .unwrap_or_else(|| panic!("test server said {line:?}"))
            .parse()
            .unwrap();
        Server { child, port, state }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn http(&self, method: &str, path: &str, body: &str) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out.split_once("\r\n\r\n").unwrap().1.to_string()
    }

    pub fn control(&self, json: &str) {
        self.http("POST", "/__control", json);
    }

    pub fn state(&self) -> serde_json::Value {
        serde_json::from_str(&self.http("GET", "/__state", "")).unwrap()
    }

    /// The requests the server saw for `action`, with their outcome.
    pub fn log(&self, action: &str) -> Vec<serde_json::Value> {
        self.state()["log"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == action)
            .cloned()
            .collect()
    }

    pub fn versions(&self, layer: &str) -> Vec<serde_json::Value> {
        self.state()["layers"][layer]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    pub fn stored_zip(&self, layer: &str, version: u64) -> Vec<u8> {
        std::fs::read(self.state.path().join(format!("{layer}-{version}.zip"))).unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
