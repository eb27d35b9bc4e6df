//! The domain's parsers, on any text: usernames, passwords, post content,
//! session ids from paths, the proxy list, user-agent labels.
#![no_main]
use libfuzzer_sys::fuzz_target;
use warrant::domain::{
    user_agent_label, GuessSubject, Password, PostContent, SessionId, TrustedProxies, Username,
};

fuzz_target!(|raw: &str| {
    if let Ok(name) = Username::parse(raw) {
        assert_eq!(Username::parse(&name.key()).map(|n| n.key()), Ok(name.key()));
    }
    let _ = Password::parse(raw.to_owned());
    if let Ok(content) = PostContent::parse(raw.to_owned()) {
        assert_eq!(content.as_str(), raw, "stored exactly as sent");
    }
    if let Some(id) = SessionId::parse(raw) {
        assert_eq!(id.as_str(), raw);
    }
    if let Ok(TrustedProxies::Networks(nets)) = TrustedProxies::parse(raw, 10) {
        assert!(!nets.is_empty());
    }
    if let Some(label) = user_agent_label(raw) {
        assert!(!label.is_empty() && label.len() <= 48 || label.contains(" on "));
    }
    assert!(GuessSubject::password_of(raw).key().len() <= 65);
});
