//! Where the AccessKey comes from, in the order Alibaba's own tools look (the SDKs' default
//! credential chain, without the parts that need a network call):
//!
//! 1. `ALIBABA_CLOUD_ACCESS_KEY_ID` + `ALIBABA_CLOUD_ACCESS_KEY_SECRET`
//!    (+ `ALIBABA_CLOUD_SECURITY_TOKEN` for an STS token);
//! 2. the aliyun CLI's `~/.aliyun/config.json`: the profile `--profile` names, else
//!    `ALIBABA_CLOUD_PROFILE`, else the file's `current` (modes `AK` and `StsToken`);
//! 3. `~/.alibabacloud/credentials.ini` (or `ALIBABA_CLOUD_CREDENTIALS_FILE`): the section
//!    `ALIBABA_CLOUD_PROFILE` names, else `[default]`, of `type = access_key`.
//!
//! `--profile` names a profile of config.json and skips the environment: an explicit choice wins.
//! The values are returned to be used and masked, never to be shown: `Debug` prints the source.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

pub struct Credentials {
    pub access_key_id: String,
    pub access_key_secret: String,
    pub security_token: Option<String>,
    /// Where they were found, for the user: "environment (ALIBABA_CLOUD_ACCESS_KEY_ID)", ...
    pub source: String,
    /// The region of the aliyun CLI profile, used when no region is given.
    pub region: Option<String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credentials from {}", self.source)
    }
}

impl Credentials {
    /// Every value to mask in output.
    pub fn secrets(&self) -> Vec<String> {
        let mut v = vec![self.access_key_id.clone(), self.access_key_secret.clone()];
        v.extend(self.security_token.clone());
        v
    }
}

/// What the lookup reads: the environment and the home folder, given so tests can use their own.
pub struct Sources<'a> {
    pub env: &'a dyn Fn(&str) -> Option<String>,
    pub home: Option<PathBuf>,
}

impl Sources<'_> {
    fn var(&self, name: &str) -> Option<String> {
        (self.env)(name).filter(|v| !v.is_empty())
    }
}

/// The process's own environment and `$HOME`.
pub fn resolve(profile: Option<&str>) -> Result<Credentials> {
    let env = |k: &str| std::env::var(k).ok();
    let sources = Sources {
        env: &env,
        home: std::env::var_os("HOME").map(PathBuf::from),
    };
    resolve_from(profile, &sources)
}

pub fn resolve_from(profile: Option<&str>, src: &Sources) -> Result<Credentials> {
    let cli_config = src.home.as_ref().map(|h| h.join(".aliyun/config.json"));
    if let Some(name) = profile {
        let path = cli_config.ok_or_else(|| {
            Error::input("--profile needs ~/.aliyun/config.json, and HOME is not set")
        })?;
        return match cli_profile(&path, Some(name))? {
            Some(c) => Ok(c),
            None => Err(
                Error::input(format!("{} does not exist", path.display())).with_hint(
                    "create the profile with `aliyun configure --profile NAME`, or drop --profile",
                ),
            ),
        };
    }
    if let Some(c) = from_env(src)? {
        return Ok(c);
    }
    let cli_disabled = src
        .var("ALIBABA_CLOUD_CLI_PROFILE_DISABLED")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if let Some(path) = &cli_config
        && !cli_disabled
        && let Some(c) = cli_profile(path, src.var("ALIBABA_CLOUD_PROFILE").as_deref())?
    {
        return Ok(c);
    }
    let ini = src
        .var("ALIBABA_CLOUD_CREDENTIALS_FILE")
        .map(PathBuf::from)
        .or_else(|| {
            src.home
                .as_ref()
                .map(|h| h.join(".alibabacloud/credentials.ini"))
        });
    if let Some(path) = &ini
        && let Some(c) = credentials_ini(path, src.var("ALIBABA_CLOUD_PROFILE").as_deref())?
    {
        return Ok(c);
    }
    Err(Error::input("no Alibaba Cloud credentials found").with_details([
        "looked for ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET in the environment".to_string(),
        "then ~/.aliyun/config.json (the aliyun CLI's profiles)".to_string(),
        "then ~/.alibabacloud/credentials.ini".to_string(),
    ])
    .with_hint("set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET (and ALIBABA_CLOUD_SECURITY_TOKEN for an STS token), or run `aliyun configure`"))
}

fn from_env(src: &Sources) -> Result<Option<Credentials>> {
    let id = src.var("ALIBABA_CLOUD_ACCESS_KEY_ID");
    let secret = src.var("ALIBABA_CLOUD_ACCESS_KEY_SECRET");
    match (id, secret) {
        (None, None) => Ok(None),
        (Some(id), Some(secret)) => {
            let token = src.var("ALIBABA_CLOUD_SECURITY_TOKEN");
            Ok(Some(Credentials {
                source: format!(
                    "environment (ALIBABA_CLOUD_ACCESS_KEY_ID{})",
                    if token.is_some() { ", STS token" } else { "" }
                ),
                access_key_id: id,
                access_key_secret: secret,
                security_token: token,
                region: None,
            }))
        }
        (Some(_), None) => Err(Error::input(
            "ALIBABA_CLOUD_ACCESS_KEY_ID is set but ALIBABA_CLOUD_ACCESS_KEY_SECRET is not",
        )
        .with_hint("set both, or unset both to use ~/.aliyun/config.json")),
        (None, Some(_)) => Err(Error::input(
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET is set but ALIBABA_CLOUD_ACCESS_KEY_ID is not",
        )
        .with_hint("set both, or unset both to use ~/.aliyun/config.json")),
    }
}

#[derive(serde::Deserialize)]
struct CliConfig {
    #[serde(default)]
    current: String,
    #[serde(default)]
    profiles: Vec<CliProfile>,
}

#[derive(serde::Deserialize)]
struct CliProfile {
    #[serde(default)]
    name: String,
    #[serde(default)]
    mode: String,
    #[serde(default)]
    access_key_id: String,
    #[serde(default)]
    access_key_secret: String,
    #[serde(default)]
    sts_token: String,
    #[serde(default)]
    region_id: String,
}

/// The aliyun CLI's profile `name` (else the file's `current`); `None` when there is no file.
fn cli_profile(path: &Path, name: Option<&str>) -> Result<Option<Credentials>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && name.is_none() => return Ok(None),
        Err(e) => return Err(Error::io("read", path, e)),
    };
    // serde_json's message can quote the offending text, which may be a secret: say where only.
    let config: CliConfig = serde_json::from_str(&text).map_err(|e| {
        Error::input(format!(
            "{}:{}:{}: not the aliyun CLI's config.json format",
            path.display(),
            e.line(),
            e.column()
        ))
        .with_hint("`aliyun configure` rewrites it")
    })?;
    let wanted = name.unwrap_or(config.current.as_str());
    let wanted = if wanted.is_empty() { "default" } else { wanted };
    let Some(p) = config.profiles.iter().find(|p| p.name == wanted) else {
        if name.is_none() && config.profiles.is_empty() {
            return Ok(None);
        }
        let names: Vec<&str> = config.profiles.iter().map(|p| p.name.as_str()).collect();
        return Err(
            Error::input(format!("{} has no profile `{wanted}`", path.display()))
                .with_details([format!("profiles there: {}", names.join(", "))])
                .with_hint("pass --profile with one of them, or `aliyun configure --profile NAME`"),
        );
    };
    let source = format!("{} profile `{}` ({})", path.display(), p.name, p.mode);
    let token = match p.mode.as_str() {
        "AK" => None,
        "StsToken" => Some(p.sts_token.clone()),
        other => {
            return Err(Error::input(format!(
                "{} profile `{}` uses mode {other}, which fclayer cannot use",
                path.display(),
                p.name
            ))
            .with_hint("fclayer reads AK and StsToken profiles; for a role, get an STS token (e.g. `aliyun sts AssumeRole`) and set ALIBABA_CLOUD_ACCESS_KEY_ID, ALIBABA_CLOUD_ACCESS_KEY_SECRET and ALIBABA_CLOUD_SECURITY_TOKEN"));
        }
    };
    if p.access_key_id.is_empty()
        || p.access_key_secret.is_empty()
        || token.as_ref().is_some_and(|t| t.is_empty())
    {
        return Err(Error::input(format!(
            "{} profile `{}` ({}) lacks {}",
            path.display(),
            p.name,
            p.mode,
            if token.as_ref().is_some_and(|t| t.is_empty()) {
                "sts_token"
            } else {
                "access_key_id or access_key_secret"
            }
        ))
        .with_hint("`aliyun configure --profile NAME` fills it in"));
    }
    Ok(Some(Credentials {
        access_key_id: p.access_key_id.clone(),
        access_key_secret: p.access_key_secret.clone(),
        security_token: token,
        source,
        region: Some(p.region_id.clone()).filter(|r| !r.is_empty()),
    }))
}

/// `credentials.ini`: `[section]` then `key = value` lines; `#` and `;` start comments.
fn credentials_ini(path: &Path, section: Option<&str>) -> Result<Option<Credentials>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("read", path, e)),
    };
    let wanted = section.unwrap_or("default");
    let mut current = String::new();
    let mut keys = std::collections::BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = name.trim().to_string();
        } else if current == wanted
            && let Some((k, v)) = line.split_once('=')
        {
            keys.insert(k.trim().to_string(), v.trim().to_string());
        }
    }
    if keys.is_empty() || keys.get("enable").is_some_and(|v| v == "false") {
        return Ok(None);
    }
    let source = format!("{} [{wanted}]", path.display());
    match keys.get("type").map(String::as_str) {
        Some("access_key") => {}
        other => {
            return Err(Error::input(format!(
                "{source} is of type {}, which fclayer cannot use",
                other.unwrap_or("(none)")
            ))
            .with_hint("use `type = access_key` with access_key_id and access_key_secret, or set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET"));
        }
    }
    match (keys.get("access_key_id"), keys.get("access_key_secret")) {
        (Some(id), Some(secret)) if !id.is_empty() && !secret.is_empty() => Ok(Some(Credentials {
            access_key_id: id.clone(),
            access_key_secret: secret.clone(),
            security_token: None,
            source,
            region: None,
        })),
        _ => Err(Error::input(format!(
            "{source} lacks access_key_id or access_key_secret"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    fn home_with(config: Option<&str>, ini: Option<&str>) -> tempfile::TempDir {
        let home = tempfile::tempdir().unwrap();
        if let Some(c) = config {
            std::fs::create_dir_all(home.path().join(".aliyun")).unwrap();
            std::fs::write(home.path().join(".aliyun/config.json"), c).unwrap();
        }
        if let Some(i) = ini {
            std::fs::create_dir_all(home.path().join(".alibabacloud")).unwrap();
            std::fs::write(home.path().join(".alibabacloud/credentials.ini"), i).unwrap();
        }
        home
    }

    const CONFIG: &str = r#"{"current":"work","profiles":[
        {"name":"default","mode":"AK","access_key_id":"id-default","access_key_secret":"sk-default","region_id":"cn-beijing"},
        {"name":"work","mode":"StsToken","access_key_id":"id-work","access_key_secret":"sk-work","sts_token":"tok-work","region_id":"cn-hangzhou"},
        {"name":"role","mode":"RamRoleArn","access_key_id":"id-role","access_key_secret":"sk-role"}]}"#;
    const INI: &str = "[default]\nenable = true\ntype = access_key\naccess_key_id = id-ini\naccess_key_secret = sk-ini\n";

    #[test]
    fn environment_comes_first() {
        let home = home_with(Some(CONFIG), Some(INI));
        let vars = [
            ("ALIBABA_CLOUD_ACCESS_KEY_ID", "id-env"),
            ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "sk-env"),
            ("ALIBABA_CLOUD_SECURITY_TOKEN", "tok-env"),
        ];
        let env = with(&vars);
        let src = Sources {
            env: &env,
            home: Some(home.path().into()),
        };
        let c = resolve_from(None, &src).unwrap();
        assert_eq!(c.access_key_id, "id-env");
        assert_eq!(c.security_token.as_deref(), Some("tok-env"));
        assert!(c.source.starts_with("environment"), "{}", c.source);
        assert!(!format!("{c:?}").contains("sk-env"));
        assert_eq!(c.secrets(), ["id-env", "sk-env", "tok-env"]);
    }

    #[test]
    fn cli_profile_current_then_named_then_ini() {
        let home = home_with(Some(CONFIG), Some(INI));
        let env = with(&[]);
        let src = Sources {
            env: &env,
            home: Some(home.path().into()),
        };
        let c = resolve_from(None, &src).unwrap();
        assert_eq!(
            (c.access_key_id.as_str(), c.security_token.as_deref()),
            ("id-work", Some("tok-work"))
        );
        assert_eq!(c.region.as_deref(), Some("cn-hangzhou"));
        assert!(
            c.source.contains("profile `work` (StsToken)"),
            "{}",
            c.source
        );
        let c = resolve_from(Some("default"), &src).unwrap();
        assert_eq!(
            (c.access_key_id.as_str(), c.security_token),
            ("id-default", None)
        );
        // The CLI file disabled: the ini file.
        let vars = [("ALIBABA_CLOUD_CLI_PROFILE_DISABLED", "true")];
        let env = with(&vars);
        let src = Sources {
            env: &env,
            home: Some(home.path().into()),
        };
        let c = resolve_from(None, &src).unwrap();
        assert_eq!(c.access_key_id, "id-ini");
        assert!(
            c.source.ends_with("credentials.ini [default]"),
            "{}",
            c.source
        );
    }

    #[test]
    fn unusable_modes_and_missing_profiles_are_refused_clearly() {
        let home = home_with(Some(CONFIG), None);
        let env = with(&[]);
        let src = Sources {
            env: &env,
            home: Some(home.path().into()),
        };
        let e = resolve_from(Some("role"), &src).unwrap_err();
        assert!(e.message.contains("mode RamRoleArn"), "{}", e.message);
        assert!(e.hint.unwrap().contains("STS"));
        let e = resolve_from(Some("nope"), &src).unwrap_err();
        assert!(e.message.contains("no profile `nope`"), "{}", e.message);
        assert!(e.details[0].contains("default, work, role"));
        assert!(!e.message.contains("sk-"));
    }

    #[test]
    fn nothing_found_says_where_it_looked() {
        let home = home_with(None, None);
        let env = with(&[]);
        let src = Sources {
            env: &env,
            home: Some(home.path().into()),
        };
        let e = resolve_from(None, &src).unwrap_err();
        assert_eq!(e.message, "no Alibaba Cloud credentials found");
        assert_eq!(e.details.len(), 3);
        let vars = [("ALIBABA_CLOUD_ACCESS_KEY_ID", "x")];
        let env = with(&vars);
        let src = Sources {
            env: &env,
            home: None,
        };
        let e = resolve_from(None, &src).unwrap_err();
        assert!(e.message.contains("ALIBABA_CLOUD_ACCESS_KEY_SECRET is not"));
    }

    #[test]
    fn a_broken_config_file_is_located_without_quoting_it() {
        let home = home_with(
            Some(r#"{"current": "x", "profiles": [ {"name": "sk-secret-value" "#),
            None,
        );
        let env = with(&[]);
        let src = Sources {
            env: &env,
            home: Some(home.path().into()),
        };
        let e = resolve_from(None, &src).unwrap_err();
        assert!(e.message.contains("config.json:"), "{}", e.message);
        assert!(!e.message.contains("sk-secret"));
    }
}
