//! Benchmark seeder: creates a fresh database with USERS users (user1…,
//! all with the same password) and POSTS posts spread over them, in a few
//! set-based statements, then times one argon2 verify.
//!
//! `cargo run --release --example seed -- DATABASE_URL USERS POSTS`
//! A PostgreSQL URL names the database to (re)create on that server.
use std::time::Instant;

use diesel::connection::SimpleConnection;
use diesel::RunQueryDsl;
use warrant::db::{establish_pg, DatabaseUrl, Db};
use warrant::domain::Password;

pub const BENCH_PASSWORD: &str = "bench password 1";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, users, posts] = args.as_slice() else {
        return Err("usage: seed DATABASE_URL USERS POSTS".into());
    };
    let (users, posts): (u64, u64) = (users.parse()?, posts.parse()?);
    let url = DatabaseUrl::parse(url)?;
    match &url {
        DatabaseUrl::Sqlite(path) => {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{path}{suffix}"));
            }
        }
        DatabaseUrl::Postgres(full, _) => {
            let (base, params) = full
                .split_once('?')
                .map_or((full.as_str(), String::new()), |(base, params)| (base, format!("?{params}")));
            let (server, name) = base.rsplit_once('/').ok_or("postgres URL without a database")?;
            let mut conn = establish_pg(&format!("{server}/postgres{params}"))?;
            diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn)?;
            diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut conn)?;
        }
    }
    let db = Db::connect(&url, 1, std::time::Duration::from_secs(600))?;
    db.migrate()?;
    let hash = warrant::auth::hash_password(&Password::parse(BENCH_PASSWORD.into())?)?;
    let started = Instant::now();
    // Set-based inserts: a recursive counter works on both backends.
    db.write_blocking(|conn| {
        conn.batch_execute(&format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {users})
             INSERT INTO users (username, password_hash, role, created_at)
             SELECT 'user' || i, '{hash}', 'user', CURRENT_TIMESTAMP FROM n;
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {posts})
             INSERT INTO posts (user_id, content, created_at, updated_at)
             SELECT (i % {users}) + 1, 'post number ' || i || ' with some text to look like a real one',
                    CURRENT_TIMESTAMP, CURRENT_TIMESTAMP FROM n;"
        ))?;
        if let warrant::db::DbConn::Pg(_) = conn {
            conn.batch_execute("ANALYZE")?;
        }
        Ok(())
    })?;
    eprintln!("seeded {users} users and {posts} posts in {:.1} s", started.elapsed().as_secs_f64());

    // The hashing ceiling: how long one verify takes on one core.
    let rounds = 20;
    let started = Instant::now();
    for _ in 0..rounds {
        argon2::PasswordVerifier::<str>::verify_password(
            &argon2::Argon2::default(),
            BENCH_PASSWORD.as_bytes(),
            &hash,
        )
        .map_err(|e| e.to_string())?;
    }
    println!("verify_ms={:.2}", started.elapsed().as_secs_f64() * 1000.0 / rounds as f64);
    Ok(())
}
