//! Which host answers FC 3.0 (and OSS) for a region: the map of Alibaba's own FC 3.0 SDK
//! (`alibabacloud-fc20230330` 4.8.3, `_endpoint_map`), with its rule for regions it does not list,
//! and the override for VPC or private endpoints (and tests). Plain http is allowed only to a
//! loopback address: anything else would send signed requests and the layer in the clear.

use crate::error::{Error, Result};

/// Environment variable overriding the OSS endpoint (`--oss-endpoint` wins over it).
pub const OSS_ENDPOINT_ENV: &str = "FCLAYER_OSS_ENDPOINT";

/// Regions whose FC 3.0 host is not `fcv3.{region}.aliyuncs.com` in the SDK's map.
const FC_HOST_EXCEPTIONS: &[&str] = &[
    "me-central-1",
    "cn-shanghai-finance-1",
    "cn-heyuan-acdr-1",
    "cn-hangzhou-finance",
];

/// Regions the SDK maps to `fcv3.{region}.aliyuncs.com`.
const FCV3_REGIONS: &[&str] = &[
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-5",
    "ap-southeast-7",
    "cn-beijing",
    "cn-chengdu",
    "cn-hangzhou",
    "cn-hongkong",
    "cn-huhehaote",
    "cn-qingdao",
    "cn-shanghai",
    "cn-shenzhen",
    "cn-wulanchabu",
    "cn-zhangjiakou",
    "us-west-1",
    "us-east-1",
    "eu-west-1",
    "eu-central-1",
    "ap-south-1",
];

/// A parsed endpoint: scheme, host (with port if any) and an optional path prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub https: bool,
    /// `host[:port]`, as the `host` header carries it.
    pub authority: String,
}

impl Endpoint {
    pub fn base_url(&self) -> String {
        format!(
            "{}://{}",
            if self.https { "https" } else { "http" },
            self.authority
        )
    }

    /// The host without port or IPv6 brackets.
    fn host(&self) -> &str {
        let a = self.authority.as_str();
        if let Some(rest) = a.strip_prefix('[') {
            return rest.split(']').next().unwrap_or(rest);
        }
        match a.rsplit_once(':') {
            Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => a,
        }
    }

    fn is_loopback(&self) -> bool {
        let host = self.host();
        host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }
}

/// Check a region id's spelling (it becomes part of a host name).
pub fn check_region(region: &str) -> Result<()> {
    let ok = !region.is_empty()
        && region.len() <= 64
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !region.starts_with('-')
        && !region.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(Error::input(format!("`{region}` is not a region id"))
            .with_hint("give an Alibaba Cloud region id such as cn-hangzhou, cn-shanghai or ap-southeast-1"))
    }
}

/// The FC 3.0 host for `region`, as the SDK resolves it.
pub fn fc_host(region: &str) -> String {
    if FC_HOST_EXCEPTIONS.contains(&region) {
        format!("{region}.fc.aliyuncs.com")
    } else if FCV3_REGIONS.contains(&region) {
        format!("fcv3.{region}.aliyuncs.com")
    } else {
        // The SDK's `regional` rule for regions missing from its map.
        format!("fc.{region}.aliyuncs.com")
    }
}

/// The public OSS endpoint of `region` (buckets are addressed as `{bucket}.` in front of it).
pub fn oss_host(region: &str) -> String {
    format!("oss-{region}.aliyuncs.com")
}

/// An endpoint given by the user (`--endpoint`, `--oss-endpoint` or their variables): a host, or
/// an `https://` or loopback `http://` URL, with no path.
pub fn parse_override(value: &str, what: &str) -> Result<Endpoint> {
    let bad = |why: &str| {
        Error::input(format!("{what} `{value}`: {why}"))
            .with_hint("give a host such as fcv3.cn-hangzhou.aliyuncs.com or a URL such as https://HOST[:PORT]; plain http only to 127.0.0.1, ::1 or localhost")
    };
    let (https, rest) = if let Some(r) = value.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = value.strip_prefix("http://") {
        (false, r)
    } else if value.contains("://") {
        return Err(bad(
            "only https:// (or http:// to a loopback address) is supported",
        ));
    } else {
        (true, value)
    };
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.is_empty() || authority.starts_with(':') {
        return Err(bad("no host"));
    }
    if authority.ends_with(':') {
        return Err(bad("no port after `:`"));
    }
    if authority.contains(['/', '?', '#', '@', ' ']) {
        return Err(bad(
            "give only scheme, host and port (no path, query or user)",
        ));
    }
    let ep = Endpoint {
        https,
        authority: authority.to_string(),
    };
    if !https && !ep.is_loopback() {
        return Err(bad(
            "plain http would send the signed request and the layer unencrypted",
        ));
    }
    Ok(ep)
}

impl Endpoint {
    /// True when the host is a loopback address (the test server): OSS is then addressed
    /// path-style (`/bucket/key`), since a bucket sub-domain of an IP address does not resolve.
    pub fn path_style(&self) -> bool {
        self.is_loopback()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_follow_the_sdk_map() {
        assert_eq!(fc_host("cn-hangzhou"), "fcv3.cn-hangzhou.aliyuncs.com");
        assert_eq!(
            fc_host("ap-southeast-5"),
            "fcv3.ap-southeast-5.aliyuncs.com"
        );
        assert_eq!(fc_host("me-central-1"), "me-central-1.fc.aliyuncs.com");
        assert_eq!(
            fc_host("cn-heyuan-acdr-1"),
            "cn-heyuan-acdr-1.fc.aliyuncs.com"
        );
        assert_eq!(fc_host("xx-new-9"), "fc.xx-new-9.aliyuncs.com");
        assert_eq!(oss_host("cn-beijing"), "oss-cn-beijing.aliyuncs.com");
    }

    #[test]
    fn overrides_allow_http_only_to_loopback() {
        let e = parse_override("http://127.0.0.1:8080", "--endpoint").unwrap();
        assert_eq!(e.base_url(), "http://127.0.0.1:8080");
        assert!(e.path_style());
        assert!(parse_override("http://[::1]:9/", "--endpoint").is_ok());
        assert!(parse_override("http://localhost", "--endpoint").is_ok());
        let err = parse_override("http://10.0.0.1:80", "--endpoint").unwrap_err();
        assert!(err.message.contains("unencrypted"), "{}", err.message);
        assert!(parse_override("http://127.0.0.1.evil.com", "--endpoint").is_err());
        let e = parse_override("1234.cn-hangzhou-internal.fc.aliyuncs.com", "--endpoint").unwrap();
        assert_eq!(
            e.base_url(),
            "https://1234.cn-hangzhou-internal.fc.aliyuncs.com"
        );
        assert!(!e.path_style());
        assert!(parse_override("https://h/x", "--endpoint").is_err());
        assert!(parse_override("ftp://h", "--endpoint").is_err());
        assert!(parse_override("http://127.0.0.1:", "--endpoint").is_err());
    }

    #[test]
    fn region_ids_are_checked() {
        assert!(check_region("cn-hangzhou").is_ok());
        assert!(check_region("cn-hangzhou.evil.com/").is_err());
        assert!(check_region("").is_err());
    }
}
