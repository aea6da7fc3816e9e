//! How answers are printed: the API's JSON with `--json`, else tables for
//! lists and name/value pairs for one object; progress bars on a terminal.

use comfy_table::presets::NOTHING;
use comfy_table::{ContentArrangement, Table};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;

/// Prints one line on stdout. A reader that went away (`| head`) ends
/// the command quietly, as it does for other Unix tools.
pub fn line(text: impl std::fmt::Display) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{text}") {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        panic!("writing to stdout: {e}");
    }
}

/// The API's JSON, pretty-printed.
pub fn json(v: &Value) {
    line(serde_json::to_string_pretty(v).expect("a Value always serializes"));
}

/// A cell's text: strings bare, `null` empty, arrays joined with commas.
pub fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(cell).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// One row per item of `items`, one column per `(header, field)`; a field
/// may be a path such as `resource.id`.
pub fn table(items: &[Value], columns: &[(&str, &str)]) -> String {
    let mut t = Table::new();
    t.load_preset(NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(columns.iter().map(|(h, _)| *h));
    for item in items {
        t.add_row(columns.iter().map(|(_, f)| cell(field(item, f))));
    }
    trim_lines(&t.to_string())
}

/// Name/value lines for one object's `fields` (all of its members, `id`
/// first, when `fields` is empty).
pub fn pairs(item: &Value, fields: &[(&str, &str)]) -> String {
    let mut t = Table::new();
    t.load_preset(NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled);
    if fields.is_empty() {
        if let Value::Object(o) = item {
            let rest = o.iter().filter(|(k, _)| *k != "id" && *k != "object");
            for (k, v) in o.get_key_value("id").into_iter().chain(rest) {
                t.add_row(vec![k.clone(), cell(v)]);
            }
        }
    } else {
        for (name, f) in fields {
            t.add_row(vec![name.to_string(), cell(field(item, f))]);
        }
    }
    trim_lines(&t.to_string())
}

/// `item`'s member at a dotted path, `null` when absent.
pub fn field<'a>(item: &'a Value, path: &str) -> &'a Value {
    path.split('.')
        .fold(item, |v, k| v.get(k).unwrap_or(&Value::Null))
}

/// Tables pad every column, including the last: no trailing blanks.
fn trim_lines(s: &str) -> String {
    s.lines()
        .map(|l| l.trim_end().strip_prefix(' ').unwrap_or(l.trim_end()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Prints a page and, on stderr, how to get the next one.
pub fn page(list: &Value, columns: &[(&str, &str)], empty: &str) {
    let items = list["data"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    if items.is_empty() {
        eprintln!("{empty}");
    } else {
        line(table(items, columns));
    }
    if let Some(token) = list["nextPageToken"].as_str() {
        eprintln!("More: add --page-token {token} (or --all for every page)");
    }
}

/// A progress bar of `len` steps on stderr when it is a terminal and the
/// output is not JSON; hidden otherwise, so piped output stays clean.
pub fn progress(len: u64, what: &str, json: bool) -> ProgressBar {
    let target = if json {
        ProgressDrawTarget::hidden()
    } else {
        // indicatif draws nothing when stderr is not a terminal.
        ProgressDrawTarget::stderr()
    };
    let bar = ProgressBar::with_draw_target(Some(len), target);
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(what.to_owned());
    bar
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tables_align_columns_without_trailing_blanks() {
        let items = vec![
            json!({"id": "we_1", "url": "http://a.test/x", "enabledEvents": ["a", "b"], "resource": {"id": "r"}}),
            json!({"id": "we_22", "url": "http://b.test", "enabledEvents": [], "resource": null}),
        ];
        let t = table(
            &items,
            &[
                ("ID", "id"),
                ("URL", "url"),
                ("EVENTS", "enabledEvents"),
                ("RES", "resource.id"),
            ],
        );
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3, "{t}");
        assert!(lines[0].starts_with("ID "), "{t}");
        assert!(lines[1].contains("we_1") && lines[1].contains("a,b") && lines[1].ends_with('r'));
        assert_eq!(lines[0].find("URL"), lines[1].find("http://a"), "{t}");
        assert!(lines.iter().all(|l| !l.ends_with(' ')), "{t:?}");
    }

    #[test]
    fn pairs_name_each_field() {
        let p = pairs(
            &json!({"id": "we_1", "status": "enabled"}),
            &[("Status", "status")],
        );
        assert_eq!(
            p.split_whitespace().collect::<Vec<_>>(),
            ["Status", "enabled"]
        );
    }
}
