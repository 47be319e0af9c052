//! Just enough HTTP/1.1 for a local page: one request per connection, every limit explicit.
//!
//! Request heads are parsed by `httparse` (the parser under hyper); this file adds the parts a
//! server must get right around it: the head is bounded, a body is read only when it declares a
//! `Content-Length` within the limit (never allocated from the declared size beforehand), the whole
//! request must arrive within one deadline (a client trickling a byte at a time cannot hold its
//! connection), writes time out, and every response closes the connection. Anything malformed
//! becomes a 4xx response instead of an error that could stop the server.

use std::borrow::Cow;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

/// Size and time limits of one connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Request line plus headers, in bytes (larger: 431).
    pub max_head_bytes: usize,
    /// Request body, in bytes (larger: 413, and the body is not read).
    pub max_body_bytes: usize,
    /// Longest wait for the client to send the next bytes or take ours (slower: 408 / dropped).
    pub io_timeout: Duration,
    /// Longest time the whole request (head and body) may take to arrive, however steadily its
    /// bytes trickle in (slower: 408).
    pub request_timeout: Duration,
    /// When every connection slot is taken, a connection still sending its request after this
    /// long gives its slot to the newcomer (it gets a 408), so slow clients cannot lock out
    /// quick ones.
    pub evict_after: Duration,
    /// Bytes that images being decoded at the same time may take together (an estimate from
    /// their headers); requests wait for their share, and an image larger than all of it is
    /// refused.
    pub decode_budget_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_head_bytes: 16 * 1024,
            max_body_bytes: 2 * 1024 * 1024,
            io_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(20),
            evict_after: Duration::from_secs(2),
            decode_budget_bytes: 512 * 1024 * 1024,
        }
    }
}

/// Most headers a request may carry.
const MAX_HEADERS: usize = 48;
/// After answering, at most this much unread input is discarded (so the client sees our response
/// rather than a connection reset), for at most `LINGER`.
const MAX_DISCARD: usize = 8 * 1024 * 1024;
const LINGER: Duration = Duration::from_secs(2);

/// A request as the application sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// Upper-case method, e.g. `GET`.
    pub method: String,
    /// The path without query string or fragment, e.g. `/api/predict`.
    pub path: String,
    /// The `Host` header (required: a request without one is refused).
    pub host: String,
    /// The media type of the body without parameters, lower-case (`image/png`), if any.
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// A complete response; always sent with `Content-Length` and `Connection: close`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: Cow<'static, [u8]>,
}

impl Response {
    pub fn new(
        status: u16,
        content_type: &'static str,
        body: impl Into<Cow<'static, [u8]>>,
    ) -> Self {
        Self {
            status,
            content_type,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// A JSON error body: `{"error": "..."}`.
    pub fn error(status: u16, message: &str) -> Self {
        let body = serde_json::json!({ "error": message }).to_string();
        Self::new(status, JSON, body.into_bytes())
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

pub const JSON: &str = "application/json";

/// Why no request came out of a connection.
#[derive(Debug)]
pub enum ReadError {
    /// The client went away or the socket failed: nothing to answer.
    Gone(io::Error),
    /// The request is unusable; send this response and close.
    Reject(Response),
}

/// Reads one request from `stream` within `limits`.
pub fn read_request(stream: &mut TcpStream, limits: &Limits) -> Result<Request, ReadError> {
    let deadline = Deadline::after(limits.request_timeout, limits.io_timeout);
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    let Head {
        len: head_len,
        mut request,
        content_length,
        expects_continue,
    } = loop {
        let n = read_some(stream, &mut chunk, buf.is_empty(), &deadline)?;
        buf.extend_from_slice(&chunk[..n]);
        if let Some(head) = parse_head(&buf, limits).map_err(ReadError::Reject)? {
            break head;
        }
    };
    // Bytes after the head that arrived with it belong to the body (anything beyond the declared
    // length would be a pipelined request, which a `Connection: close` server ignores).
    let mut body = buf.split_off(head_len.min(buf.len()));
    body.truncate(content_length);
    body.reserve_exact(content_length - body.len());
    if expects_continue && body.len() < content_length {
        // The client (curl, for bodies over 1 KiB) waits for this before sending the body.
        write_by(stream, b"HTTP/1.1 100 Continue\r\n\r\n", &deadline).map_err(ReadError::Gone)?;
    }
    while body.len() < content_length {
        let want = (content_length - body.len()).min(chunk.len());
        let n = read_some(stream, &mut chunk[..want], false, &deadline)?;
        body.extend_from_slice(&chunk[..n]);
    }
    request.body = body;
    Ok(request)
}

/// A complete request head: its length in bytes, the request without its body, the declared
/// body length, and whether the client waits for `100 Continue` before sending the body.
#[derive(Debug)]
pub struct Head {
    pub len: usize,
    pub request: Request,
    pub content_length: usize,
    pub expects_continue: bool,
}

/// Parses the request head at the start of `buf` within `limits`: `None` while it is
/// incomplete, the rejection to send when it is unusable. What the server reads off the
/// socket goes through here first (and the fuzz tests feed it directly).
pub fn parse_head(buf: &[u8], limits: &Limits) -> Result<Option<Head>, Response> {
    let too_long = || {
        Response::error(
            431,
            &format!(
                "the request line and headers exceed {} bytes",
                limits.max_head_bytes
            ),
        )
    };
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    let len = match parsed.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() >= limits.max_head_bytes => {
            return Err(too_long())
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(Response::error(
                431,
                &format!("more than {MAX_HEADERS} request headers"),
            ))
        }
        Err(e) => {
            return Err(Response::error(
                400,
                &format!("malformed HTTP request: {e}"),
            ))
        }
    };
    if len > limits.max_head_bytes {
        return Err(too_long());
    }
    let (request, content_length, expects_continue) = interpret_head(&parsed)?;
    if content_length > limits.max_body_bytes {
        return Err(Response::error(
            413,
            &format!(
                "the request body has {content_length} bytes; the limit is {} bytes",
                limits.max_body_bytes
            ),
        ));
    }
    Ok(Some(Head {
        len,
        request,
        content_length,
        expects_continue,
    }))
}

/// The end of a request's time: each wait lasts at most `io_timeout` and never past `end`.
struct Deadline {
    end: Instant,
    io_timeout: Duration,
}

impl Deadline {
    fn after(total: Duration, io_timeout: Duration) -> Self {
        Self {
            end: Instant::now() + total,
            io_timeout,
        }
    }

    /// How long the next wait may last; `None` once the deadline has passed.
    fn next_wait(&self) -> Option<Duration> {
        let left = self.end.saturating_duration_since(Instant::now());
        (!left.is_zero()).then(|| left.min(self.io_timeout))
    }
}

/// One `read`; EOF and errors become `ReadError`s (a timeout or the request's deadline passing
/// mid-request gets a 408; a connection that never sent anything is just closed).
fn read_some(
    stream: &mut TcpStream,
    buf: &mut [u8],
    at_start: bool,
    deadline: &Deadline,
) -> Result<usize, ReadError> {
    loop {
        let Some(wait) = deadline.next_wait() else {
            return Err(if at_start {
                ReadError::Gone(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the client sent nothing",
                ))
            } else {
                reject(408, "the request took too long to arrive")
            });
        };
        stream
            .set_read_timeout(Some(wait))
            .map_err(ReadError::Gone)?;
        match stream.read(buf) {
            Ok(0) => {
                return Err(ReadError::Gone(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the client closed the connection",
                )))
            }
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e)
                if !at_start
                    && matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
            {
                return Err(reject(408, "timed out waiting for the rest of the request"))
            }
            Err(e) => return Err(ReadError::Gone(e)),
        }
    }
}

fn reject(status: u16, message: &str) -> ReadError {
    ReadError::Reject(Response::error(status, message))
}

/// Method, path, the headers the app needs, the declared body length, and whether the client
/// waits for `100 Continue` before sending the body.
fn interpret_head(parsed: &httparse::Request) -> Result<(Request, usize, bool), Response> {
    // Methods are case-sensitive (RFC 9110): `get` is not `GET`.
    let method = parsed.method.unwrap_or_default().to_string();
    if !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(Response::error(
            400,
            &format!("unknown method '{method}' (methods are upper-case, e.g. GET)"),
        ));
    }
    let target = parsed.path.unwrap_or_default();
    let path = target
        .split(['?', '#'])
        .next()
        .unwrap_or_default()
        .to_string();
    let mut host = None;
    let mut content_type = None;
    let mut content_length: Option<usize> = None;
    let mut expects_continue = false;
    for header in parsed.headers.iter() {
        let value = std::str::from_utf8(header.value)
            .map_err(|_| {
                Response::error(400, &format!("header {} is not valid UTF-8", header.name))
            })?
            .trim();
        if header.name.eq_ignore_ascii_case("host") {
            host = Some(value.to_string());
        } else if header.name.eq_ignore_ascii_case("content-type") {
            let media = value.split(';').next().unwrap_or_default().trim();
            content_type = Some(media.to_ascii_lowercase());
        } else if header.name.eq_ignore_ascii_case("expect") {
            if !value.eq_ignore_ascii_case("100-continue") {
                return Err(Response::error(
                    417,
                    &format!("cannot meet the expectation '{value}'"),
                ));
            }
            expects_continue = true;
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(Response::error(
                411,
                "chunked request bodies are not accepted; send the body with a Content-Length",
            ));
        } else if header.name.eq_ignore_ascii_case("content-length") {
            let n: usize = value.parse().map_err(|_| {
                Response::error(
                    400,
                    &format!("Content-Length '{value}' is not a byte count"),
                )
            })?;
            if content_length.is_some_and(|m| m != n) {
                return Err(Response::error(400, "conflicting Content-Length headers"));
            }
            content_length = Some(n);
        }
    }
    let Some(host) = host else {
        return Err(Response::error(400, "the request has no Host header"));
    };
    if !path.starts_with('/') {
        return Err(Response::error(
            400,
            &format!("request target '{target}' is not a path"),
        ));
    }
    let request = Request {
        method,
        path,
        host,
        content_type,
        body: Vec::new(),
    };
    Ok((request, content_length.unwrap_or(0), expects_continue))
}

/// Writes `response`, then closes the connection (discarding a bounded amount of unread input
/// first, so that a client still sending a rejected body reads the response, not a reset).
pub fn respond(stream: &mut TcpStream, response: &Response, limits: &Limits) -> io::Result<()> {
    send(stream, response, limits)?;
    discard_input(stream);
    Ok(())
}

/// Writes `response` within `io_timeout` in all (a client reading a byte at a time cannot hold
/// the connection) and closes the sending side.
pub fn send(stream: &mut TcpStream, response: &Response, limits: &Limits) -> io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\
         Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n",
        response.status,
        reason(response.status),
        response.content_type,
        response.body.len()
    );
    for (name, value) in &response.headers {
        head.push_str(name);
        head.push_str(": ");
        head.push_str(value);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    let deadline = Deadline::after(limits.io_timeout, limits.io_timeout);
    write_by(stream, head.as_bytes(), &deadline)?;
    write_by(stream, &response.body, &deadline)?;
    stream.shutdown(Shutdown::Write)
}

fn write_by(stream: &mut TcpStream, mut bytes: &[u8], deadline: &Deadline) -> io::Result<()> {
    while !bytes.is_empty() {
        let wait = deadline.next_wait().ok_or_else(|| {
            io::Error::new(io::ErrorKind::TimedOut, "the client reads too slowly")
        })?;
        stream.set_write_timeout(Some(wait))?;
        match stream.write(bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reads and drops what the client still sends, for at most `LINGER` and `MAX_DISCARD` bytes.
pub fn discard_input(stream: &mut TcpStream) {
    let deadline = Instant::now() + LINGER;
    if stream
        .set_read_timeout(Some(LINGER.min(Duration::from_millis(250))))
        .is_err()
    {
        return;
    }
    let mut sink = [0u8; 16 * 1024];
    let mut discarded = 0usize;
    while discarded < MAX_DISCARD && Instant::now() < deadline {
        match stream.read(&mut sink) {
            Ok(0) => return,
            Ok(n) => discarded += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

/// The reason phrase of the status codes this server sends.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        417 => "Expectation Failed",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}
