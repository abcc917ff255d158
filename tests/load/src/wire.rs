//! HTTP/1.1 exchanges written and read directly over pooled keep-alive connections: the load
//! tool's client for requests whose whole answer it reads. The tool shares the machine with what
//! it measures, so a request costs it one write, usually one read and a header parse
//! (`httparse`): no connection task, dispatch channel or hashed pool key per request, which is
//! what a general-purpose client spends its time on here (see tests/load/optimisations.md).
//!
//! Answers are framed by `Content-Length`, chunked transfer coding, or the end of the connection;
//! interim (1xx) answers are skipped. A request on a reused connection that the server had
//! already closed (nothing came back) is sent once more on a new connection, as browsers do.

use std::sync::Mutex;

use http_body_util::BodyExt;
use hyper::{
    Method, Request, StatusCode,
    body::Bytes,
    header::{CONTENT_LENGTH, HOST},
    http::uri::Authority,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::http::{Answer, Body};

/// Largest answer head read; a larger one is refused.
const MAX_HEAD: usize = 64 * 1024;
/// Most header lines an answer may have.
const MAX_HEADERS: usize = 64;

/// Why an exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The connection could not be made, or broke.
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    /// The request cannot be sent by this client.
    #[error("request: {0}")]
    Request(&'static str),
    /// The answer is not HTTP/1.x as this client reads it.
    #[error("answer: {0}")]
    Answer(&'static str),
}

/// A connection and the bytes read from it but not yet used.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

/// Idle connections to one `host:port`.
struct Idle {
    authority: String,
    conns: Vec<Conn>,
}

/// Keep-alive connections per server, each used by one exchange at a time.
pub struct Wire {
    idle: Mutex<Vec<Idle>>,
    max_idle: usize,
}

/// How an answer's body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Empty,
    Length(usize),
    Chunked,
    UntilClose,
}

/// What the head of an answer says.
#[derive(Debug)]
struct Head {
    len: usize,
    status: StatusCode,
    framing: Framing,
    keep_alive: bool,
}

impl Wire {
    /// A client keeping up to `max_idle` idle connections per server.
    pub fn new(max_idle: usize) -> Self {
        Self {
            idle: Mutex::new(Vec::new()),
            max_idle,
        }
    }

    /// Sends `request` (an absolute `http://` URI) and reads the whole answer.
    pub async fn exchange(&self, request: Request<Body>) -> Result<Answer, WireError> {
        let head_only = request.method() == Method::HEAD;
        let (authority, bytes) = render(request).await?;
        let pooled = self.checkout(authority.as_str());
        let reused = pooled.is_some();
        let mut conn = match pooled {
            Some(conn) => conn,
            None => connect(&authority).await?,
        };
        let mut attempt = exchange_on(&mut conn, &bytes, head_only).await;
        if reused && matches!(attempt, Err(Attempt::Unanswered(_))) {
            // The server closed this idle connection before reading the request.
            conn = connect(&authority).await?;
            attempt = exchange_on(&mut conn, &bytes, head_only).await;
        }
        match attempt {
            Ok((answer, reuse)) => {
                if reuse {
                    self.checkin(authority.as_str(), conn);
                }
                Ok(answer)
            }
            Err(Attempt::Unanswered(err) | Attempt::Failed(err)) => Err(err),
        }
    }

    fn checkout(&self, authority: &str) -> Option<Conn> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        idle.iter_mut()
            .find(|i| i.authority == authority)
            .and_then(|i| i.conns.pop())
    }

    fn checkin(&self, authority: &str, conn: Conn) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        match idle.iter_mut().find(|i| i.authority == authority) {
            Some(i) if i.conns.len() < self.max_idle => i.conns.push(conn),
            Some(_) => {}
            None => idle.push(Idle {
                authority: authority.to_owned(),
                conns: vec![conn],
            }),
        }
    }
}

/// The request's server and its bytes on the wire: head, then the body with its length.
async fn render(request: Request<Body>) -> Result<(Authority, Vec<u8>), WireError> {
    let (parts, mut body) = request.into_parts();
    let body = match body.frame().await {
        Some(Ok(frame)) => frame.into_data().unwrap_or_default(),
        _ => Bytes::new(),
    };
    if parts.uri.scheme_str() != Some("http") {
        return Err(WireError::Request("only http:// URIs are sent"));
    }
    let authority = parts
        .uri
        .authority()
        .ok_or(WireError::Request("the URI has no host"))?
        .clone();
    let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut out = Vec::with_capacity(256 + body.len());
    for piece in [
        parts.method.as_str(),
        " ",
        target,
        " HTTP/1.1\r\nhost: ",
        authority.as_str(),
        "\r\n",
    ] {
        out.extend_from_slice(piece.as_bytes());
    }
    for (name, value) in &parts.headers {
        if name != CONTENT_LENGTH && name != HOST {
            out.extend_from_slice(name.as_str().as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
    if !body.is_empty() || matches!(parts.method, Method::POST | Method::PUT | Method::PATCH) {
        out.extend_from_slice(b"content-length: ");
        out.extend_from_slice(body.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&body);
    Ok((authority, out))
}

/// A new connection to `authority` (port 80 when it names none).
async fn connect(authority: &Authority) -> Result<Conn, WireError> {
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let stream = TcpStream::connect((host, authority.port_u16().unwrap_or(80))).await?;
    stream.set_nodelay(true)?;
    Ok(Conn {
        stream,
        buf: Vec::with_capacity(4096),
    })
}

/// How one attempt on a connection failed: before any byte of an answer came back, or later.
enum Attempt {
    Unanswered(WireError),
    Failed(WireError),
}

/// Writes the request and reads its answer; also says whether the connection may be reused.
async fn exchange_on(
    conn: &mut Conn,
    request: &[u8],
    head_only: bool,
) -> Result<(Answer, bool), Attempt> {
    conn.buf.clear();
    if let Err(err) = conn.stream.write_all(request).await {
        return Err(Attempt::Unanswered(err.into()));
    }
    let head = loop {
        match parse_head(&conn.buf, head_only).map_err(Attempt::Failed)? {
            Some(head) if head.status.is_informational() => {
                conn.buf.drain(..head.len);
            }
            Some(head) => break head,
            None => {
                let answered = !conn.buf.is_empty();
                match read_more(conn).await {
                    Ok(()) => {}
                    Err(err) if answered => return Err(Attempt::Failed(err)),
                    Err(err) => return Err(Attempt::Unanswered(err)),
                }
            }
        }
    };
    let body = read_body(conn, &head).await.map_err(Attempt::Failed)?;
    let reuse = head.keep_alive && head.framing != Framing::UntilClose && conn.buf.is_empty();
    Ok((
        Answer {
            status: head.status,
            body,
        },
        reuse,
    ))
}

/// Reads whatever the server sent next; the end of the connection is an error.
async fn read_more(conn: &mut Conn) -> Result<(), WireError> {
    conn.buf.reserve(4096);
    if conn.stream.read_buf(&mut conn.buf).await? == 0 {
        return Err(WireError::Io(std::io::ErrorKind::UnexpectedEof.into()));
    }
    Ok(())
}

/// Reads the body `head` announces; what it leaves in the buffer belongs to no request.
async fn read_body(conn: &mut Conn, head: &Head) -> Result<Bytes, WireError> {
    match head.framing {
        Framing::Empty => {
            conn.buf.drain(..head.len);
            Ok(Bytes::new())
        }
        Framing::Length(n) => {
            while conn.buf.len() < head.len + n {
                read_more(conn).await?;
            }
            let body = Bytes::copy_from_slice(&conn.buf[head.len..head.len + n]);
            conn.buf.drain(..head.len + n);
            Ok(body)
        }
        Framing::Chunked => loop {
            if let Some((body, used)) = dechunk(&conn.buf[head.len..])? {
                conn.buf.drain(..head.len + used);
                return Ok(Bytes::from(body));
            }
            read_more(conn).await?;
        },
        Framing::UntilClose => {
            loop {
                conn.buf.reserve(4096);
                if conn.stream.read_buf(&mut conn.buf).await? == 0 {
                    break;
                }
            }
            let body = Bytes::copy_from_slice(&conn.buf[head.len..]);
            conn.buf.clear();
            Ok(body)
        }
    }
}

/// Parses an answer's head from the start of `buf`; `None` while it is incomplete.
fn parse_head(buf: &[u8], head_only: bool) -> Result<Option<Head>, WireError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let len = match response.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => {
            return Err(WireError::Answer("head too large"));
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(WireError::Answer("malformed head")),
    };
    let status = response
        .code
        .and_then(|c| StatusCode::from_u16(c).ok())
        .ok_or(WireError::Answer("bad status"))?;
    let mut keep_alive = response.version == Some(1);
    let mut length = None;
    let mut chunked = false;
    for header in response.headers.iter() {
        let value = std::str::from_utf8(header.value).map_err(|_| WireError::Answer("header"))?;
        if header.name.eq_ignore_ascii_case("content-length") {
            let n: usize = value
                .trim()
                .parse()
                .map_err(|_| WireError::Answer("bad content-length"))?;
            if length.is_some_and(|m| m != n) {
                return Err(WireError::Answer("conflicting content-length"));
            }
            length = Some(n);
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value
                .rsplit(',')
                .next()
                .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
        } else if header.name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    keep_alive = false;
                } else if token.eq_ignore_ascii_case("keep-alive") {
                    keep_alive = true;
                }
            }
        }
    }
    let framing = if head_only
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        Framing::Empty
    } else if chunked {
        Framing::Chunked
    } else if let Some(n) = length {
        Framing::Length(n)
    } else {
        Framing::UntilClose
    };
    Ok(Some(Head {
        len,
        status,
        framing,
        keep_alive,
    }))
}

/// Decodes a chunked body from the start of `src`: the data and the bytes used, or `None` while
/// it is incomplete. Chunk extensions and trailers are skipped.
fn dechunk(src: &[u8]) -> Result<Option<(Vec<u8>, usize)>, WireError> {
    let mut body = Vec::new();
    let mut at = 0;
    loop {
        let Some(eol) = find_crlf(&src[at..]) else {
            return Ok(None);
        };
        let line =
            std::str::from_utf8(&src[at..at + eol]).map_err(|_| WireError::Answer("chunk size"))?;
        let size = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size, 16).map_err(|_| WireError::Answer("chunk size"))?;
        at += eol + 2;
        if size == 0 {
            // Trailer lines, then an empty line.
            loop {
                let Some(eol) = find_crlf(&src[at..]) else {
                    return Ok(None);
                };
                at += eol + 2;
                if eol == 0 {
                    return Ok(Some((body, at)));
                }
            }
        }
        if src.len() < at + size + 2 {
            return Ok(None);
        }
        if &src[at + size..at + size + 2] != b"\r\n" {
            return Err(WireError::Answer("chunk not followed by CRLF"));
        }
        body.extend_from_slice(&src[at..at + size]);
        at += size + 2;
    }
}

fn find_crlf(src: &[u8]) -> Option<usize> {
    src.windows(2).position(|w| w == b"\r\n")
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };

    use tokio::net::TcpListener;

    use super::*;

    /// A server answering each request it reads (a head ending in an empty line, and
    /// `Content-Length` bytes after it) with the next of `answers`, then closing when
    /// `close_after` answers were written on one connection. Counts connections.
    async fn server(answers: Vec<&'static str>, close_after: usize) -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        let answers = Arc::new(Mutex::new(answers.into_iter()));
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                count.fetch_add(1, Ordering::SeqCst);
                let answers = answers.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    for _ in 0..close_after {
                        loop {
                            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                                let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
                                let length = head
                                    .lines()
                                    .find_map(|l| l.strip_prefix("content-length: "))
                                    .map_or(0, |n| n.trim().parse::<usize>().unwrap());
                                if buf.len() >= end + 4 + length {
                                    buf.drain(..end + 4 + length);
                                    break;
                                }
                            }
                            let mut chunk = [0u8; 1024];
                            match socket.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                        }
                        let answer = answers.lock().unwrap().next().unwrap_or("");
                        if socket.write_all(answer.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (base, accepted)
    }

    fn post(base: &str, body: &'static str) -> Request<Body> {
        Request::post(format!("{base}/x"))
            .header("idempotency-key", "k1")
            .body(Body::new(Bytes::from_static(body.as_bytes())))
            .unwrap()
    }

    #[tokio::test]
    async fn answers_framed_by_length_reuse_one_connection() {
        let ok = "HTTP/1.1 201 Created\r\ncontent-length: 5\r\n\r\nhello";
        let (base, accepted) = server(vec![ok, ok, ok], 10).await;
        let wire = Wire::new(4);
        for _ in 0..3 {
            let answer = wire.exchange(post(&base, "{}")).await.unwrap();
            assert_eq!(answer.status, StatusCode::CREATED);
            assert_eq!(&answer.body[..], b"hello");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn chunked_and_interim_answers_are_read() {
        let chunked = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nx-trailer: 1\r\n\r\n";
        let after = "HTTP/1.1 204 No Content\r\n\r\n";
        let (base, accepted) = server(vec![chunked, after], 10).await;
        let wire = Wire::new(4);
        let answer = wire.exchange(post(&base, "")).await.unwrap();
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(&answer.body[..], b"abcde");
        let answer = wire.exchange(post(&base, "")).await.unwrap();
        assert_eq!(answer.status, StatusCode::NO_CONTENT);
        assert!(answer.body.is_empty());
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn an_answer_ended_by_closing_is_read_and_its_connection_dropped() {
        let (base, accepted) = server(vec!["HTTP/1.1 200 OK\r\n\r\nuntil close"; 2], 1).await;
        let wire = Wire::new(4);
        for _ in 0..2 {
            let answer = wire.exchange(post(&base, "")).await.unwrap();
            assert_eq!(&answer.body[..], b"until close");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_pooled_connection_the_server_closed_is_replaced() {
        // Each connection answers once and closes, though its answer allows keep-alive.
        let ok = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
        let (base, accepted) = server(vec![ok; 3], 1).await;
        let wire = Wire::new(4);
        for _ in 0..3 {
            let answer = wire.exchange(post(&base, "{}")).await.unwrap();
            assert_eq!(&answer.body[..], b"ok");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn malformed_or_cut_answers_are_errors() {
        let (base, _) = server(vec!["NOT HTTP\r\n\r\n"], 1).await;
        let err = Wire::new(4).exchange(post(&base, "")).await.unwrap_err();
        assert!(matches!(err, WireError::Answer(_)), "{err}");
        let (base, _) = server(
            vec!["HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort"],
            1,
        )
        .await;
        let err = Wire::new(4).exchange(post(&base, "")).await.unwrap_err();
        assert!(matches!(err, WireError::Io(_)), "{err}");
        let err = Wire::new(4)
            .exchange(post("https://127.0.0.1:1", ""))
            .await
            .unwrap_err();
        assert!(matches!(err, WireError::Request(_)), "{err}");
    }

    #[test]
    fn heads_say_how_their_bodies_end() {
        let head = |raw: &str| parse_head(raw.as_bytes(), false).unwrap().unwrap();
        let h = head("HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n");
        assert_eq!((h.framing, h.keep_alive), (Framing::Length(7), true));
        let h = head("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
        assert_eq!(h.framing, Framing::Chunked);
        let h = head("HTTP/1.1 200 OK\r\nConnection: close\r\ncontent-length: 0\r\n\r\n");
        assert!(!h.keep_alive);
        let h = head("HTTP/1.0 200 OK\r\n\r\n");
        assert_eq!((h.framing, h.keep_alive), (Framing::UntilClose, false));
        assert!(
            parse_head(b"HTTP/1.1 200 OK\r\ncontent-le", false)
                .unwrap()
                .is_none()
        );
        assert!(
            parse_head(
                b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n",
                false
            )
            .is_err()
        );
        let h = parse_head(b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\n", true)
            .unwrap()
            .unwrap();
        assert_eq!(h.framing, Framing::Empty);
    }
}
