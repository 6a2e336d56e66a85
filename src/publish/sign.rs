//! Request signatures, written out from Alibaba's specifications so no SDK or shell is needed:
//! ACS3-HMAC-SHA256 (the V3 signature of every Alibaba Cloud OpenAPI, FC 3.0 included) and
//! OSS4-HMAC-SHA256 (OSS's V4 signature, for the upload of a ZIP too large to send inline).
//!
//! Both are pure functions of the request and the time, so the tests pin them to the published
//! worked examples; the test server re-checks every live request with Alibaba's own signers.

use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// SHA-256 of the empty body, which GET requests sign.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// RFC 3986 percent-encoding: unreserved characters (`A-Z a-z 0-9 - _ . ~`) stay, every other
/// byte of the UTF-8 becomes `%XX` (upper case), as both signatures require. `keep_slash` leaves
/// `/` as is, for paths.
pub fn percent_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b'/' if keep_slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// What an ACS3 signature covers. `path` is as sent (already percent-encoded); `query` and
/// `headers` unencoded; header names lower case. Every header given is signed.
pub struct Acs3Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a [(String, String)],
    pub headers: &'a [(String, String)],
    /// Lower-case hex SHA-256 of the exact body bytes (also sent as `x-acs-content-sha256`).
    pub payload_sha256: &'a str,
}

/// The canonical request of the V3 signature: method, path, sorted query, sorted headers (each
/// line ending in `\n`), the signed header names, the payload hash (no newline after it).
pub fn acs3_canonical_request(req: &Acs3Request) -> (String, String) {
    let mut query: Vec<(String, String)> = req
        .query
        .iter()
        .map(|(k, v)| (percent_encode(k, false), percent_encode(v, false)))
        .collect();
    query.sort();
    let query: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    // Repeated names are joined with `,` (sorted values), as the SDK's signer does.
    let mut headers: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (k, v) in req.headers {
        headers
            .entry(k.to_ascii_lowercase())
            .or_default()
            .push(v.trim().to_string());
    }
    let mut canonical_headers = String::new();
    for (k, vs) in &mut headers {
        vs.sort();
        canonical_headers.push_str(&format!("{k}:{}\n", vs.join(",")));
    }
    let signed: Vec<&str> = headers.keys().map(String::as_str).collect();
    let signed = signed.join(";");
    let canonical = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        req.method,
        req.path,
        query.join("&"),
        canonical_headers,
        signed,
        req.payload_sha256
    );
    (canonical, signed)
}

/// The `Authorization` header value of an ACS3-HMAC-SHA256 request.
pub fn acs3_authorization(req: &Acs3Request, access_key_id: &str, secret: &str) -> String {
    let (canonical, signed) = acs3_canonical_request(req);
    let to_sign = format!("ACS3-HMAC-SHA256\n{}", sha256_hex(canonical.as_bytes()));
    let signature = hex::encode(hmac(secret.as_bytes(), to_sign.as_bytes()));
    format!(
        "ACS3-HMAC-SHA256 Credential={access_key_id},SignedHeaders={signed},Signature={signature}"
    )
}

/// What an OSS V4 signature covers. `headers` are every header sent, lower-case names; the
/// signature takes `content-type`, `content-md5` and `x-oss-*` (no additional headers).
pub struct Oss4Request<'a> {
    pub method: &'a str,
    pub bucket: &'a str,
    pub key: &'a str,
    pub headers: &'a [(String, String)],
    /// OSS's region id without the `oss-` prefix, e.g. `cn-hangzhou`.
    pub region: &'a str,
    /// `x-oss-date`, `YYYYMMDDTHHMMSSZ`.
    pub timestamp: &'a str,
}

/// The `Authorization` header value of an OSS4-HMAC-SHA256 request with an unsigned payload
/// (`x-oss-content-sha256: UNSIGNED-PAYLOAD`, which must be among the headers).
pub fn oss4_authorization(req: &Oss4Request, access_key_id: &str, secret: &str) -> String {
    let date = &req.timestamp[..8.min(req.timestamp.len())];
    let scope = format!("{date}/{}/oss/aliyun_v4_request", req.region);
    // The canonical URI is /bucket/key whichever host style the request uses.
    let uri = percent_encode(&format!("/{}/{}", req.bucket, req.key), true);
    let mut headers: Vec<(String, String)> = req
        .headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_string()))
        .filter(|(k, _)| k.starts_with("x-oss-") || k == "content-type" || k == "content-md5")
        .collect();
    headers.sort();
    let canonical_headers: String = headers.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let payload = headers
        .iter()
        .find(|(k, _)| k == "x-oss-content-sha256")
        .map_or("UNSIGNED-PAYLOAD", |(_, v)| v.as_str());
    let canonical = format!("{}\n{uri}\n\n{canonical_headers}\n\n{payload}", req.method);
    let to_sign = format!(
        "OSS4-HMAC-SHA256\n{}\n{scope}\n{}",
        req.timestamp,
        sha256_hex(canonical.as_bytes())
    );
    let mut key = hmac(format!("aliyun_v4{secret}").as_bytes(), date.as_bytes());
    for part in [req.region, "oss", "aliyun_v4_request"] {
        key = hmac(&key, part.as_bytes());
    }
    let signature = hex::encode(hmac(&key, to_sign.as_bytes()));
    format!("OSS4-HMAC-SHA256 Credential={access_key_id}/{scope},Signature={signature}")
}

/// A moment in UTC, in the three spellings the requests need.
#[derive(Clone, Copy, Debug)]
pub struct Utc {
    secs: u64,
}

impl Utc {
    pub fn now() -> Utc {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Utc { secs }
    }

    #[cfg(test)]
    pub fn from_unix(secs: u64) -> Utc {
        Utc { secs }
    }

    /// (year, month, day, hour, minute, second, weekday with 0 = Sunday), by Howard Hinnant's
    /// days-to-civil algorithm (no calendar crate for three format strings).
    fn parts(self) -> (i64, u32, u32, u32, u32, u32, u32) {
        let days = (self.secs / 86_400) as i64;
        let rem = self.secs % 86_400;
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        let weekday = (days + 4).rem_euclid(7) as u32;
        let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
        (year, month, day, h as u32, m as u32, s as u32, weekday)
    }

    /// `x-acs-date`: `2023-10-26T10:22:32Z`.
    pub fn iso8601(self) -> String {
        let (y, mo, d, h, mi, s, _) = self.parts();
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
    }

    /// `x-oss-date`: `20231026T102232Z`.
    pub fn compact(self) -> String {
        let (y, mo, d, h, mi, s, _) = self.parts();
        format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z")
    }

    /// HTTP `Date`: `Thu, 26 Oct 2023 10:22:32 GMT`.
    pub fn http_date(self) -> String {
        const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let (y, mo, d, h, mi, s, wd) = self.parts();
        format!(
            "{}, {d:02} {} {y:04} {h:02}:{mi:02}:{s:02} GMT",
            DAYS[wd as usize],
            MONTHS[mo as usize - 1]
        )
    }
}

/// `x-acs-signature-nonce`: unique per request (FC refuses a nonce it saw within 15 minutes). Not
/// a secret, so a hash of the time, the process and a counter is enough.
pub fn nonce() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let seed = format!("{nanos}:{}:{n}", std::process::id());
    sha256_hex(seed.as_bytes())[..32].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc_headers(date: &str, nonce: &str) -> Vec<(String, String)> {
        [
            ("host", "ecs.cn-shanghai.aliyuncs.com"),
            ("x-acs-action", "RunInstances"),
            ("x-acs-content-sha256", EMPTY_SHA256),
            ("x-acs-date", date),
            ("x-acs-signature-nonce", nonce),
            ("x-acs-version", "2014-05-26"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    fn doc_query() -> Vec<(String, String)> {
        vec![
            ("RegionId".to_string(), "cn-shanghai".to_string()),
            (
                "ImageId".to_string(),
                "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd".to_string(),
            ),
        ]
    }

    /// Alibaba's documented worked example of the V3 signature ("Signature examples → Fixed
    /// parameter values"), every intermediate value included.
    #[test]
    fn acs3_matches_alibabas_worked_example() {
        let headers = doc_headers("2023-10-26T10:22:32Z", "3156853299f313e23d1673dc12e1703d");
        let query = doc_query();
        let req = Acs3Request {
            method: "POST",
            path: "/",
            query: &query,
            headers: &headers,
            payload_sha256: EMPTY_SHA256,
        };
        let (canonical, signed) = acs3_canonical_request(&req);
        assert_eq!(
            canonical,
            "POST\n/\nImageId=win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd&RegionId=cn-shanghai\n\
             host:ecs.cn-shanghai.aliyuncs.com\nx-acs-action:RunInstances\n\
             x-acs-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n\
             x-acs-date:2023-10-26T10:22:32Z\nx-acs-signature-nonce:3156853299f313e23d1673dc12e1703d\n\
             x-acs-version:2014-05-26\n\n\
             host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256_hex(canonical.as_bytes()),
            "7ea06492da5221eba5297e897ce16e55f964061054b7695beedaac1145b1e259"
        );
        assert_eq!(
            signed,
            "host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version"
        );
        assert_eq!(
            acs3_authorization(&req, "YourAccessKeyId", "YourAccessKeySecret"),
            "ACS3-HMAC-SHA256 Credential=YourAccessKeyId,SignedHeaders=host;x-acs-action;\
             x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,\
             Signature=06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"
        );
    }

    /// The same document's second date and nonce (09:01:01Z), signature confirmed elsewhere.
    #[test]
    fn acs3_matches_the_second_vector() {
        let headers = doc_headers("2023-10-26T09:01:01Z", "d410180a5abf7fe235dd9b74aca91fc0");
        let query = doc_query();
        let req = Acs3Request {
            method: "POST",
            path: "/",
            query: &query,
            headers: &headers,
            payload_sha256: EMPTY_SHA256,
        };
        let auth = acs3_authorization(&req, "YourAccessKeyId", "YourAccessKeySecret");
        assert!(
            auth.ends_with(
                ",Signature=e521358f7776c97df52e6b2891a8bc73026794a071b50c3323388c4e0df64804"
            ),
            "{auth}"
        );
        // A different secret gives a different signature (the key is really used).
        assert_ne!(auth, acs3_authorization(&req, "YourAccessKeyId", "other"));
    }

    #[test]
    fn header_names_are_lowered_values_trimmed_and_repeats_joined() {
        let headers = vec![
            ("X-Acs-B".to_string(), " 2 ".to_string()),
            ("x-acs-a".to_string(), "z".to_string()),
            ("x-acs-a".to_string(), "y".to_string()),
        ];
        let req = Acs3Request {
            method: "GET",
            path: "/p",
            query: &[],
            headers: &headers,
            payload_sha256: EMPTY_SHA256,
        };
        let (canonical, signed) = acs3_canonical_request(&req);
        assert_eq!(signed, "x-acs-a;x-acs-b");
        assert!(
            canonical.contains("\n\nx-acs-a:y,z\nx-acs-b:2\n\n"),
            "{canonical}"
        );
    }

    #[test]
    fn percent_encoding_follows_rfc3986() {
        assert_eq!(percent_encode("a b*c~d/e", false), "a%20b%2Ac~d%2Fe");
        assert_eq!(percent_encode("a/b é", true), "a/b%20%C3%A9");
        let query = vec![("k y".to_string(), "".to_string())];
        let req = Acs3Request {
            method: "GET",
            path: "/",
            query: &query,
            headers: &[],
            payload_sha256: EMPTY_SHA256,
        };
        assert!(
            acs3_canonical_request(&req)
                .0
                .starts_with("GET\n/\nk%20y=\n")
        );
    }

    /// OSS V4: the value Alibaba's `alibabacloud-oss-v2` 1.4.1 `SignerV4` gives for this request
    /// (signing time fixed); the test server checks live requests with the same signer.
    #[test]
    fn oss4_matches_alibabas_signer() {
        let headers = vec![
            ("content-type".to_string(), "application/zip".to_string()),
            (
                "x-oss-content-sha256".to_string(),
                "UNSIGNED-PAYLOAD".to_string(),
            ),
            ("x-oss-date".to_string(), "20231026T102232Z".to_string()),
            (
                "host".to_string(),
                "b.oss-cn-hangzhou.aliyuncs.com".to_string(),
            ),
        ];
        let req = Oss4Request {
            method: "PUT",
            bucket: "b",
            key: "layers/x y.zip",
            headers: &headers,
            region: "cn-hangzhou",
            timestamp: "20231026T102232Z",
        };
        let auth = oss4_authorization(&req, "ak", "sk");
        assert_eq!(
            auth,
            "OSS4-HMAC-SHA256 Credential=ak/20231026/cn-hangzhou/oss/aliyun_v4_request,\
             Signature=2abf1f052398527c00a0a037312c8a4b119f6d13f7c9a57350a9002a038cae01"
        );
        assert_ne!(auth, oss4_authorization(&req, "ak", "sk2"));
    }

    #[test]
    fn dates_are_formatted_in_utc() {
        // 2023-10-26T10:22:32Z, a Thursday.
        let t = Utc::from_unix(1_698_315_752);
        assert_eq!(t.iso8601(), "2023-10-26T10:22:32Z");
        assert_eq!(t.compact(), "20231026T102232Z");
        assert_eq!(t.http_date(), "Thu, 26 Oct 2023 10:22:32 GMT");
        assert_eq!(Utc::from_unix(0).iso8601(), "1970-01-01T00:00:00Z");
        // A leap day.
        assert_eq!(
            Utc::from_unix(1_709_164_800).iso8601(),
            "2024-02-29T00:00:00Z"
        );
    }

    #[test]
    fn nonces_differ() {
        let (a, b) = (nonce(), nonce());
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
    }
}
