//! Table definitions, in the subset of types both backends share.
diesel::table! {
    users (id) {
        id -> BigInt,
        username -> Text,
        password_hash -> Text,
        role -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    posts (id) {
        id -> BigInt,
        user_id -> BigInt,
        content -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        user_id -> BigInt,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        idle_expires_at -> Timestamp,
        ended_at -> Nullable<Timestamp>,
        last_used_at -> Nullable<Timestamp>,
        user_agent -> Nullable<Text>,
        client_ip -> Nullable<Text>,
        amr -> Text,
    }
}

diesel::table! {
    refresh_tokens (token_hash) {
        token_hash -> Text,
        session_id -> Text,
        created_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
        successor_hash -> Nullable<Text>,
    }
}

diesel::table! {
    service_secrets (name) {
        name -> Text,
        value -> Text,
    }
}

diesel::table! {
    revoked_sessions (id) {
        id -> BigInt,
        session_id -> Text,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    signing_keys (kid) {
        kid -> Text,
        private_key_pem -> Text,
        created_at -> Timestamp,
        signs_from -> Timestamp,
    }
}

diesel::table! {
    rate_limits (client) {
        client -> Text,
        tat -> BigInt,
    }
}

diesel::table! {
    totp_factors (user_id) {
        user_id -> BigInt,
        sealed_secret -> Text,
        created_at -> Timestamp,
        confirmed_at -> Nullable<Timestamp>,
        last_step -> BigInt,
    }
}

diesel::table! {
    recovery_codes (user_id, code_hash) {
        user_id -> BigInt,
        code_hash -> Text,
    }
}

diesel::table! {
    mfa_challenges (token_hash) {
        token_hash -> Text,
        user_id -> BigInt,
        password_tag -> Text,
        expires_at -> Timestamp,
        attempts -> Integer,
    }
}

diesel::table! {
    guess_budgets (kind, subject) {
        kind -> Text,
        subject -> Text,
        window_start -> Timestamp,
        window_secs -> Integer,
        failures -> Integer,
    }
}

diesel::table! {
    login_networks (user_id, network) {
        user_id -> BigInt,
        network -> Text,
        last_login_at -> Timestamp,
    }
}

diesel::table! {
    user_emails (user_id) {
        user_id -> BigInt,
        address -> Nullable<Text>,
        address_key -> Nullable<Text>,
        verified -> Bool,
        pending -> Nullable<Text>,
    }
}

diesel::table! {
    email_links (id) {
        id -> Text,
        token_hash -> Text,
        user_id -> BigInt,
        purpose -> Text,
        address -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    mail_outbox (id) {
        id -> BigInt,
        link_id -> Text,
        recipient -> Text,
        network -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        created_at -> Timestamp,
        due_at -> Timestamp,
        lease_until -> Nullable<Timestamp>,
        attempts -> Integer,
        sent_at -> Nullable<Timestamp>,
        failed_at -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
    }
}

diesel::table! {
    passkey_users (user_id) {
        user_id -> BigInt,
        handle -> Text,
    }
}

diesel::table! {
    passkeys (id) {
        id -> BigInt,
        user_id -> BigInt,
        credential_id -> Text,
        name -> Text,
        credential -> Text,
        created_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    webauthn_ceremonies (id) {
        id -> Text,
        kind -> Text,
        user_id -> Nullable<BigInt>,
        state -> Text,
        expires_at -> Timestamp,
    }
}

diesel::joinable!(posts -> users (user_id));
diesel::joinable!(mail_outbox -> email_links (link_id));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(refresh_tokens -> sessions (session_id));
diesel::allow_tables_to_appear_in_same_query!(
    users,
    posts,
    sessions,
    refresh_tokens,
    revoked_sessions,
    signing_keys,
    rate_limits,
    service_secrets,
    totp_factors,
    recovery_codes,
    mfa_challenges,
    guess_budgets,
    login_networks,
    user_emails,
    email_links,
    mail_outbox,
    passkey_users,
    passkeys,
    webauthn_ceremonies
);

diesel::define_sql_function! {
    /// SQL `lower()`, for the case-insensitive username index.
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
}
