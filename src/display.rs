//! The one boundary where text that came from outside (a database server, a
//! pasted URL, a file path) becomes text drawn on a terminal.
//!
//! Everything a server sends is hostile: a cell, a table or column name, a type
//! name or an error message can carry ESC sequences (set the window title,
//! clear the screen, leave the alternate screen), BEL, carriage returns that
//! overwrite a line, C1 controls (U+009B is a one-character CSI on some
//! terminals) and bidi overrides that reorder what a person reads.
//! [`display_text`] turns all of them into visible escapes, so the output holds
//! no character for which `char::is_control()` is true and no bidi or
//! invisible format character:
//!
//! | input | shown as |
//! |---|---|
//! | ESC (U+001B) | `␛` |
//! | TAB | `\t` |
//! | LF | `↵` |
//! | CR | `␍` |
//! | other C0 (U+0000–U+001F) | its control picture, U+2400 + code (`␀`, `␇`…) |
//! | DEL, C1 (U+007F–U+009F) | `\u{7f}`, `\u{9b}`… |
//! | bidi controls, line/paragraph separators, invisible format characters | `\u{202e}`… |
//!
//! Widths must be measured on the result (the escapes are wider than what
//! they replace). Clean text is returned borrowed, so calling it per preview
//! cell costs a scan and no allocation. [`display_lines`] is the same but keeps
//! LF as a real line break, for popups that show a whole value on several lines.
//!
//! Machine outputs (`--json`, CSV to a file or a pipe, imported datasets) keep
//! the exact bytes and never pass through here.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` must not reach a terminal as it is.
pub fn needs_escape(c: char) -> bool {
    c.is_control() || is_format(c)
}

/// Bidi controls, line/paragraph separators and other invisible format
/// characters (zero-width joiner and non-joiner are kept: emoji and several
/// scripts need them, and they cannot reorder or hide text).
fn is_format(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'                      // soft hyphen
            | '\u{061C}'                // Arabic letter mark
            | '\u{180E}'                // Mongolian vowel separator
            | '\u{200B}'                // zero-width space
            | '\u{200E}'..='\u{200F}'   // LRM, RLM
            | '\u{2028}'..='\u{2029}'   // line and paragraph separators
            | '\u{202A}'..='\u{202E}'   // LRE, RLE, PDF, LRO, RLO
            | '\u{2060}'..='\u{2064}'   // word joiner, invisible operators
            | '\u{2066}'..='\u{206F}'   // LRI, RLI, FSI, PDI, deprecated format chars
            | '\u{FEFF}'                // byte order mark / zero-width no-break space
            | '\u{FFF9}'..='\u{FFFB}'   // interlinear annotation
            | '\u{E0000}'..='\u{E007F}' // tag characters (invisible "ASCII smuggling")
    )
}

fn push_escape(out: &mut String, c: char) {
    match c {
        '\x1b' => out.push('␛'),
        '\t' => out.push_str("\\t"),
        '\n' => out.push('↵'),
        '\r' => out.push('␍'),
        '\0'..='\x1f' => out.push(char::from_u32(0x2400 + c as u32).unwrap_or('�')),
        _ => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
}

fn escape_with(s: &str, keep_newlines: bool) -> Cow<'_, str> {
    let clean = if s.is_ascii() {
        s.bytes()
            .all(|b| (b >= 0x20 && b != 0x7f) || (keep_newlines && b == b'\n'))
    } else {
        s.chars()
            .all(|c| !needs_escape(c) || (keep_newlines && c == '\n'))
    };
    if clean {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if keep_newlines && c == '\n' {
            out.push('\n');
        } else if needs_escape(c) {
            push_escape(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// One line of display text: every control, bidi and invisible format
/// character shown as a visible escape (see the module docs).
pub fn display_text(s: &str) -> Cow<'_, str> {
    escape_with(s, false)
}

/// Like [`display_text`] but LF stays a line break (the caller draws lines;
/// CR before it is still shown as `␍`).
pub fn display_lines(s: &str) -> Cow<'_, str> {
    escape_with(s, true)
}

/// The OSC 52 sequence that asks the terminal to put `text` on the person's
/// own clipboard (works over SSH, and in tmux with `set-clipboard on`). The
/// value travels base64-encoded, so whatever it holds (escape sequences,
/// BEL, C1 controls) cannot end the sequence or drive the terminal.
pub fn osc52_copy(text: &str) -> String {
    use base64::Engine;
    format!(
        "\x1b]52;c;{}\x07",
        base64::engine::general_purpose::STANDARD.encode(text.as_bytes())
    )
}

/// `display_text` into an owned `String` (for rows built as `Vec<String>`).
pub fn display_string(s: &str) -> String {
    display_text(s).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use unicode_width::UnicodeWidthStr;

    fn safe(s: &str) -> bool {
        !s.chars().any(needs_escape)
    }

    #[test]
    fn clean_text_is_borrowed() {
        for s in ["", "plain ascii", "Zoë López ✓ 日本語", "👨‍👩‍👧 family"] {
            assert!(matches!(display_text(s), Cow::Borrowed(_)), "{s:?}");
            assert!(matches!(display_lines(s), Cow::Borrowed(_)), "{s:?}");
        }
        assert!(matches!(display_lines("a\nb"), Cow::Borrowed(_)));
        assert!(matches!(display_text("a\nb"), Cow::Owned(_)));
    }

    #[test]
    fn escape_sequences_become_visible() {
        assert_eq!(display_text("\x1b]0;pwned\x07"), "␛]0;pwned␇");
        assert_eq!(display_text("\x1b[2J"), "␛[2J");
        assert_eq!(display_text("\x1b[?1049l"), "␛[?1049l");
    }

    #[test]
    fn whitespace_controls() {
        assert_eq!(display_text("a\tb"), "a\\tb");
        assert_eq!(display_text("a\nb"), "a↵b");
        assert_eq!(display_text("a\r\nb"), "a␍↵b");
        assert_eq!(display_lines("a\r\nb\tc"), "a␍\nb\\tc");
    }

    #[test]
    fn other_c0_as_control_pictures() {
        assert_eq!(display_text("\0"), "␀");
        assert_eq!(display_text("\x07"), "␇");
        assert_eq!(display_text("\x08"), "␈");
        assert_eq!(display_text("\x1f"), "␟");
    }

    #[test]
    fn del_and_c1_as_escapes() {
        assert_eq!(display_text("\x7f"), "\\u{7f}");
        assert_eq!(display_text("x\u{9b}2J"), "x\\u{9b}2J");
        assert_eq!(display_text("\u{85}"), "\\u{85}");
        assert_eq!(display_text("\u{80}\u{9f}"), "\\u{80}\\u{9f}");
    }

    #[test]
    fn bidi_and_format_characters_are_escaped() {
        assert_eq!(display_text("abc\u{202e}fed"), "abc\\u{202e}fed");
        for c in [
            '\u{202a}',
            '\u{202b}',
            '\u{202c}',
            '\u{202d}',
            '\u{202e}',
            '\u{2066}',
            '\u{2067}',
            '\u{2068}',
            '\u{2069}',
            '\u{200e}',
            '\u{200f}',
            '\u{061c}',
            '\u{200b}',
            '\u{feff}',
            '\u{2028}',
            '\u{2029}',
            '\u{e0041}',
            '\u{00ad}',
        ] {
            let s = c.to_string();
            let out = display_text(&s);
            assert!(matches!(out, Cow::Owned(_)), "{c:?}");
            assert!(safe(&out), "{c:?} -> {out:?}");
            assert!(out.starts_with("\\u{"), "{c:?} -> {out:?}");
        }
    }

    #[test]
    fn every_char_below_0xa0_and_the_format_set_come_out_safe() {
        let all: String = (0u32..0x2100)
            .chain(0xe0000..0xe0080)
            .chain([0xfeff, 0xfff9, 0xfffa, 0xfffb])
            .filter_map(char::from_u32)
            .collect();
        let out = display_text(&all);
        assert!(!out.chars().any(|c| c.is_control()));
        assert!(safe(&out));
        let lines = display_lines(&all);
        assert!(lines
            .chars()
            .all(|c| c == '\n' || (!c.is_control() && !needs_escape(c))));
    }

    #[test]
    fn width_is_measured_after_escaping() {
        // Raw: unicode-width gives controls no width, so a grid sized on the raw
        // text would be cut short or misaligned.
        let raw = "a\x1b[2Jb\tc";
        let shown = display_text(raw);
        assert_eq!(shown, "a␛[2Jb\\tc");
        assert_eq!(shown.width(), 9);
        assert_ne!(raw.width(), shown.width());
        assert_eq!(display_text("x\u{9b}").width(), 1 + 6);
        assert_eq!(display_text("日\u{202e}").width(), 2 + 8);
    }

    #[test]
    fn osc52_carries_hostile_text_only_as_base64() {
        use base64::Engine;
        let hostile = "a\x1b]0;pwned\x07b\u{9b}2J\n\u{202e}";
        let seq = osc52_copy(hostile);
        let body = seq
            .strip_prefix("\x1b]52;c;")
            .and_then(|s| s.strip_suffix('\x07'))
            .expect("one OSC 52 sequence");
        assert!(body
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+/=".contains(c)));
        let back = base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap();
        assert_eq!(back, hostile.as_bytes(), "the raw value, exactly");
    }
}
