//! A plain HTTP/1.0 GET on loopback, for the health, readiness and metrics endpoints of the
//! processes the harness, the demo and the tests start (etcd, `capt-operator`): three kinds of
//! request do not need an HTTP client crate.

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// What an endpoint answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The body, as text.
    pub body: String,
}

/// `GET path` on `127.0.0.1:port`. An error when nothing answers or the reply has no status line.
pub async fn get(port: u16, path: &str) -> std::io::Result<Response> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .lines()
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| {
            let first = head.lines().next().unwrap_or_default();
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("not an HTTP reply: {first:?}"),
            )
        })?;
    Ok(Response {
        status,
        body: body.to_owned(),
    })
}
