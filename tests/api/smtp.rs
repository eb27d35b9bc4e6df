//! A real SMTP server for the mail tests (plain SMTP over TCP, no TLS
//! offered, so the service's STARTTLS-when-offered falls back to plain):
//! it keeps every message it accepts, refuses recipients whose address
//! starts with `bounce` with a permanent 550, and can start late on a
//! port chosen before (a server that was down).
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A message as the server received it.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: String,
    /// The message with quoted-printable soft breaks and escapes undone.
    pub text: String,
}

impl Mail {
    /// The `action` and `token` of the link in the mail.
    pub fn link(&self) -> (String, String) {
        let at = self.text.find("action=").expect("a link in the mail");
        let rest = &self.text[at + "action=".len()..];
        let action: String = rest.chars().take_while(|c| c.is_ascii_lowercase() || *c == '-').collect();
        let rest = &rest[action.len()..];
        let rest = rest.strip_prefix("&token=").expect("&token= after the action");
        let token =
            rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect();
        (action, token)
    }
}

pub struct SmtpServer {
    pub port: u16,
    mails: Arc<Mutex<Vec<Mail>>>,
    running: Arc<AtomicBool>,
}

impl SmtpServer {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a port");
        let port = listener.local_addr().unwrap().port();
        let server = Self { port, mails: Arc::default(), running: Arc::new(AtomicBool::new(false)) };
        server.serve(listener);
        server
    }

    /// A port where no server listens (yet): start it with [`SmtpServer::resume`].
    pub fn stopped() -> Self {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        Self { port, mails: Arc::default(), running: Arc::new(AtomicBool::new(false)) }
    }

    pub fn resume(&self) {
        self.serve(TcpListener::bind(("127.0.0.1", self.port)).expect("the port again"));
    }

    fn serve(&self, listener: TcpListener) {
        self.running.store(true, Ordering::SeqCst);
        listener.set_nonblocking(true).unwrap();
        let (mails, running) = (self.mails.clone(), self.running.clone());
        std::thread::spawn(move || {
            while running.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let mails = mails.clone();
                        std::thread::spawn(move || {
                            let _ = session(stream, &mails);
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().unwrap().clone()
    }

    /// Waits up to `within` for `count` mails in all, and returns them.
    pub async fn wait_for(&self, count: usize, within: Duration) -> Vec<Mail> {
        let deadline = Instant::now() + within;
        loop {
            let mails = self.mails();
            if mails.len() >= count || Instant::now() > deadline {
                return mails;
            }
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.running.store(false, Ordering::SeqCst);
    }
}

fn session(stream: TcpStream, mails: &Mutex<Vec<Mail>>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut out = stream.try_clone()?;
    let mut lines = BufReader::new(stream);
    write!(out, "220 test.smtp ESMTP\r\n")?;
    let mut to = Vec::new();
    loop {
        let mut line = String::new();
        if lines.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_ascii_uppercase();
        if command.starts_with("EHLO") {
            write!(out, "250-test.smtp\r\n250 8BITMIME\r\n")?;
        } else if command.starts_with("HELO")
            || command.starts_with("MAIL FROM")
            || command == "RSET"
            || command == "NOOP"
        {
            if command == "RSET" {
                to.clear();
            }
            write!(out, "250 ok\r\n")?;
        } else if command.starts_with("RCPT TO") {
            let address =
                line.trim_end()[8..].trim().trim_start_matches('<').trim_end_matches('>').to_string();
            if address.starts_with("bounce") {
                write!(out, "550 5.1.1 no such mailbox\r\n")?;
            } else {
                to.push(address);
                write!(out, "250 ok\r\n")?;
            }
        } else if command == "DATA" {
            write!(out, "354 go ahead\r\n")?;
            let mut data = String::new();
            loop {
                let mut line = String::new();
                if lines.read_line(&mut line)? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" {
                    break;
                }
                data.push_str(line.strip_prefix('.').unwrap_or(&line));
            }
            let text = unquote(&data);
            mails.lock().unwrap().extend(to.drain(..).map(|to| Mail { to, text: text.clone() }));
            write!(out, "250 queued\r\n")?;
        } else if command == "QUIT" {
            write!(out, "221 bye\r\n")?;
            return Ok(());
        } else {
            write!(out, "502 not implemented\r\n")?;
        }
    }
}

/// Quoted-printable undone (soft breaks and `=XX`), for finding links.
fn unquote(data: &str) -> String {
    let joined = data.replace("=\r\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'=', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
