//! Who is calling, as far as the network can tell: the client's address,
//! and the credential routes' rate limit asked with it before a body is read.
use std::future::{ready, Future, Ready};
use std::net::IpAddr;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header::USER_AGENT;
use actix_web::{web, FromRequest, HttpRequest};

use super::ApiError;
use crate::domain::{user_agent_label, ClientDetails, ClientIp};
use crate::metrics::Metrics;
use crate::service::Limiter;

/// The client's address: the TCP peer, or — only when the operator declared
/// N trusted proxies in front (`WARRANT_TRUST_PROXY=true` for one, or N) —
/// the N-th `X-Forwarded-For` entry from the right: each trusted proxy
/// appended one, and entries further left are client-set. An IPv4 client
/// seen through a dual-stack socket (`::ffff:a.b.c.d`) is its IPv4 address.
pub fn client_ip(req: &HttpRequest) -> ClientIp {
    let hops = req.app_data::<web::Data<Limiter>>().map_or(0, |l| l.trusted_proxies);
    let forwarded = (hops > 0).then(|| forwarded_client(req, hops)).flatten();
    ClientIp(forwarded.or_else(|| req.peer_addr().map(|a| a.ip())).map(|ip| ip.to_canonical()))
}

/// What a new session records of its client: a label of its user agent,
/// and its network.
pub fn client_details(req: &HttpRequest, ip: ClientIp) -> ClientDetails {
    let user_agent = req.headers().get(USER_AGENT).and_then(|v| v.to_str().ok()).and_then(user_agent_label);
    ClientDetails { user_agent, network: ip.network() }
}

/// The `hops`-th `X-Forwarded-For` entry from the right, across every line
/// of the header (a proxy may add a line of its own instead of extending the
/// client's); the leftmost when there are fewer entries than proxies.
fn forwarded_client(req: &HttpRequest, hops: usize) -> Option<IpAddr> {
    let mut entries = Vec::new();
    for line in req.headers().get_all("x-forwarded-for") {
        entries.extend(line.to_str().ok()?.split(',').map(str::trim));
    }
    entries.get(entries.len().saturating_sub(hops))?.parse().ok()
}

impl FromRequest for ClientIp {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(client_ip(req)))
    }
}

/// A credential-route request that passed the rate limit; carries the IP
/// for audit logs.
#[derive(Debug, Clone, Copy)]
pub struct Throttled(pub ClientIp);

impl FromRequest for Throttled {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let ip = client_ip(req);
        let limiter = req.app_data::<web::Data<Limiter>>().cloned();
        let metrics = req.app_data::<web::Data<Metrics>>().cloned();
        let path = req.path().to_owned();
        Box::pin(async move {
            let (Some(limiter), Some(addr)) = (limiter, ip.0) else { return Ok(Self(ip)) };
            let verdict = limiter.admit(addr).await.map_err(ApiError::from);
            if let Err(ApiError::RateLimited { .. }) = verdict {
                if let Some(metrics) = metrics {
                    metrics.rate_limited.inc();
                }
                tracing::info!(target: crate::telemetry::AUDIT, event = "rate_limited", ip = %ip, path);
            }
            verdict.map(|()| Self(ip))
        })
    }
}
