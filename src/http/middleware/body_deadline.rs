//! A deadline for request bodies. actix-http times out a request's head
//! (5 s) but not its body: a client could send the headers of a 64 KiB
//! POST and then one byte a minute, holding a connection and a request
//! forever. Bodies must arrive whole within `WARRANT_BODY_TIMEOUT`; past it
//! the read fails and the request is answered 400 and its connection closed.
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use actix_web::HttpMessage;
use futures_core::Stream;
use tokio::time::{sleep, Sleep};

/// Puts `timeout` on the body of every request that has one.
pub async fn body_deadline(
    timeout: Duration,
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let headers = req.headers();
    let has_body = headers.contains_key(TRANSFER_ENCODING)
        || headers.get(CONTENT_LENGTH).is_some_and(|length| length.as_bytes() != b"0");
    if has_body {
        let body = req.take_payload();
        let deadline = Deadline { body, timer: Box::pin(sleep(timeout)), timeout };
        req.set_payload(Payload::Stream { payload: Box::pin(deadline) });
    }
    next.call(req).await
}

/// A body stream that fails once its timer fires.
struct Deadline {
    body: Payload,
    timer: Pin<Box<Sleep>>,
    timeout: Duration,
}

impl Stream for Deadline {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Poll::Ready(item) = Pin::new(&mut self.body).poll_next(cx) {
            return Poll::Ready(item);
        }
        match self.timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("the body did not arrive within {} s", self.timeout.as_secs()),
            ))))),
            Poll::Pending => Poll::Pending,
        }
    }
}
