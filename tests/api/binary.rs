//! The real `warrant` binary as a child process, for what only a process
//! shows: its log, its exit, signals, the file system it runs on.
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A child process killed when dropped, so a failing test leaves nothing behind.
pub struct Server(pub Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl std::ops::Deref for Server {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Server {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

/// The real binary serving, with its base URL, its `listening on` log line
/// and the rest of its log.
pub struct Running {
    pub server: Server,
    pub base: String,
    pub listening: String,
    pub stderr: std::process::ChildStderr,
}

/// Starts `command` (the binary serving, perhaps behind a wrapper) on a
/// free port and waits for its `listening on` line.
pub fn serve(mut command: Command) -> Running {
    let mut child =
        command.env("WARRANT_BIND", "127.0.0.1:0").stderr(Stdio::piped()).spawn().expect("warrant starts");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    let base = loop {
        line.clear();
        assert!(stderr.read_line(&mut line).expect("log line") > 0, "exited before listening");
        if let Some(at) = line.find("listening on http://") {
            let rest = &line[at + "listening on ".len()..];
            break rest.split(|c: char| c.is_whitespace() || c == '"').next().unwrap().to_string();
        }
    };
    Running { server: Server(child), base, listening: line, stderr: stderr.into_inner() }
}

#[test]
fn the_command_line_names_its_database_and_creates_none_but_with_migrate() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_warrant"))
            .args(args)
            .current_dir(dir.path())
            .env_clear()
            .env("WARRANT_LOG", "off")
            .env("WARRANT_ADMIN_PASSWORD", "correct horse battery")
            .output()
            .unwrap()
    };
    let out = run(&["create-admin", "root"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("there is no database at ./warrant.db"));
    assert!(!dir.path().join("warrant.db").exists(), "nothing created");
    assert!(run(&["migrate"]).status.success());
    let out = run(&["create-admin", "root"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("database sqlite://./warrant.db"));
}

#[test]
fn a_server_that_cannot_start_says_why_and_leaves_no_database_behind() {
    let dir = tempfile::tempdir().unwrap();
    let serve = |envs: &[(&str, &str)]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_warrant"))
            .arg("serve")
            .current_dir(dir.path())
            .env_clear()
            .env("WARRANT_BIND", "127.0.0.1:0")
            .envs(envs.iter().copied())
            .output()
            .unwrap()
    };
    let out = serve(&[("WARRANT_JWT_KEY_FILE", "missing.pem")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("WARRANT_JWT_KEY_FILE: missing.pem"), "{stderr}");
    assert!(!dir.path().join("warrant.db").exists(), "a wrong key path creates no database");

    std::fs::create_dir(dir.path().join("data")).unwrap();
    let out = serve(&[("DATABASE_URL", "data")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("data is a directory; name the SQLite file in it"), "{stderr}");
    assert!(!stderr.contains("chmod"), "{stderr}");
}
