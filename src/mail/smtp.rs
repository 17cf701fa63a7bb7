//! SMTP delivery over TCP connections the portal opens itself, with `TCP_NODELAY`.
//!
//! lettre writes a message and its closing `.` in separate writes. On a connection with Nagle's
//! algorithm on (lettre has no option to turn it off) the `.` waits for the server to
//! acknowledge the message, which a server delays by ~40 ms: every email cost that much. So the
//! portal connects itself, turns Nagle off, and hands the stream to lettre's SMTP client
//! (`AsyncSmtpConnection::connect_with_transport`), which still speaks the protocol: EHLO,
//! STARTTLS (`?tls=required` or `opportunistic`), implicit TLS (`smtps://`, over our stream
//! through rustls), AUTH PLAIN or LOGIN from the URL's credentials, the envelope and the data.
//!
//! Connections are kept between emails (at most `max_idle`), one per sender at a time; one idle
//! for a few seconds is checked with NOOP before it is used again. The delivery workers call
//! [`Smtp::send`] from blocking threads; it drives the conversation on a small runtime of its
//! own.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::Error;
use lettre::Message;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// How the connection is secured, from the URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// `smtp://host` (port 25): plain.
    None,
    /// `smtp://host?tls=opportunistic` (port 587): STARTTLS when the server offers it.
    Opportunistic,
    /// `smtp://host?tls=required` (port 587): STARTTLS or fail.
    Required,
    /// `smtps://host` (port 465): TLS from the first byte.
    Implicit,
}

/// Where to send and as whom, parsed from the SMTP URL.
#[derive(Debug, Clone)]
pub struct Server {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub credentials: Option<(String, String)>,
    /// The EHLO name: the URL's path, or this machine's name.
    pub hello: Option<String>,
}

impl Server {
    /// Reads `smtp://[user:pass@]host[:port][/ehlo-name][?tls=required|opportunistic]` or
    /// `smtps://[user:pass@]host[:port]` (user and password percent-decoded).
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        let url = url::Url::parse(url)?;
        let host = url
            .host_str()
            .ok_or_else(|| anyhow::anyhow!("the SMTP URL names no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let tls = url.query_pairs().find(|(k, _)| k == "tls").map(|(_, v)| v.into_owned());
        let (security, default_port) = match (url.scheme(), tls.as_deref()) {
            ("smtp", None) => (Security::None, 25),
            ("smtp", Some("required")) => (Security::Required, 587),
            ("smtp", Some("opportunistic")) => (Security::Opportunistic, 587),
            ("smtps", None) => (Security::Implicit, 465),
            (scheme, tls) => anyhow::bail!("unknown SMTP scheme '{scheme}' or tls parameter {tls:?}"),
        };
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(|s| s.into_owned())
        };
        let credentials = match url.password() {
            Some(password) => Some((decode(url.username())?, decode(password)?)),
            None => None,
        };
        let path = url.path().trim_matches('/');
        Ok(Self {
            host,
            port: url.port().unwrap_or(default_port),
            security,
            credentials,
            hello: (!path.is_empty()).then(|| path.to_string()),
        })
    }
}

/// A TLS stream over our own TCP connection (implicit TLS), as lettre's client takes it.
#[derive(Debug)]
struct TlsTcp(tokio_rustls::client::TlsStream<TcpStream>);

impl AsyncRead for TlsTcp {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsTcp {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

impl AsyncTokioStream for TlsTcp {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.0.get_ref().0.peer_addr()
    }
}

/// Public roots (webpki-roots, as lettre's own TLS uses) over rustls with ring.
fn tls_config() -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Why a send failed: the SMTP conversation (a reply, or lettre's own checks), or the network
/// before lettre had the stream.
#[derive(Debug)]
pub enum Failure {
    Smtp(Error),
    Io(io::Error),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Smtp(e)
    }
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Failure::Io(e)
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Smtp(e) => e.fmt(f),
            Failure::Io(e) => write!(f, "network error: {e}"),
        }
    }
}

/// An idle connection and when it was last used.
struct Idle {
    conn: AsyncSmtpConnection,
    since: Instant,
}

/// Connections idle longer than this are checked with NOOP before use.
const CHECK_AFTER: Duration = Duration::from_secs(5);
/// Connections idle longer than this are closed rather than reused.
const DROP_AFTER: Duration = Duration::from_secs(60);

pub struct Smtp {
    server: Server,
    hello: ClientId,
    credentials: Option<Credentials>,
    tls: Arc<rustls::ClientConfig>,
    timeout: Duration,
    max_idle: usize,
    idle: Mutex<Vec<Idle>>,
    /// Taken only by `drop`.
    runtime: Option<tokio::runtime::Runtime>,
}

impl Smtp {
    pub fn new(url: &str, max_idle: usize, timeout: Duration) -> anyhow::Result<Self> {
        let server = Server::parse(url)?;
        let hello = match &server.hello {
            Some(name) => ClientId::Domain(name.clone()),
            None => ClientId::default(),
        };
        let credentials = server.credentials.clone().map(|(u, p)| Credentials::new(u, p));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("smtp")
            .enable_all()
            .build()?;
        Ok(Self {
            server,
            hello,
            credentials,
            tls: tls_config()?,
            timeout,
            max_idle,
            idle: Mutex::default(),
            runtime: Some(runtime),
        })
    }

    fn lettre_tls(&self) -> Result<TlsParameters, Error> {
        TlsParameters::new(self.server.host.clone())
    }

    /// Opens a connection: TCP with Nagle off, TLS when implicit, EHLO, STARTTLS, AUTH.
    async fn connect(&self) -> Result<AsyncSmtpConnection, Failure> {
        let tcp = TcpStream::connect((self.server.host.as_str(), self.server.port)).await?;
        tcp.set_nodelay(true)?;
        let stream: Box<dyn AsyncTokioStream> = if self.server.security == Security::Implicit {
            let name = rustls::pki_types::ServerName::try_from(self.server.host.clone())
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            let tls = tokio_rustls::TlsConnector::from(self.tls.clone())
                .connect(name, tcp)
                .await?;
            Box::new(TlsTcp(tls))
        } else {
            Box::new(tcp)
        };
        let mut conn = AsyncSmtpConnection::connect_with_transport(stream, &self.hello).await?;
        match self.server.security {
            Security::Required => conn.starttls(self.lettre_tls()?, &self.hello).await?,
            Security::Opportunistic if conn.can_starttls() => conn.starttls(self.lettre_tls()?, &self.hello).await?,
            _ => {}
        }
        if let Some(credentials) = &self.credentials {
            conn.auth(DEFAULT_MECHANISMS, credentials).await?;
        }
        Ok(conn)
    }

    /// A kept connection that still answers, or a new one.
    async fn checkout(&self) -> Result<AsyncSmtpConnection, Failure> {
        loop {
            let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let Some(Idle { mut conn, since }) = idle else {
                return self.connect().await;
            };
            let age = since.elapsed();
            if age > DROP_AFTER {
                conn.abort().await;
                continue;
            }
            if age <= CHECK_AFTER || conn.test_connected().await {
                return Ok(conn);
            }
        }
    }

    async fn send_async(&self, message: &Message) -> Result<(), Failure> {
        let mut conn = self.checkout().await?;
        let sent = conn.send(message.envelope(), &message.formatted()).await;
        // lettre marks a connection broken after any failed command; a refused recipient
        // (a reply) leaves it usable only in principle, so it is not kept either.
        if sent.is_ok() && !conn.has_broken() {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            if idle.len() < self.max_idle {
                idle.push(Idle {
                    conn,
                    since: Instant::now(),
                });
            }
        }
        sent.map(|_| ()).map_err(Failure::Smtp)
    }

    /// Sends `message`, blocking the calling (blocking-pool) thread, within the timeout.
    pub fn send(&self, message: &Message) -> Result<(), Failure> {
        let Some(runtime) = &self.runtime else {
            return Err(Failure::Io(io::Error::other("the SMTP transport is shutting down")));
        };
        runtime.block_on(async {
            tokio::time::timeout(self.timeout, self.send_async(message))
                .await
                .unwrap_or_else(|_| {
                    Err(Failure::Io(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the SMTP conversation timed out",
                    )))
                })
        })
    }
}

impl Drop for Smtp {
    /// The last holder may be an async task (a delivery worker's loop), where a runtime may not
    /// block to stop: the kept connections go first, then the runtime stops in the background.
    fn drop(&mut self) {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).clear();
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_read_as_lettre_reads_them() {
        let s = Server::parse("smtp://user%40x:p%2Fss@mail.example.org?tls=required").unwrap();
        assert_eq!(
            (s.host.as_str(), s.port, s.security),
            ("mail.example.org", 587, Security::Required)
        );
        assert_eq!(s.credentials, Some(("user@x".to_string(), "p/ss".to_string())));
        let s = Server::parse("smtps://mail.example.org").unwrap();
        assert_eq!((s.port, s.security, s.credentials), (465, Security::Implicit, None));
        let s = Server::parse("smtp://127.0.0.1:2525/portal.example.org").unwrap();
        assert_eq!((s.port, s.security), (2525, Security::None));
        assert_eq!(s.hello.as_deref(), Some("portal.example.org"));
        let s = Server::parse("smtp://relay?tls=opportunistic").unwrap();
        assert_eq!((s.port, s.security), (587, Security::Opportunistic));
        assert!(Server::parse("smtp://relay?tls=sometimes").is_err());
        assert!(Server::parse("imap://relay").is_err());
    }
}
