//! A real SMTP server for the mail tests: plain SMTP over TCP by default
//! (no TLS offered, so the service's STARTTLS-when-offered falls back to
//! plain), or with TLS and a password ([`SmtpServer::secure`]), as a
//! submission server in production is. It keeps every message it accepts,
//! refuses recipients whose address starts with `bounce` with a permanent
//! 550, and can start late on a port chosen before (a server that was
//! down).
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use openssl::ssl::{SslAcceptor, SslStream};

/// A message as the server received it.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: String,
    /// The message with quoted-printable soft breaks and escapes undone.
    pub text: String,
    /// Whether it came over TLS.
    pub tls: bool,
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

/// How a [`SmtpServer::secure`] server takes TLS.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum TlsFrom {
    /// After `STARTTLS`, which it requires before anything is sent.
    StartTls,
    /// From the first byte (`smtps://`, port 465).
    FirstByte,
}

/// TLS and the one account a secure server takes mail from.
#[derive(Clone)]
struct Secure {
    acceptor: Arc<SslAcceptor>,
    from: TlsFrom,
    user: &'static str,
    password: &'static str,
}

pub struct SmtpServer {
    pub port: u16,
    mails: Arc<Mutex<Vec<Mail>>>,
    /// What a secure server saw besides mail: `AUTH user:password` with
    /// the credentials decoded, `TLS refused: …` for a failed handshake.
    events: Arc<Mutex<Vec<String>>>,
    running: Arc<AtomicBool>,
    secure: Option<Secure>,
}

impl SmtpServer {
    pub fn start() -> Self {
        Self::on(None)
    }

    /// A server that takes mail only over TLS, with the certificate
    /// `acceptor` presents, and only from `user` with `password`.
    pub fn secure(acceptor: SslAcceptor, from: TlsFrom, user: &'static str, password: &'static str) -> Self {
        Self::on(Some(Secure { acceptor: Arc::new(acceptor), from, user, password }))
    }

    fn on(secure: Option<Secure>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a port");
        let server = Self::at(listener.local_addr().unwrap().port(), secure);
        server.serve(listener);
        server
    }

    /// A port where no server listens (yet): start it with [`SmtpServer::resume`].
    pub fn stopped() -> Self {
        Self::at(TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port(), None)
    }

    fn at(port: u16, secure: Option<Secure>) -> Self {
        let running = Arc::new(AtomicBool::new(false));
        Self { port, mails: Arc::default(), events: Arc::default(), running, secure }
    }

    pub fn resume(&self) {
        self.serve(TcpListener::bind(("127.0.0.1", self.port)).expect("the port again"));
    }

    fn serve(&self, listener: TcpListener) {
        self.running.store(true, Ordering::SeqCst);
        listener.set_nonblocking(true).unwrap();
        let (mails, events, running, secure) =
            (self.mails.clone(), self.events.clone(), self.running.clone(), self.secure.clone());
        std::thread::spawn(move || {
            while running.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (mails, events, secure) = (mails.clone(), events.clone(), secure.clone());
                        std::thread::spawn(move || {
                            if let Err(e) = session(stream, secure.as_ref(), &mails, &events) {
                                events.lock().unwrap().push(e.to_string());
                            }
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

    /// See [`SmtpServer::events`]'s field.
    pub fn events(&self) -> Vec<String> {
        self.events.lock().unwrap().clone()
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

/// A certificate authority of the test's own, and a certificate it signed
/// for `localhost` (and 127.0.0.1): trusted by a process whose
/// `SSL_CERT_FILE` names [`TestCa::pem`], by nothing else.
pub struct TestCa {
    ca: openssl::x509::X509,
    leaf: openssl::x509::X509,
    key: openssl::pkey::PKey<openssl::pkey::Private>,
}

impl TestCa {
    pub fn new() -> Self {
        use openssl::asn1::Asn1Time;
        use openssl::bn::{BigNum, MsbOption};
        use openssl::ec::{EcGroup, EcKey};
        use openssl::hash::MessageDigest;
        use openssl::nid::Nid;
        use openssl::pkey::{PKey, Private};
        use openssl::x509::extension::{BasicConstraints, SubjectAlternativeName};
        use openssl::x509::{X509Builder, X509NameBuilder, X509};

        let key = || {
            let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
            PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap()
        };
        let name = |common: &str| {
            let mut name = X509NameBuilder::new().unwrap();
            name.append_entry_by_nid(Nid::COMMONNAME, common).unwrap();
            name.build()
        };
        let builder = |common: &str, key: &PKey<Private>| -> X509Builder {
            let mut serial = BigNum::new().unwrap();
            serial.rand(64, MsbOption::MAYBE_ZERO, false).unwrap();
            let mut cert = X509::builder().unwrap();
            cert.set_version(2).unwrap();
            cert.set_serial_number(&serial.to_asn1_integer().unwrap()).unwrap();
            cert.set_subject_name(&name(common)).unwrap();
            cert.set_pubkey(key).unwrap();
            cert.set_not_before(&Asn1Time::days_from_now(0).unwrap()).unwrap();
            cert.set_not_after(&Asn1Time::days_from_now(1).unwrap()).unwrap();
            cert
        };
        let ca_key = key();
        let mut ca = builder("warrant test CA", &ca_key);
        ca.set_issuer_name(&name("warrant test CA")).unwrap();
        ca.append_extension(BasicConstraints::new().critical().ca().build().unwrap()).unwrap();
        ca.sign(&ca_key, MessageDigest::sha256()).unwrap();
        let ca = ca.build();

        let leaf_key = key();
        let mut leaf = builder("localhost", &leaf_key);
        leaf.set_issuer_name(ca.subject_name()).unwrap();
        let names = SubjectAlternativeName::new()
            .dns("localhost")
            .ip("127.0.0.1")
            .build(&leaf.x509v3_context(Some(&ca), None))
            .unwrap();
        leaf.append_extension(names).unwrap();
        leaf.sign(&ca_key, MessageDigest::sha256()).unwrap();
        Self { ca, leaf: leaf.build(), key: leaf_key }
    }

    /// The authority's certificate, PEM.
    pub fn pem(&self) -> Vec<u8> {
        self.ca.to_pem().unwrap()
    }

    /// A TLS server presenting the `localhost` certificate.
    pub fn acceptor(&self) -> SslAcceptor {
        let mut acceptor =
            SslAcceptor::mozilla_intermediate_v5(openssl::ssl::SslMethod::tls_server()).unwrap();
        acceptor.set_private_key(&self.key).unwrap();
        acceptor.set_certificate(&self.leaf).unwrap();
        acceptor.check_private_key().unwrap();
        acceptor.build()
    }
}

/// The connection, before and after TLS.
enum Stream {
    Plain(TcpStream),
    Tls(Box<SslStream<TcpStream>>),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Self::Plain(s) => s.read(buf),
            Self::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Self::Plain(s) => s.write(buf),
            Self::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Self::Plain(s) => s.flush(),
            Self::Tls(s) => s.flush(),
        }
    }
}

fn tls(acceptor: &SslAcceptor, stream: TcpStream) -> std::io::Result<Stream> {
    let stream = acceptor.accept(stream).map_err(|e| std::io::Error::other(format!("TLS refused: {e}")))?;
    Ok(Stream::Tls(Box::new(stream)))
}

fn session(
    stream: TcpStream,
    secure: Option<&Secure>,
    mails: &Mutex<Vec<Mail>>,
    events: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut lines = BufReader::new(match secure {
        Some(secure) if secure.from == TlsFrom::FirstByte => tls(&secure.acceptor, stream)?,
        _ => Stream::Plain(stream),
    });
    let reply = |lines: &mut BufReader<Stream>, text: &str| write!(lines.get_mut(), "{text}\r\n");
    reply(&mut lines, "220 test.smtp ESMTP")?;
    let mut to = Vec::new();
    let mut authenticated = false;
    loop {
        let mut line = String::new();
        if lines.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let encrypted = matches!(lines.get_ref(), Stream::Tls(_));
        let command = line.trim_end().to_ascii_uppercase();
        if command.starts_with("EHLO") {
            match secure {
                Some(_) if !encrypted => reply(&mut lines, "250-test.smtp\r\n250 STARTTLS")?,
                Some(_) => reply(&mut lines, "250-test.smtp\r\n250-8BITMIME\r\n250 AUTH PLAIN")?,
                None => reply(&mut lines, "250-test.smtp\r\n250 8BITMIME")?,
            }
        } else if command == "STARTTLS" && secure.is_some() && !encrypted {
            reply(&mut lines, "220 go ahead")?;
            let Stream::Plain(stream) = lines.into_inner() else { unreachable!() };
            lines = BufReader::new(tls(&secure.unwrap().acceptor, stream)?);
        } else if let (Some(secure), true) = (secure, command.starts_with("AUTH PLAIN ")) {
            // `\0user\0password`, base64.
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(line.trim_end()["AUTH PLAIN ".len()..].trim())
                .unwrap_or_default();
            let parts: Vec<String> =
                decoded.split(|b| *b == 0).map(|p| String::from_utf8_lossy(p).into_owned()).collect();
            let (user, password) =
                (parts.get(1).cloned().unwrap_or_default(), parts.get(2).cloned().unwrap_or_default());
            events.lock().unwrap().push(format!("AUTH {user}:{password}"));
            authenticated = encrypted && user == secure.user && password == secure.password;
            reply(&mut lines, if authenticated { "235 2.7.0 ok" } else { "535 5.7.8 bad credentials" })?;
        } else if command.starts_with("MAIL FROM") && secure.is_some() && !(encrypted && authenticated) {
            reply(&mut lines, "530 5.7.0 TLS and authentication first")?;
        } else if command.starts_with("HELO")
            || command.starts_with("MAIL FROM")
            || command == "RSET"
            || command == "NOOP"
        {
            if command == "RSET" {
                to.clear();
            }
            reply(&mut lines, "250 ok")?;
        } else if command.starts_with("RCPT TO") {
            let address =
                line.trim_end()[8..].trim().trim_start_matches('<').trim_end_matches('>').to_string();
            if address.starts_with("bounce") {
                reply(&mut lines, "550 5.1.1 no such mailbox")?;
            } else {
                to.push(address);
                reply(&mut lines, "250 ok")?;
            }
        } else if command == "DATA" {
            reply(&mut lines, "354 go ahead")?;
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
            mails.lock().unwrap().extend(to.drain(..).map(|to| Mail {
                to,
                text: text.clone(),
                tls: encrypted,
            }));
            reply(&mut lines, "250 queued")?;
        } else if command == "QUIT" {
            reply(&mut lines, "221 bye")?;
            return Ok(());
        } else {
            reply(&mut lines, "502 not implemented")?;
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
