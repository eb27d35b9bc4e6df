//! Unit tests of `config`.
use super::*;

fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Config::from_lookup(move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
}

#[test]
fn defaults_need_no_configuration() {
    let c = config(&[]).unwrap();
    assert_eq!(c.bind, "127.0.0.1:8080");
    assert_eq!(c.access_ttl_secs, 900);
    assert_eq!(c.refresh_ttl_secs, 1_209_600);
    assert_eq!(c.issuer, "warrant");
    assert_eq!(c.rate_limit_per_min, 30);
    assert_eq!(c.max_sessions_per_user, 100);
    assert_eq!(c.body_timeout, Duration::from_secs(30));
    assert_eq!(c.key_rotation, Some(TimeDelta::days(90)));
    assert_eq!(config(&[("WARRANT_KEY_ROTATION_DAYS", "0")]).unwrap().key_rotation, None);
    assert!(matches!(c.jwt, JwtConfig::EdDsa { key_files: None }));
    assert!(matches!(c.database_url, DatabaseUrl::Sqlite(ref p) if p == "./warrant.db"));
}

#[test]
fn the_pool_defaults_to_the_cores_on_sqlite_and_eight_on_postgres() {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    assert_eq!(config(&[]).unwrap().db_pool_size as usize, cores.max(2));
    let pg = config(&[("DATABASE_URL", "postgres://u@h/db")]).unwrap();
    assert_eq!(pg.db_pool_size, 8);
    let set = config(&[("WARRANT_DB_POOL_SIZE", "3")]).unwrap();
    assert_eq!(set.db_pool_size, 3);
}

#[test]
fn a_bad_value_names_its_variable() {
    for (var, value) in [
        ("WARRANT_ACCESS_TTL", "15m"),
        ("WARRANT_ACCESS_TTL", "0"),
        ("WARRANT_REFRESH_TTL", "-1"),
        ("WARRANT_RATE_LIMIT_PER_MIN", "many"),
        ("WARRANT_MAX_SESSIONS", "0"),
        ("WARRANT_KEY_ROTATION_DAYS", "-1"),
        ("WARRANT_BODY_TIMEOUT", "0"),
        ("WARRANT_JWT_ALG", "none"),
        ("WARRANT_JWT_ALG", "RS256"),
        ("WARRANT_BIND", "8080"),
        ("WARRANT_LOG_FORMAT", "xml"),
        ("WARRANT_CORS_ORIGINS", "*"),
        ("WARRANT_CORS_ORIGINS", ""),
        ("WARRANT_CORS_ORIGINS", " , "),
        ("DATABASE_URL", "mysql://localhost/x"),
        ("WARRANT_ISSUER", ""),
    ] {
        let err = config(&[(var, value)]).unwrap_err();
        assert_eq!(err.var, var, "{var}={value}");
        assert!(err.to_string().starts_with(var));
    }
}

#[test]
fn hs256_needs_a_long_secret() {
    let err = config(&[("WARRANT_JWT_ALG", "HS256")]).unwrap_err();
    assert_eq!(err.var, "WARRANT_JWT_SECRET");
    let err = config(&[("WARRANT_JWT_ALG", "HS256"), ("WARRANT_JWT_SECRET", "short")]).unwrap_err();
    assert_eq!(err.var, "WARRANT_JWT_SECRET");
    let ok = config(&[("WARRANT_JWT_ALG", "HS256"), ("WARRANT_JWT_SECRET", &"k".repeat(32))]).unwrap();
    assert!(matches!(ok.jwt, JwtConfig::Hs256 { .. }));
    assert!(!format!("{ok:?}").contains("kkkk"), "secrets never Debug-print");
}

#[test]
fn trusted_proxies_are_counted_or_listed() {
    use crate::domain::TrustedProxies::{Hops, Networks, None};
    for (value, hops) in [("false", None), ("true", Hops(1)), ("2", Hops(2)), ("0", None)] {
        assert_eq!(config(&[("WARRANT_TRUST_PROXY", value)]).unwrap().trusted_proxies, hops, "{value}");
    }
    assert_eq!(config(&[]).unwrap().trusted_proxies, None);
    let listed = config(&[("WARRANT_TRUST_PROXY", "10.0.0.0/8,192.0.2.7")]).unwrap().trusted_proxies;
    assert!(matches!(listed, Networks(nets) if nets.len() == 2));
    for bad in ["yes", "11", "-1", "10.0.0.0/33"] {
        assert_eq!(config(&[("WARRANT_TRUST_PROXY", bad)]).unwrap_err().var, "WARRANT_TRUST_PROXY");
    }
}

#[test]
fn an_issuer_with_surrounding_space_control_characters_or_over_255_characters_stops_startup() {
    for bad in [" https://id.example.com", "https://id.example.com ", "war\nrant", "", &"i".repeat(256)] {
        assert_eq!(config(&[("WARRANT_ISSUER", bad)]).unwrap_err().var, "WARRANT_ISSUER", "{bad:?}");
    }
    assert_eq!(config(&[("WARRANT_ISSUER", &"i".repeat(255))]).unwrap().issuer.len(), 255);
}

#[test]
fn port_zero_is_allowed() {
    assert_eq!(config(&[("WARRANT_BIND", "127.0.0.1:0")]).unwrap().bind, "127.0.0.1:0");
}

#[test]
fn an_mfa_key_is_optional_but_never_short() {
    assert!(config(&[]).unwrap().mfa_key.is_none());
    let err = config(&[("WARRANT_MFA_KEY", "short")]).unwrap_err();
    assert_eq!(err.var, "WARRANT_MFA_KEY");
    let key = "k".repeat(32);
    let set = config(&[("WARRANT_MFA_KEY", &key)]).unwrap();
    assert_eq!(set.mfa_key.map(|k| k.expose().to_string()), Some(key));
    assert!(!format!("{:?}", config(&[("WARRANT_MFA_KEY", &"s".repeat(40))]).unwrap()).contains("sssss"));
}
