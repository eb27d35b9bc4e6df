//! The use cases driven directly, over a real SQLite database and no
//! server: the rules that span the database and memory, proven without
//! HTTP. The black-box suite (`tests/api`) then proves the edge.
use crate::config::Config;
use crate::db::Db;
use crate::domain::{ClientDetails, ClientIp, Password, Role, UserId, Username};
use crate::startup::Services;

use super::{Login, ServiceError, TokenPair};

const PASSWORD: &str = "correct horse battery";

/// One instance's services over a fresh, migrated SQLite database, built as
/// the server builds them.
fn instance() -> (tempfile::TempDir, Services) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = dir.path().join("warrant.db").to_string_lossy().into_owned();
    let config = Config::from_lookup(|name| (name == "DATABASE_URL").then(|| url.clone())).expect("config");
    let db = Db::connect(&config.database_url, 2, config.db_timeout).expect("SQLite opens");
    db.migrate().expect("migrations apply");
    (dir, Services::build(&config, &db).expect("services build"))
}

fn ip() -> ClientIp {
    ClientIp(Some("127.0.0.1".parse().expect("an address")))
}

async fn sign_up(services: &Services, name: &str) -> TokenPair {
    let username = Username::parse(name).expect("a valid name");
    let password = Password::parse(PASSWORD.into()).expect("a valid password");
    services
        .accounts
        .sign_up(username, password, None, ip(), ClientDetails::default())
        .await
        .expect("signed up")
}

async fn log_in(services: &Services, name: &str) -> Result<Login, ServiceError> {
    services.accounts.log_in(name, PASSWORD.into(), ip(), ClientDetails::default()).await
}

fn started(login: Login) -> TokenPair {
    match login {
        Login::Started(pair) => pair,
        Login::SecondFactorDue { .. } => panic!("a session, not a second factor"),
    }
}

#[actix_web::test]
async fn a_session_ended_by_a_write_is_refused_here_at_once_and_the_others_live_on() {
    let (_dir, services) = instance();
    let first = sign_up(&services, "alice").await;
    let second = started(log_in(&services, "alice").await.unwrap());
    let user = first.user.id;
    let ended_here = |pair: &TokenPair| services.revocations.is_revoked(pair.session.as_str());
    assert!(!ended_here(&first));
    services.sessions.end_for(user, first.session.clone(), false, ip()).await.expect("ended");
    // No sync ran (none does here): the write's Tx told the mirror.
    assert!(ended_here(&first), "the ended session is refused at once");
    assert!(!ended_here(&second), "the other session lives on");
}

#[actix_web::test]
async fn a_reused_refresh_token_ends_its_session_and_the_mirror_knows() {
    let (_dir, services) = instance();
    let pair = sign_up(&services, "alice").await;
    services.accounts.refresh(&pair.refresh_token, ip()).await.expect("rotated");
    // Past the grace window nothing is repeated: the default is 10 s, so
    // present a token two rotations old.
    let next = services.accounts.refresh(&pair.refresh_token, ip()).await.expect("repeated in grace");
    services.accounts.refresh(&next.refresh_token, ip()).await.expect("rotated again");
    let reused = services.accounts.refresh(&pair.refresh_token, ip()).await;
    assert!(matches!(reused, Err(ServiceError::InvalidRefreshToken)), "{:?}", reused.err());
    assert!(services.revocations.is_revoked(pair.session.as_str()), "its session ended, here at once");
}

#[actix_web::test]
async fn a_right_password_with_totp_on_is_a_login_outcome_and_a_wrong_code_a_credential() {
    let (_dir, services) = instance();
    let pair = sign_up(&services, "alice").await;
    let user = pair.user.id;
    let enrolment = services.accounts.enrol_totp(user, PASSWORD.into(), ip()).await.expect("enrolled");
    let totp = totp_rs::TOTP::from_url(&enrolment.otpauth_uri).expect("an authenticator reads it");
    let code = totp.generate_current().expect("a code");
    services.accounts.confirm_totp(user, pair.session, &code, ip()).await.expect("on");
    let Login::SecondFactorDue { mfa_token } = log_in(&services, "alice").await.expect("a right password")
    else {
        panic!("TOTP is on: the login waits for a code");
    };
    let wrong =
        services.accounts.log_in_with_code(&mfa_token, "000000", ip(), ClientDetails::default()).await;
    assert!(matches!(wrong, Err(ServiceError::LoginCodeRejected(_))), "{:?}", wrong.err());
}

#[actix_web::test]
async fn the_last_admin_can_neither_leave_nor_be_demoted_and_nothing_is_stored() {
    let (_dir, services) = instance();
    let pair = sign_up(&services, "root").await;
    let root = pair.user.id;
    let name = Username::parse("root").unwrap();
    let promoted = services.admin.create_or_promote(&name, None).expect("promoted").expect("exists");
    assert_eq!(promoted.0.role, Role::Admin);
    let actor = crate::domain::Actor { user_id: root, role: Role::Admin };
    let demoted = services.admin.set_role(actor, root, Role::User).await;
    assert!(matches!(demoted, Err(ServiceError::LastAdmin)), "{:?}", demoted.err());
    let left = services.accounts.delete_me(root, PASSWORD.into(), ip()).await;
    assert!(matches!(left, Err(ServiceError::LastAdmin)), "{left:?}");
    assert_eq!(services.accounts.me(root).await.expect("still there").role, Role::Admin);
    let nobody = services.admin.set_role(actor, UserId(root.0 + 1), Role::User).await;
    assert!(matches!(nobody, Err(ServiceError::NotFound(_))), "{:?}", nobody.err());
}
