DROP TABLE webauthn_ceremonies;
DROP TABLE passkeys;
DROP TABLE passkey_users;
