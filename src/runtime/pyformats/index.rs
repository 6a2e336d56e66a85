//! The package indexes a lock names, and their credentials.
//!
//! A lock records where each package comes from: uv.lock `source = { registry = URL }`,
//! poetry.lock `[package.source]` (type `legacy`, `url`, `reference`), Pipfile.lock
//! `_meta.sources` with each package's `index` (a source's name; the first source otherwise),
//! pylock.toml `packages.index`. A package from PyPI needs nothing: the build's own index
//! settings apply (PIP_INDEX_URL, pip.conf, a mirror). Every other index goes into the generated
//! requirements file as `--extra-index-url` (a plain-http one into `PIP_TRUSTED_HOST` too), so
//! pip and uv both look there; the hashes still decide which file is accepted.
//!
//! Locks never hold credentials. Each tool reads them from the environment, and fclayer does
//! the same, by the same names: uv `UV_INDEX_<NAME>_USERNAME` / `_PASSWORD` (NAME from
//! pyproject.toml's `[[tool.uv.index]]` of that URL), Poetry `POETRY_HTTP_BASIC_<NAME>_USERNAME` /
//! `_PASSWORD` (the source's `reference`), pipenv `${VAR}` in the source's URL (expanded from the
//! environment, as pipenv does). They reach the installer as a netrc file written in the build
//! container outside /opt (pip and uv both read `NETRC`), never in the requirements file, the
//! cache key or the manifest, and are masked in everything fclayer prints.

use std::path::Path;

/// Index URLs that mean PyPI itself.
const PYPI: &[&str] = &[
    "https://pypi.org/simple",
    "https://pypi.python.org/simple",
    "https://files.pythonhosted.org",
];

/// A package index other than PyPI, as a lock names it.
#[derive(Clone, PartialEq, Eq)]
pub struct Index {
    /// Without credentials.
    pub url: String,
    pub login: Option<Login>,
}

/// A user name and password for an index, from the environment.
#[derive(Clone, PartialEq, Eq)]
pub struct Login {
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Index({}{})",
            self.url,
            if self.login.is_some() {
                ", with login"
            } else {
                ""
            }
        )
    }
}

impl Index {
    /// The index at `url` (credentials in it are taken as its login), or `None` for PyPI.
    pub fn at(url: &str, login: Option<Login>) -> Option<Index> {
        let (url, in_url) = split_credentials(url.trim());
        let bare = url.trim_end_matches('/');
        if bare.is_empty() || PYPI.iter().any(|p| bare.eq_ignore_ascii_case(p)) {
            return None;
        }
        Some(Index {
            url,
            login: login.or(in_url),
        })
    }

    /// The host (and port) the URL names, as netrc's `machine` and pip's `--trusted-host`.
    pub fn host(&self) -> &str {
        let rest = self
            .url
            .split_once("://")
            .map_or(self.url.as_str(), |(_, r)| r);
        rest.split(['/', '?', '#']).next().unwrap_or(rest)
    }

    /// The host without the port (netrc matches host names only).
    fn machine(&self) -> &str {
        let host = self.host();
        match host.rsplit_once(':') {
            Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
            _ => host,
        }
    }
}

/// `scheme://user:pass@host/...` into the URL without them and the login.
fn split_credentials(url: &str) -> (String, Option<Login>) {
    let Some((scheme, rest)) = url.split_once("://") else {
        return (url.to_string(), None);
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return (url.to_string(), None);
    };
    let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    let login = Login {
        user: percent_decode(user),
        password: percent_decode(password),
    };
    (format!("{scheme}://{host}{path}"), Some(login))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        if b[i] == b'%'
            && let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A tool's variable name for an index name: upper case, every other character than ASCII
/// letters and digits as `_` (uv's and Poetry's rule).
fn env_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// The login in `PREFIX<NAME>_USERNAME` / `PREFIX<NAME>_PASSWORD`, when either is set.
fn env_login(prefix: &str, name: &str) -> Option<Login> {
    let key = format!("{prefix}{}", env_name(name));
    let user = std::env::var(format!("{key}_USERNAME")).unwrap_or_default();
    let password = std::env::var(format!("{key}_PASSWORD")).unwrap_or_default();
    (!user.is_empty() || !password.is_empty()).then_some(Login { user, password })
}

/// uv's index names, read once from the pyproject.toml beside `lock`: `[[tool.uv.index]]`'s
/// (URL without a trailing slash, name) pairs.
pub fn uv_names(lock: &Path) -> Vec<(String, String)> {
    let doc = std::fs::read_to_string(lock.with_file_name("pyproject.toml"))
        .ok()
        .and_then(|t| t.parse::<toml::Table>().ok());
    let entries = doc
        .as_ref()
        .and_then(|d| d.get("tool")?.get("uv")?.get("index")?.as_array());
    entries
        .into_iter()
        .flatten()
        .filter_map(|i| {
            let url = i.get("url")?.as_str()?.trim_end_matches('/');
            Some((url.to_string(), i.get("name")?.as_str()?.to_string()))
        })
        .collect()
}

/// uv: the index at `url`, its login from `UV_INDEX_<NAME>_*` where `names` (`uv_names`) names
/// that URL.
pub fn uv(url: &str, names: &[(String, String)]) -> Option<Index> {
    let index = Index::at(url, None)?;
    let wanted = url.trim_end_matches('/');
    let login = names
        .iter()
        .find(|(u, _)| u == wanted)
        .and_then(|(_, n)| env_login("UV_INDEX_", n));
    Some(Index {
        login: login.or(index.login),
        ..index
    })
}

/// Poetry: a `legacy` source, its login from `POETRY_HTTP_BASIC_<REFERENCE>_*`.
pub fn poetry(url: &str, reference: Option<&str>) -> Option<Index> {
    Index::at(
        url,
        reference.and_then(|r| env_login("POETRY_HTTP_BASIC_", r)),
    )
}

/// pipenv: a source's URL with `${VAR}` and `$VAR` expanded from the environment (what pipenv
/// does), credentials in it taken as the login. A variable that is not set stays as written.
pub fn pipenv(url: &str) -> Option<Index> {
    Index::at(&expand_vars(url, &|n| std::env::var(n).ok()), None)
}

fn expand_vars(s: &str, var: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let (name, len) = if let Some(inner) = after.strip_prefix('{') {
            match inner.find('}') {
                Some(end) => (&inner[..end], end + 2),
                None => ("", 0),
            }
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], end)
        };
        match var(name).filter(|_| !name.is_empty()) {
            Some(v) => out.push_str(&v),
            None => out.push_str(&rest[i..i + 1 + len]),
        }
        rest = &rest[i + 1 + len..];
    }
    out.push_str(rest);
    out
}

/// The distinct indexes of `indexes`, in URL order.
pub fn distinct<'a>(indexes: impl Iterator<Item = &'a Index>) -> Vec<&'a Index> {
    let mut v: Vec<&Index> = indexes.collect();
    v.sort_by(|a, b| a.url.cmp(&b.url));
    v.dedup_by(|a, b| a.url == b.url);
    v
}

/// The requirements-file lines that make pip and uv look in `indexes` too.
pub fn requirement_lines(indexes: &[&Index]) -> String {
    indexes
        .iter()
        .map(|i| format!("--extra-index-url {}\n", i.url))
        .collect()
}

/// The hosts of plain-http indexes, which pip ignores unless trusted (`PIP_TRUSTED_HOST`; uv
/// takes http indexes as they are, and warns about a `--trusted-host` line in the file).
pub fn trusted_hosts(indexes: &[&Index]) -> Vec<String> {
    indexes
        .iter()
        .filter(|i| i.url.starts_with("http://"))
        .map(|i| i.host().to_string())
        .collect()
}

/// The netrc file of the logins of `indexes` (`None` when none has one), and the values to mask.
/// A value netrc cannot hold (white space, a quote) is an error naming the index.
pub fn netrc(indexes: &[&Index]) -> crate::error::Result<(Option<String>, Vec<String>)> {
    let mut text = String::new();
    let mut secrets = Vec::new();
    for index in indexes {
        let Some(login) = &index.login else {
            continue;
        };
        for v in [&login.user, &login.password] {
            if v.chars().any(|c| c.is_whitespace() || c == '"') {
                return Err(crate::error::Error::input(format!(
                    "the login for {} holds white space or a quote, which a netrc file cannot carry",
                    index.url
                ))
                .with_hint("use a token without spaces or quotes"));
            }
        }
        text.push_str(&format!(
            "machine {} login {} password {}\n",
            index.machine(),
            if login.user.is_empty() {
                "__token__"
            } else {
                &login.user
            },
            login.password
        ));
        secrets.push(login.password.clone());
        if login.user.len() >= 8 {
            secrets.push(login.user.clone());
        }
    }
    Ok(((!text.is_empty()).then_some(text), secrets))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pypi_needs_no_index_and_others_lose_their_credentials() {
        assert!(Index::at("https://pypi.org/simple/", None).is_none());
        assert!(Index::at("https://PyPI.org/simple", None).is_none());
        let i = Index::at(
            "https://tok%40en:p%3Ass@pkgs.example.com:8443/simple/",
            None,
        )
        .unwrap();
        assert_eq!(i.url, "https://pkgs.example.com:8443/simple/");
        let l = i.login.clone().unwrap();
        assert_eq!((l.user.as_str(), l.password.as_str()), ("tok@en", "p:ss"));
        assert_eq!(i.host(), "pkgs.example.com:8443");
        assert_eq!(i.machine(), "pkgs.example.com");
        assert!(
            !format!("{i:?}").contains("p:ss"),
            "Debug shows no password"
        );
    }

    #[test]
    fn lines_and_netrc() {
        let a = Index::at("http://10.0.0.1:8080/simple", None).unwrap();
        let b = Index {
            url: "https://b.example/simple".into(),
            login: Some(Login {
                user: "ci-robot-user".into(),
                password: "s3cr3t".into(),
            }),
        };
        let both = distinct([&b, &a, &b].into_iter());
        assert_eq!(
            requirement_lines(&both),
            "--extra-index-url http://10.0.0.1:8080/simple\n--extra-index-url https://b.example/simple\n"
        );
        assert_eq!(trusted_hosts(&both), ["10.0.0.1:8080"]);
        let (text, secrets) = netrc(&both).unwrap();
        assert_eq!(
            text.unwrap(),
            "machine b.example login ci-robot-user password s3cr3t\n"
        );
        assert_eq!(secrets, ["s3cr3t", "ci-robot-user"]);
        let bad = Index {
            url: "https://c.example/simple".into(),
            login: Some(Login {
                user: "u".into(),
                password: "has space".into(),
            }),
        };
        let e = netrc(&[&bad]).unwrap_err();
        assert!(e.message.contains("c.example"), "{}", e.message);
    }

    #[test]
    fn pipenv_expands_variables_and_keeps_unset_ones() {
        let env = |n: &str| match n {
            "IDX_USER" => Some("me".to_string()),
            "IDX_PASS" => Some("pw".to_string()),
            _ => None,
        };
        let url = expand_vars("https://${IDX_USER}:$IDX_PASS@x.example/simple", &env);
        let i = Index::at(&url, None).unwrap();
        assert_eq!(i.url, "https://x.example/simple");
        let login = i.login.unwrap();
        assert_eq!((login.user.as_str(), login.password.as_str()), ("me", "pw"));
        assert_eq!(expand_vars("a${UNSET_9}b$", &env), "a${UNSET_9}b$");
        assert_eq!(env_name("corp-pypi.v2"), "CORP_PYPI_V2");
    }
}
