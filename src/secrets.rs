//! Credentials: where a run finds them (host variables, the project's own files) and the one
//! masker that keeps them out of everything fclayer prints or stores: console lines, container
//! log lines, error texts, the environment recorded in the manifest.
//!
//! The masker marks every byte any secret covers, in any of the forms it may take (as given,
//! URL-encoded, URL-decoded), and then replaces each run of marked bytes with one `****`. Replacing
//! secret by secret instead would depend on their order: with `s3cr3t` and `s3cr3t-12345`,
//! masking the shorter first leaves `****-12345`, and the longer one can no longer be found.

use std::path::Path;

use crate::runtime::Kind;

/// What a secret is replaced with.
const MASK: &str = "****";

/// Secrets shorter than this are ignored: they would mask ordinary text.
const MIN_LEN: usize = 3;

/// Host variables handed to build containers when set: proxies (Docker API clients do not get
/// them injected the way the docker CLI does) and package-index settings.
const PASSTHROUGH: &[&str] = &[
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "all_proxy",
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_TRUSTED_HOST",
    "NPM_CONFIG_REGISTRY",
    "npm_config_registry",
];

/// Host variables for the installer, and the credentials inside them.
pub fn passthrough_env() -> (Vec<(String, String)>, Vec<String>) {
    let mut env = Vec::new();
    let mut secrets = Vec::new();
    for name in PASSTHROUGH {
        if let Ok(value) = std::env::var(name)
            && !value.is_empty()
        {
            secrets.extend(url_credentials(&value));
            env.push((name.to_string(), value));
        }
    }
    (env, secrets)
}

/// Passwords (and tokens used as user names) in `scheme://user:pass@host` URLs of a value.
pub fn url_credentials(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    for part in value.split([' ', ',']) {
        let Some((_, rest)) = part.split_once("://") else {
            continue;
        };
        let authority = rest.split('/').next().unwrap_or("");
        if let Some((userinfo, _)) = authority.rsplit_once('@') {
            match userinfo.split_once(':') {
                Some((_, pass)) if !pass.is_empty() => out.push(pass.to_string()),
                // A lone token as the user name (common for private indexes).
                None if userinfo.len() >= 8 => out.push(userinfo.to_string()),
                _ => {}
            }
        }
    }
    out
}

/// Credentials the project's own files hold: passwords in the URLs of requirements.txt
/// (`--index-url https://user:pass@host/simple`) and auth values in `.npmrc`. The files go into
/// the build container as they are (the installer needs them); these values are masked in
/// everything fclayer prints. Also returns the environment variables `.npmrc` refers to
/// (`${NPM_TOKEN}`), which the installer needs set.
pub fn file_secrets(dir: &Path) -> (Vec<String>, Vec<String>) {
    let mut secrets = Vec::new();
    let mut vars = Vec::new();
    if let Ok(text) = std::fs::read_to_string(dir.join(Kind::Python.project_file())) {
        for word in text.split_whitespace() {
            secrets.extend(url_credentials(word));
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

/// The secrets of a run, each in every form it may be printed in.
#[derive(Clone, Debug, Default)]
pub struct Masker {
    /// The secrets as given, kept to tell a new one from a known one.
    secrets: Vec<String>,
    /// What to look for: each secret and its other spellings, at least `MIN_LEN` bytes each.
    patterns: Vec<String>,
}

impl Masker {
    pub fn new<S: AsRef<str>>(secrets: &[S]) -> Masker {
        let mut masker = Masker::default();
        masker.add(secrets.iter().map(|s| s.as_ref().to_string()));
        masker
    }

    /// Mask these too from now on (shorter than 3 bytes: ignored).
    pub fn add<I: IntoIterator<Item = String>>(&mut self, secrets: I) {
        for secret in secrets {
            if secret.len() < MIN_LEN || self.secrets.contains(&secret) {
                continue;
            }
            // An index password sits URL-encoded in its URL (`p%40ss`) but may be printed
            // decoded, and a token from `.npmrc` may be printed inside a URL, encoded.
            let forms = [
                url_encode(&secret, b"0123456789ABCDEF"),
                url_encode(&secret, b"0123456789abcdef"),
                url_decode(&secret).unwrap_or_default(),
                secret.clone(),
            ];
            for form in forms {
                if form.len() >= MIN_LEN && !self.patterns.contains(&form) {
                    self.patterns.push(form);
                }
            }
            self.secrets.push(secret);
        }
    }

    /// `text` with every stretch that any secret covers replaced by one `****`: overlapping,
    /// nested and adjacent occurrences merge into one mask, so no part of a secret shows.
    pub fn mask(&self, text: &str) -> String {
        let mut covered: Vec<(usize, usize)> = Vec::new();
        for pattern in &self.patterns {
            let mut from = 0;
            while let Some(i) = text[from..].find(pattern.as_str()) {
                let start = from + i;
                covered.push((start, start + pattern.len()));
                // On by one character, not past the match: occurrences of one secret may
                // overlap (`aaa` twice in `aaaa`).
                from = start + text[start..].chars().next().map_or(1, char::len_utf8);
            }
        }
        if covered.is_empty() {
            return text.to_string();
        }
        covered.sort_unstable();
        let mut out = String::with_capacity(text.len());
        // `copied`: how much of `text` is in `out` (or masked); `(start, end)`: the covered
        // stretch being grown.
        let mut copied = 0;
        let (mut start, mut end) = covered[0];
        for &(s, e) in &covered[1..] {
            if s <= end {
                end = end.max(e);
                continue;
            }
            out.push_str(&text[copied..start]);
            out.push_str(MASK);
            copied = end;
            (start, end) = (s, e);
        }
        out.push_str(&text[copied..start]);
        out.push_str(MASK);
        out.push_str(&text[end..]);
        out
    }
}

/// Replace every secret in `line` with `****` (see [`Masker::mask`]).
pub fn mask_secrets(line: &str, secrets: &[String]) -> String {
    Masker::new(secrets).mask(line)
}

/// Percent-encoding of everything but RFC 3986's unreserved characters, as URL libraries encode
/// a user name or password; `hex` picks upper or lower case digits.
fn url_encode(s: &str, hex: &[u8; 16]) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(hex[usize::from(b >> 4)]));
            out.push(char::from(hex[usize::from(b & 15)]));
        }
    }
    out
}

/// `s` with its `%XX` escapes decoded, when it has any and the result is UTF-8.
fn url_decode(s: &str) -> Option<String> {
    if !s.contains('%') {
        return None;
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| s.get(i + 1..i + 3))
            .flatten()
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match escaped {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask(text: &str, secrets: &[&str]) -> String {
        Masker::new(secrets).mask(text)
    }

    #[test]
    fn a_secret_inside_another_is_masked_whole_whatever_the_order() {
        // The case the per-secret masker of docker/run.rs leaked as `****-12345`.
        let line = "https://u:s3cr3t-12345@idx/ s3cr3t ab";
        let want = "https://u:****@idx/ **** ab";
        assert_eq!(mask(line, &["s3cr3t", "s3cr3t-12345", "ab"]), want);
        assert_eq!(mask(line, &["s3cr3t-12345", "s3cr3t", "ab"]), want);
        let owned = vec!["s3cr3t".to_string(), "s3cr3t-12345".to_string()];
        assert_eq!(mask_secrets(line, &owned), want);
    }

    #[test]
    fn overlapping_secrets_leave_no_part_visible() {
        // Neither contains the other; masking either first would leave a piece of the other.
        assert_eq!(mask("key=abcdef;", &["abcd", "cdef"]), "key=****;");
        assert_eq!(mask("key=abcdef;", &["cdef", "abcd"]), "key=****;");
        // One secret overlapping itself.
        assert_eq!(mask("x aaaa y", &["aaa"]), "x **** y");
    }

    #[test]
    fn every_occurrence_is_masked() {
        assert_eq!(
            mask("tok1 and tok1, again tok1", &["tok1"]),
            "**** and ****, again ****"
        );
    }

    #[test]
    fn adjacent_secrets_become_one_mask() {
        assert_eq!(mask("[s3cr3ttok123]", &["s3cr3t", "tok123"]), "[****]");
        assert_eq!(mask("s3cr3t tok123", &["s3cr3t", "tok123"]), "**** ****");
    }

    #[test]
    fn url_encoded_and_decoded_forms_are_masked() {
        // A password with characters a URL must escape, printed inside a URL.
        let secret = "p@ss:w/rd!";
        assert_eq!(
            mask("https://u:p%40ss%3Aw%2Frd%21@idx/simple", &[secret]),
            "https://u:****@idx/simple"
        );
        assert_eq!(
            mask("https://u:p%40ss%3aw%2frd%21@idx/simple", &[secret]),
            "https://u:****@idx/simple"
        );
        // The password as found in a URL (encoded), printed decoded.
        assert_eq!(
            mask("password is p@ss:w/rd!", &["p%40ss%3Aw%2Frd%21"]),
            "password is ****"
        );
    }

    #[test]
    fn short_secrets_and_other_text_are_left_alone() {
        assert_eq!(mask("ab abc", &["ab"]), "ab abc");
        assert_eq!(mask("nothing here", &["s3cr3t"]), "nothing here");
        assert_eq!(mask("", &["s3cr3t"]), "");
        assert!(Masker::new::<&str>(&[]).patterns.is_empty());
        // Multi-byte text around and inside a secret.
        assert_eq!(mask("ä s3crét ö", &["s3crét"]), "ä **** ö");
    }

    #[test]
    fn credentials_are_found_in_urls() {
        assert_eq!(
            url_credentials("https://user:s3cret@pypi.example.com/simple"),
            vec!["s3cret"]
        );
        assert_eq!(
            url_credentials("https://tok_abcdef123@pkgs.example.com/simple"),
            vec!["tok_abcdef123"]
        );
        assert!(url_credentials("http://proxy:3128").is_empty());
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
}
