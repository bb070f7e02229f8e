//! The control plane endpoint: parsed from the Terraform output into a bare host and a port.
//!
//! EKS reports `cluster_endpoint` as a URL (`https://ABC.gr7.ap-northeast-1.eks.amazonaws.com`).
//! Upstream CAPT stored the whole URL as the host; Cluster API wants host and port apart.

use crate::api::ApiEndpoint;

/// An endpoint output that is not a usable URL or host.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("endpoint {value:?}: {why}")]
pub struct InvalidEndpoint {
    /// The value as found.
    pub value: String,
    /// What is wrong with it.
    pub why: &'static str,
}

/// Parses `https://host[:port][/path]` or `host[:port]` into host and port (default 443).
pub fn parse(value: &str) -> Result<ApiEndpoint, InvalidEndpoint> {
    let invalid = |why| InvalidEndpoint {
        value: value.to_owned(),
        why,
    };
    let trimmed = value.trim();
    let rest = match trimmed.split_once("://") {
        Some(("https", rest)) => rest,
        Some(_) => return Err(invalid("only https endpoints are supported")),
        None => trimmed,
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err(invalid("credentials in the endpoint are not allowed"));
    }
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        // IPv6 literal: [::1]:443
        let (host, after) = bracketed
            .split_once(']')
            .ok_or_else(|| invalid("unterminated IPv6 address"))?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(invalid("no host"));
    }
    let port = match port {
        None => 443,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| invalid("port must be 1 to 65535"))?,
    };
    Ok(ApiEndpoint {
        host: host.to_owned(),
        port: i32::from(port),
    })
}

/// The URL to reach an endpoint at.
pub fn url(endpoint: &ApiEndpoint) -> String {
    if endpoint.host.contains(':') {
        format!("https://[{}]:{}", endpoint.host, endpoint.port)
    } else {
        format!("https://{}:{}", endpoint.host, endpoint.port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(host: &str, port: i32) -> ApiEndpoint {
        ApiEndpoint {
            host: host.into(),
            port,
        }
    }

    #[test]
    fn parses_eks_urls_into_bare_host_and_port() {
        let eks = "https://ABC123.gr7.ap-northeast-1.eks.amazonaws.com";
        assert_eq!(
            parse(eks).unwrap(),
            ok("ABC123.gr7.ap-northeast-1.eks.amazonaws.com", 443)
        );
        assert_eq!(parse("https://127.0.0.1:6443/").unwrap(), ok("127.0.0.1", 6443));
        assert_eq!(parse("example.com:8443").unwrap(), ok("example.com", 8443));
        assert_eq!(parse("https://[::1]:6443").unwrap(), ok("::1", 6443));
    }

    #[test]
    fn rejects_what_cluster_api_cannot_use() {
        assert!(parse("http://example.com").is_err());
        assert!(parse("https://").is_err());
        assert!(parse("https://example.com:0").is_err());
        assert!(parse("https://example.com:99999").is_err());
        assert!(parse("https://user:pw@example.com").is_err());
    }

    #[test]
    fn url_round_trips() {
        for s in [
            "https://example.com:443",
            "https://127.0.0.1:6443",
            "https://[::1]:6443",
        ] {
            assert_eq!(url(&parse(s).unwrap()), s);
        }
    }
}
