//! The outbox's sender: claims due mails (a lease, so one instance sends
//! each), writes them (plain text and HTML, the link, its expiry, who
//! asked), hands them to the SMTP server and records the outcome: sent,
//! due again after a backoff (a transient failure, a server that is down),
//! or failed for good (a 5xx). Woken by each commit that stored mail, and
//! every second besides. A crash between the server's `250` and the record
//! sends that one mail again when its lease ends: at most one duplicate.
use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use lettre::message::{header::ContentType, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{Message, SmtpTransport, Transport};
use tokio::sync::Notify;

use crate::auth::LinkKey;
use crate::config::{MailConfig, SmtpTls};
use crate::db::outbox::{self, Claimed};
use crate::db::{self, Db, DbError};
use crate::domain::LinkPurpose;
use crate::metrics::Metrics;

/// A claim lasts this long: longer than one send may take (its commands
/// time out after [`SMTP_TIMEOUT`]).
const LEASE: TimeDelta = TimeDelta::minutes(2);
const SMTP_TIMEOUT: Duration = Duration::from_secs(20);
/// Mails claimed at once.
const BATCH: i64 = 10;
/// The sender looks for due mails this often when nothing wakes it.
const POLL: Duration = Duration::from_secs(1);
/// Retries back off from a second, doubling, to at most this.
const MAX_BACKOFF_SECS: i64 = 60;

pub struct Mailer {
    db: Db,
    transport: SmtpTransport,
    from: Mailbox,
    link_url: String,
    links: Arc<LinkKey>,
    metrics: Metrics,
    wake: Arc<Notify>,
}

/// What became of one send.
enum Outcome {
    Sent,
    Retry(String),
    Failed(String),
}

impl Mailer {
    pub fn new(
        config: &MailConfig,
        db: Db,
        links: Arc<LinkKey>,
        metrics: Metrics,
        wake: Arc<Notify>,
    ) -> Result<Self, String> {
        let smtp = &config.smtp;
        let tls = || TlsParameters::new(smtp.host.clone()).map_err(|e| format!("WARRANT_SMTP_URL: TLS: {e}"));
        let (tls, default_port) = match smtp.tls {
            SmtpTls::Opportunistic => (Tls::Opportunistic(tls()?), 25),
            SmtpTls::Required => (Tls::Required(tls()?), 587),
            SmtpTls::Implicit => (Tls::Wrapper(tls()?), 465),
        };
        let mut builder = SmtpTransport::builder_dangerous(&smtp.host)
            .port(smtp.port.unwrap_or(default_port))
            .tls(tls)
            .timeout(Some(SMTP_TIMEOUT));
        if let Some((user, password)) = &smtp.credentials {
            builder = builder.credentials(Credentials::new(user.clone(), password.expose().to_string()));
        }
        let from = config.from.parse().map_err(|e| format!("WARRANT_MAIL_FROM: {e}"))?;
        Ok(Self {
            db,
            transport: builder.build(),
            from,
            link_url: config.link_url.clone(),
            links,
            metrics,
            wake,
        })
    }

    /// Sends due mails until the process ends.
    pub async fn run(self) {
        loop {
            if let Err(e) = self.send_due().await {
                tracing::warn!(error = %e, "mail sender: the outbox cannot be read; retrying");
            }
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(POLL) => {}
            }
        }
    }

    /// Claims and sends what is due, batch by batch.
    pub async fn send_due(&self) -> Result<(), DbError> {
        loop {
            let claimed = self.db.write(|conn| outbox::claim_due(conn, LEASE, BATCH)).await?;
            if claimed.is_empty() {
                break;
            }
            for mail in claimed {
                self.deliver(mail).await?;
            }
        }
        self.metrics.mail_queued.set(self.db.read(outbox::queued).await?);
        Ok(())
    }

    async fn deliver(&self, mail: Claimed) -> Result<(), DbError> {
        let outcome = if mail.expires_at <= db::now() {
            Outcome::Failed("its link expired before it could be sent".into())
        } else {
            match self.message(&mail) {
                Ok(message) => self.send(message).await,
                Err(e) => Outcome::Failed(format!("cannot be written: {e}")),
            }
        };
        let id = mail.id;
        match outcome {
            Outcome::Sent => {
                self.db.write(move |conn| outbox::mark_sent(conn, id)).await?;
                self.metrics.mail_sent.inc();
                tracing::info!(mail_id = id, purpose = mail.purpose.as_str(), "mail sent");
            }
            Outcome::Retry(error) => {
                let backoff = (1i64 << (mail.attempts - 1).clamp(0, 6)).min(MAX_BACKOFF_SECS);
                let due = db::now() + TimeDelta::seconds(backoff);
                self.metrics.mail_failed.with_label_values(&["transient"]).inc();
                tracing::warn!(mail_id = id, attempts = mail.attempts, retry_in_secs = backoff, error = %error,
                    "mail not sent; retrying");
                self.db.write(move |conn| outbox::retry_at(conn, id, due, &error)).await?;
            }
            Outcome::Failed(error) => {
                self.metrics.mail_failed.with_label_values(&["permanent"]).inc();
                tracing::warn!(mail_id = id, attempts = mail.attempts, error = %error, "mail refused; not retried");
                self.db.write(move |conn| outbox::mark_failed(conn, id, &error)).await?;
            }
        }
        Ok(())
    }

    async fn send(&self, message: Message) -> Outcome {
        let transport = self.transport.clone();
        let span = tracing::Span::current();
        let sent = tokio::task::spawn_blocking(move || span.in_scope(|| transport.send(&message))).await;
        match sent {
            Ok(Ok(_)) => Outcome::Sent,
            Ok(Err(e)) if e.is_permanent() => Outcome::Failed(e.to_string()),
            // A server down, a timeout, a 4xx: all worth another try.
            Ok(Err(e)) => Outcome::Retry(e.to_string()),
            Err(e) => Outcome::Retry(format!("the sending thread failed: {e}")),
        }
    }

    /// The mail, written from its link (whose token is derived here, never
    /// stored) and what the request said of its sender.
    fn message(&self, mail: &Claimed) -> Result<Message, String> {
        let token = self.links.token_of(&mail.link_id);
        let separator = if self.link_url.contains('?') { '&' } else { '?' };
        let link = format!("{}{separator}action={}&token={token}", self.link_url, mail.purpose.as_str());
        let text = super::mail_text::Text {
            purpose: mail.purpose,
            link: &link,
            expires_at: mail.expires_at,
            network: mail.network.as_deref(),
            user_agent: mail.user_agent.as_deref(),
        };
        let to: Mailbox = mail.recipient.parse().map_err(|e| format!("recipient: {e}"))?;
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(match mail.purpose {
                LinkPurpose::VerifyEmail => "Verify your email address",
                LinkPurpose::ResetPassword => "Reset your password",
            })
            .multipart(
                MultiPart::alternative()
                    .singlepart(SinglePart::builder().header(ContentType::TEXT_PLAIN).body(text.plain()))
                    .singlepart(SinglePart::builder().header(ContentType::TEXT_HTML).body(text.html())),
            )
            .map_err(|e| e.to_string())
    }
}
