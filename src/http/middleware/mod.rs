//! Middleware, outermost first as `startup` wraps it: each request's span
//! and request id, the body deadline, HEAD served as GET.
mod body_deadline;
mod span;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;

pub use body_deadline::body_deadline;
pub use span::{request_span, REQUEST_ID_HEADER};

/// HEAD is GET without the body (RFC 9110 §9.3.2): it is routed, checked and
/// answered as GET, and actix-http, which decoded the request as HEAD, sends
/// the headers only. Uptime monitors often probe with HEAD.
pub async fn head_as_get(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if req.method() == Method::HEAD {
        req.head_mut().method = Method::GET;
    }
    next.call(req).await
}
