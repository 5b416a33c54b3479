//! Finding a table from what a person typed: `name`, `schema.name`, quoted
//! parts (`"sales"."Weird Name"`, `` `a`.`b` ``), or the exact display name
//! shown by `varlor tables` (so `sales.Weird Name` works too).

use crate::connectors::TableRef;

#[derive(Debug, PartialEq, Eq)]
pub enum Lookup<'a> {
    Found(&'a TableRef),
    NotFound,
    Ambiguous(Vec<&'a TableRef>),
}

/// Splits on dots outside quotes; a part wrapped in `"…"` or `` `…` `` is
/// taken literally (doubled quotes inside mean one). None if quotes are unbalanced.
pub fn split_parts(text: &str) -> Option<Vec<String>> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut chars = text.trim().chars().peekable();
    let mut quoted_part = false;
    while let Some(c) = chars.next() {
        match c {
            '"' | '`' if cur.is_empty() && !quoted_part => {
                let q = c;
                let mut closed = false;
                while let Some(d) = chars.next() {
                    if d == q {
                        if chars.peek() == Some(&q) {
                            chars.next();
                            cur.push(q);
                        } else {
                            closed = true;
                            break;
                        }
                    } else {
                        cur.push(d);
                    }
                }
                if !closed {
                    return None;
                }
                quoted_part = true;
            }
            '.' => {
                parts.push(std::mem::take(&mut cur));
                quoted_part = false;
            }
            _ if quoted_part => return None,
            _ => cur.push(c),
        }
    }
    parts.push(cur);
    Some(parts)
}

/// Finds `text` among `tables`. Order: exact display name; parsed
/// `schema.name` / `name`; then the same ignoring case. A bare name present
/// in several schemas is ambiguous unless exactly one is not a system table.
pub fn find<'a>(tables: &'a [TableRef], text: &str) -> Lookup<'a> {
    let exact: Vec<&TableRef> = tables.iter().filter(|t| t.display_name() == text).collect();
    if exact.len() == 1 {
        return Lookup::Found(exact[0]);
    }
    let Some(parts) = split_parts(text) else {
        return Lookup::NotFound;
    };
    for case_sensitive in [true, false] {
        let eq = |a: &str, b: &str| {
            if case_sensitive {
                a == b
            } else {
                a.to_lowercase() == b.to_lowercase()
            }
        };
        let hits: Vec<&TableRef> = match parts.as_slice() {
            [name] => tables.iter().filter(|t| eq(&t.name, name)).collect(),
            [schema, name] => tables
                .iter()
                .filter(|t| t.schema.as_deref().is_some_and(|s| eq(s, schema)) && eq(&t.name, name))
                .collect(),
            _ => Vec::new(),
        };
        match hits.len() {
            0 => continue,
            1 => return Lookup::Found(hits[0]),
            _ => {
                let user: Vec<&TableRef> = hits.iter().copied().filter(|t| !t.system).collect();
                if user.len() == 1 {
                    return Lookup::Found(user[0]);
                }
                let public: Vec<&TableRef> = hits
                    .iter()
                    .copied()
                    .filter(|t| t.schema.as_deref() == Some("public"))
                    .collect();
                if public.len() == 1 {
                    return Lookup::Found(public[0]);
                }
                return Lookup::Ambiguous(hits);
            }
        }
    }
    Lookup::NotFound
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::TableKind;

    fn t(schema: Option<&str>, name: &str) -> TableRef {
        TableRef {
            schema: schema.map(String::from),
            name: name.into(),
            kind: TableKind::Table,
            estimated_rows: None,
            system: false,
        }
    }

    #[test]
    fn splits_quoted_parts() {
        assert_eq!(
            split_parts(r#""sales"."Weird Name""#).unwrap(),
            vec!["sales", "Weird Name"]
        );
        assert_eq!(split_parts(r#""a.b""#).unwrap(), vec!["a.b"]);
        assert_eq!(split_parts(r#""quote""d""#).unwrap(), vec!["quote\"d"]);
        assert_eq!(split_parts("`x`.`y`").unwrap(), vec!["x", "y"]);
        assert_eq!(split_parts("s.t").unwrap(), vec!["s", "t"]);
        assert!(split_parts(r#""open"#).is_none());
    }

    #[test]
    fn finds_by_every_spelling() {
        let tables = vec![
            t(Some("public"), "orders"),
            t(Some("public"), "Weird Name"),
            t(Some("sales"), "regions"),
            t(Some("sales"), "a.b"),
            t(None, "semi;colon"),
        ];
        let name = |l: Lookup| match l {
            Lookup::Found(t) => t.display_name(),
            other => panic!("{other:?}"),
        };
        assert_eq!(name(find(&tables, "orders")), "public.orders");
        assert_eq!(name(find(&tables, "public.orders")), "public.orders");
        assert_eq!(name(find(&tables, "Weird Name")), "public.Weird Name");
        assert_eq!(
            name(find(&tables, r#""public"."Weird Name""#)),
            "public.Weird Name"
        );
        assert_eq!(name(find(&tables, "sales.a.b")), "sales.a.b");
        assert_eq!(name(find(&tables, r#"sales."a.b""#)), "sales.a.b");
        assert_eq!(name(find(&tables, "REGIONS")), "sales.regions");
        assert_eq!(name(find(&tables, "semi;colon")), "semi;colon");
        assert_eq!(find(&tables, "nope"), Lookup::NotFound);
    }

    #[test]
    fn same_name_in_two_user_schemas_is_ambiguous() {
        let tables = vec![t(Some("a"), "x"), t(Some("b"), "x")];
        assert!(matches!(find(&tables, "x"), Lookup::Ambiguous(v) if v.len() == 2));
        assert!(matches!(find(&tables, "b.x"), Lookup::Found(_)));
    }
}
