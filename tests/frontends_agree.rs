//! The CLI and the TUI store the same connection from the same input: both
//! save through `Profile`, which makes a SQLite path and a CA file absolute
//! and checks the CA file exists. (One test in this binary: it changes the
//! process's working directory to make the paths relative.)

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use varlor::app::action::Action;
use varlor::app::effect::Effect;
use varlor::app::state::{FieldId, State};
use varlor::app::update::{set_connections, update};
use varlor::connectors::{ConnSpec, Field};
use varlor::profile::Profile;
use varlor::store::{NewConnection, Paths};

fn key(code: KeyCode) -> Action {
    Action::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn ctrl(c: char) -> Action {
    Action::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
}

fn typed(s: &mut State, text: &str) {
    for c in text.chars() {
        update(s, key(KeyCode::Char(c)));
    }
}

fn focus(s: &mut State, id: FieldId) {
    for _ in 0..30 {
        if s.form.as_ref().unwrap().focused_field() == Some(id) {
            return;
        }
        update(s, key(KeyCode::Tab));
    }
    panic!("no field {id:?}");
}

/// What the TUI's Save hands to the profile for a new connection typed into
/// the form of `kind_letter` with `fields`.
fn tui_save(kind_letter: char, name: &str, fields: &[(Field, &str)]) -> NewConnection {
    let mut s = State::new("default");
    set_connections(&mut s, vec![], None);
    update(&mut s, key(KeyCode::Char('n')));
    update(&mut s, key(KeyCode::Char(kind_letter)));
    if kind_letter == 's' {
        // s cycles SQL Server, then SQLite.
        update(&mut s, key(KeyCode::Char('s')));
    }
    update(&mut s, key(KeyCode::Enter));
    typed(&mut s, name);
    for (f, text) in fields {
        focus(&mut s, FieldId::Conn(*f));
        for _ in 0..40 {
            update(&mut s, key(KeyCode::Backspace));
        }
        typed(&mut s, text);
    }
    match update(&mut s, ctrl('s')).pop() {
        Some(Effect::Save { new, .. }) => new,
        other => panic!("no save: {other:?}"),
    }
}

fn stored(home: &std::path::Path, name: &str) -> ConnSpec {
    let p = Profile::open_at(Paths::under(home, "default")).unwrap();
    p.get(name).unwrap().spec
}

#[test]
fn cli_and_tui_store_the_same_connection() {
    let work = tempfile::tempdir().unwrap();
    std::fs::create_dir(work.path().join("data")).unwrap();
    std::fs::write(work.path().join("data/app.sqlite"), b"").unwrap();
    std::fs::write(work.path().join("ca.pem"), b"-----BEGIN CERTIFICATE-----\n").unwrap();
    std::env::set_current_dir(work.path()).unwrap();
    let (tui_home, cli_home) = (work.path().join("tui"), work.path().join("cli"));

    let cli = |args: &[&str]| {
        let o = assert_cmd::Command::new(env!("CARGO_BIN_EXE_varlor"))
            .args(args)
            .current_dir(work.path())
            .env("VARLOR_HOME", &cli_home)
            .env("NO_COLOR", "1")
            .env_remove("VARLOR_PASSPHRASE_FILE")
            .write_stdin("")
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };

    // SQLite with a relative path.
    cli(&[
        "add",
        "lite",
        "--kind",
        "sqlite",
        "--database",
        "data/app.sqlite",
    ]);
    let new = tui_save('s', "lite", &[(Field::Path, "data/app.sqlite")]);
    let mut p = Profile::open_at(Paths::under(&tui_home, "default")).unwrap();
    p.add(new, None).unwrap();
    drop(p);
    let (t, c) = (stored(&tui_home, "lite"), stored(&cli_home, "lite"));
    assert_eq!(t, c);
    assert_eq!(
        t.database,
        work.path().join("data/app.sqlite").display().to_string()
    );

    // PostgreSQL with a relative CA file.
    cli(&[
        "add",
        "pg",
        "--kind",
        "postgres",
        "--host",
        "db.example",
        "--user",
        "bob",
        "--database",
        "shop",
        "--tls",
        "verify-full",
        "--ca-file",
        "ca.pem",
        "--no-password",
    ]);
    let mut new = tui_save(
        'p',
        "pg",
        &[
            (Field::Host, "db.example"),
            (Field::Database, "shop"),
            (Field::User, "bob"),
            (Field::CaFile, "ca.pem"),
        ],
    );
    // The TLS selector: the CLI flag's equivalent.
    new.spec.tls = varlor::connectors::TlsMode::VerifyFull;
    let mut p = Profile::open_at(Paths::under(&tui_home, "default")).unwrap();
    p.add(new, None).unwrap();
    drop(p);
    let (t, c) = (stored(&tui_home, "pg"), stored(&cli_home, "pg"));
    assert_eq!(t, c);
    assert_eq!(t.ca_file, Some(work.path().join("ca.pem")));

    // A CA file that does not exist is refused by both, naming the field.
    let mut new = tui_save(
        'p',
        "bad",
        &[(Field::User, "bob"), (Field::CaFile, "nope.pem")],
    );
    new.spec.tls = varlor::connectors::TlsMode::VerifyFull;
    let mut p = Profile::open_at(Paths::under(&tui_home, "default")).unwrap();
    let e = p.add(new, None).unwrap_err().to_string();
    assert!(e.starts_with("ca_file:"), "{e}");
}
