//! Who is calling, as far as the network can tell: the client's address,
//! and the credential routes' rate limit asked with it before a body is read.
use std::future::{ready, Future, Ready};
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header::USER_AGENT;
use actix_web::{web, FromRequest, HttpRequest};

use super::ApiError;
use crate::domain::{user_agent_label, ClientDetails, ClientIp, TrustedProxies};
use crate::metrics::Metrics;
use crate::service::{Limiter, ServiceError};

/// The client's address: the TCP peer, or — only when the operator declared
/// the proxies in front (`WARRANT_TRUST_PROXY`) — the address they recorded
/// in `X-Forwarded-For` (see [`TrustedProxies::client`]). An IPv4 client
/// seen through a dual-stack socket (`::ffff:a.b.c.d`) is its IPv4 address.
pub fn client_ip(req: &HttpRequest) -> ClientIp {
    let Some(peer) = req.peer_addr().map(|a| a.ip()) else { return ClientIp(None) };
    let proxies = req.app_data::<web::Data<Limiter>>().map(|l| &l.trusted_proxies);
    let Some(proxies) = proxies.filter(|p| **p != TrustedProxies::None) else {
        return ClientIp(Some(peer.to_canonical()));
    };
    ClientIp(Some(proxies.client(peer, &forwarded_entries(req))))
}

/// What a new session records of its client: a label of its user agent,
/// and its network.
pub fn client_details(req: &HttpRequest, ip: ClientIp) -> ClientDetails {
    let user_agent = req.headers().get(USER_AGENT).and_then(|v| v.to_str().ok()).and_then(user_agent_label);
    ClientDetails { user_agent, network: ip.network() }
}

/// Every `X-Forwarded-For` entry, left to right, across every line of the
/// header (a proxy may add a line of its own instead of extending the
/// client's); none when a line is not text.
fn forwarded_entries(req: &HttpRequest) -> Vec<&str> {
    let mut entries = Vec::new();
    for line in req.headers().get_all("x-forwarded-for") {
        let Ok(line) = line.to_str() else { return Vec::new() };
        entries.extend(line.split(',').map(str::trim));
    }
    entries
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
            if let Err(ApiError::Service(ServiceError::RateLimited { .. })) = verdict {
                if let Some(metrics) = metrics {
                    metrics.rate_limited.inc();
                }
                tracing::info!(target: crate::telemetry::AUDIT, event = "rate_limited", ip = %ip, path);
            }
            verdict.map(|()| Self(ip))
        })
    }
}
