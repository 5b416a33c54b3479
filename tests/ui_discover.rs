//! The TUI's found-connections dialog (`i` on the list) through the pure
//! `update` and a drawing at 80×24: checkboxes, check all, Enter imports
//! only the checked new ones, Esc imports nothing.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use varlor::app::action::Action;
use varlor::app::discover::DiscoverRow;
use varlor::app::effect::Effect;
use varlor::app::state::{Layer, State};
use varlor::app::update::update;

fn key(code: KeyCode) -> Action {
    Action::Key(KeyEvent::new(code, KeyModifiers::NONE))
}
fn ch(c: char) -> Action {
    key(KeyCode::Char(c))
}

fn row(name: &str, origin: &str, already: Option<&str>) -> DiscoverRow {
    DiscoverRow {
        name: name.into(),
        engine: "PostgreSQL",
        summary: format!("app@{name}:5432/shop"),
        origin: origin.into(),
        password: true,
        already: already.map(str::to_string),
        checked: already.is_none(),
    }
}

fn found(s: &mut State) {
    let rows = vec![
        row("prod", "~/.pg_service.conf [prod] line 1", None),
        row("db/shop", "~/.pgpass line 2", None),
        row("old", "$DATABASE_URL", Some("legacy")),
    ];
    let e = update(
        s,
        Action::Discovered(Ok((rows, vec!["~/.pgpass:4: expected …".into()]))),
    );
    assert!(e.is_empty());
}

fn render(s: &State) -> String {
    let mut t = Terminal::new(TestBackend::new(80, 24)).unwrap();
    t.draw(|f| varlor::ui::draw(f, s)).unwrap();
    let buf = t.backend().buffer();
    let mut out = String::new();
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            out.push_str(buf[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

fn origins(e: &[Effect]) -> Vec<String> {
    match e {
        [Effect::ImportFound { origins }] => origins.clone(),
        other => panic!("expected one ImportFound, got {other:?}"),
    }
}

#[test]
fn i_finds_and_enter_imports_the_checked_ones() {
    let mut s = State::new("default");
    let e = update(&mut s, ch('i'));
    assert!(matches!(e.as_slice(), [Effect::Discover]), "{e:?}");
    assert_eq!(s.layer(), Layer::Discover);
    found(&mut s);
    let screen = render(&s);
    assert!(screen.contains("Found 3 connection(s)"), "{screen}");
    assert!(screen.contains("[x] prod"), "{screen}");
    assert!(screen.contains("[=] old"), "{screen}");
    assert!(
        screen.contains("from ~/.pg_service.conf [prod] line 1"),
        "{screen}"
    );
    assert!(
        screen.contains("~/.pgpass:4"),
        "problems are shown: {screen}"
    );

    // Uncheck the first: only the second is imported; the saved one never.
    update(&mut s, ch(' '));
    let e = update(&mut s, key(KeyCode::Enter));
    assert_eq!(origins(&e), vec!["~/.pgpass line 2".to_string()]);
    let e = update(&mut s, Action::FoundImported(Ok(vec!["db/shop".into()])));
    assert!(s.discover.is_none(), "closed after the import");
    assert!(
        matches!(e.as_slice(), [Effect::LoadConnections { select: Some(n) }] if n == "db/shop"),
        "{e:?}"
    );
}

#[test]
fn a_toggles_all_and_the_already_saved_stay_out() {
    let mut s = State::new("default");
    update(&mut s, ch('i'));
    found(&mut s);
    update(&mut s, ch('a')); // all were checked: none now
    let e = update(&mut s, key(KeyCode::Enter));
    assert!(e.is_empty(), "nothing checked, nothing imported");
    update(&mut s, ch('a'));
    update(&mut s, ch('j'));
    update(&mut s, ch('j'));
    update(&mut s, ch(' ')); // the saved one cannot be checked
    let e = update(&mut s, key(KeyCode::Enter));
    assert_eq!(origins(&e).len(), 2);
    // A failed import keeps the dialog, with the error.
    update(&mut s, Action::FoundImported(Err("no vault yet".into())));
    assert!(s.discover.as_ref().is_some_and(|d| !d.importing));
    assert!(s
        .status
        .as_ref()
        .is_some_and(|st| st.text.contains("no vault")));
}

#[test]
fn esc_closes_with_nothing_imported() {
    let mut s = State::new("default");
    update(&mut s, ch('i'));
    found(&mut s);
    let e = update(&mut s, key(KeyCode::Esc));
    assert!(e.is_empty());
    assert!(s.discover.is_none());
    assert_eq!(s.layer(), Layer::List);
}
