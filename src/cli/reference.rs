//! `turnstile reference`: the configuration reference and `turnstile.toml`'s JSON Schema,
//! made from the config structs themselves (their fields, types, doc comments and
//! defaults), so neither can fall behind the code. Checked in as `docs/config.md` and
//! `schemas/turnstile.schema.json`; a test regenerates and compares both.

use super::*;
use serde_json::{Map, Value};
use std::fmt::Write as _;

#[derive(Args, Debug)]
pub(super) struct ReferenceArgs {
    /// Markdown for people, or the JSON Schema editors check `turnstile.toml` against.
    #[arg(long, value_enum, default_value = "markdown")]
    pub(super) format: ReferenceFormat,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(super) enum ReferenceFormat {
    Markdown,
    JsonSchema,
}

pub(super) fn reference_cmd(a: ReferenceArgs) -> Result<u8, Failure> {
    let schema = serde_json::to_value(schemars::schema_for!(Config))
        .map_err(|e| Failure::Runtime(format!("the schema: {e}")))?;
    let text = match a.format {
        ReferenceFormat::JsonSchema => format!(
            "{}\n",
            serde_json::to_string_pretty(&schema)
                .map_err(|e| Failure::Runtime(format!("the schema: {e}")))?
        ),
        ReferenceFormat::Markdown => markdown(&schema),
    };
    write_out(None, &text)?;
    Ok(0)
}

/// The definitions a `$ref` points into.
fn defs(schema: &Value) -> Map<String, Value> {
    schema
        .get("$defs")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// `schema` with a `$ref` followed (once per level).
fn resolve<'a>(schema: &'a Value, defs: &'a Map<String, Value>) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => r
            .rsplit('/')
            .next()
            .and_then(|name| defs.get(name))
            .unwrap_or(schema),
        None => schema,
    }
}

/// A value's type as a reader wants it: `integer`, `one of: a, b`, `list of string`…
fn type_of(schema: &Value, defs: &Map<String, Value>) -> String {
    let s = resolve(schema, defs);
    let values: Vec<String> = ["oneOf", "anyOf"]
        .iter()
        .filter_map(|k| s.get(*k).and_then(Value::as_array))
        .flatten()
        .flat_map(|v| {
            let v = resolve(v, defs);
            v.get("const")
                .map(|c| vec![c.clone()])
                .or_else(|| v.get("enum").and_then(Value::as_array).cloned())
                .unwrap_or_default()
        })
        .chain(
            s.get("enum")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
        )
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    if !values.is_empty() {
        return format!("one of: {}", values.join(", "));
    }
    let kinds: Vec<&str> = match s.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let optional = kinds.contains(&"null");
    let main = kinds.iter().find(|k| **k != "null").copied().unwrap_or("");
    let shown = match main {
        "array" => format!(
            "list of {}",
            s.get("items").map_or("value".into(), |i| type_of(i, defs))
        ),
        "object" => "table".to_string(),
        "" => s
            .get("anyOf")
            .and_then(Value::as_array)
            .and_then(|a| {
                a.iter()
                    .find(|v| v.get("type") != Some(&Value::from("null")))
            })
            .map_or_else(|| "value".to_string(), |v| type_of(v, defs)),
        other => other.to_string(),
    };
    if optional {
        format!("{shown} (optional)")
    } else {
        shown
    }
}

/// The range a number must be in, as the config's own check enforces it (`1 to 3600`);
/// `–` for a key that is not a number.
fn allowed(schema: &Value, defs: &Map<String, Value>) -> String {
    let s = resolve(schema, defs);
    let bounded = std::iter::once(s)
        .chain(
            s.get("anyOf")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|v| resolve(v, defs)),
        )
        .find(|v| v.get("minimum").is_some() || v.get("maximum").is_some());
    let Some(b) = bounded else {
        return "–".into();
    };
    let bound = |k: &str| b.get(k).map_or("…".to_string(), Value::to_string);
    format!("{} to {}", bound("minimum"), bound("maximum"))
}

/// One cell of text: one line, with `|` escaped.
fn cell(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

fn default_text(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "–".into(),
        Some(Value::String(s)) if s.is_empty() => "–".into(),
        Some(Value::Object(m)) if m.is_empty() => "–".into(),
        Some(Value::Array(a)) if a.is_empty() => "–".into(),
        Some(v) => format!("`{}`", v.to_string().replace('|', "\\|")),
    }
}

/// A table's heading as a trust writes it: `[store]`, `[work_items.systems.<system>]`.
fn heading(path: &[String]) -> String {
    format!("[{}]", path.join("."))
}

fn env_var(path: &[String], key: &str) -> String {
    let mut parts: Vec<String> = path.iter().map(|p| p.to_ascii_uppercase()).collect();
    parts.push(key.to_ascii_uppercase());
    format!("TURNSTILE__{}", parts.join("__"))
}

/// Whether a schema is a table of its own keys (a section), or a map from ids to one.
fn table_of<'a>(s: &'a Value, defs: &'a Map<String, Value>) -> Option<(&'a Value, bool)> {
    let s = resolve(s, defs);
    if s.get("properties").is_some() {
        return Some((s, false));
    }
    let each = resolve(s.get("additionalProperties")?, defs);
    each.get("properties").is_some().then_some((each, true))
}

fn section(
    out: &mut String,
    path: &[String],
    description: Option<&str>,
    schema: &Value,
    defaults: Option<&Value>,
    defs: &Map<String, Value>,
) {
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return;
    };
    let _ = writeln!(out, "## `{}`\n", heading(path));
    if let Some(d) = description.or_else(|| schema.get("description").and_then(Value::as_str)) {
        let _ = writeln!(out, "{}\n", d.trim());
    }
    let mut nested = Vec::new();
    let mut rows = String::new();
    for (key, prop) in props {
        let described = prop
            .get("description")
            .or_else(|| resolve(prop, defs).get("description"))
            .and_then(Value::as_str);
        if let Some((table, by_id)) = table_of(prop, defs) {
            let mut sub = path.to_vec();
            sub.push(key.clone());
            if by_id {
                sub.push("<id>".into());
            }
            let sub_defaults = if by_id {
                None
            } else {
                defaults.and_then(|d| d.get(key))
            };
            nested.push((sub, described, table, sub_defaults));
            continue;
        }
        let default = prop
            .get("default")
            .or_else(|| defaults.and_then(|d| d.get(key)));
        let _ = writeln!(
            rows,
            "| `{key}` | {} | {} | {} | `{}` | {} |",
            cell(&type_of(prop, defs)),
            default_text(default),
            allowed(prop, defs),
            env_var(path, key),
            cell(described.unwrap_or(""))
        );
    }
    if !rows.is_empty() {
        let _ = writeln!(
            out,
            "| key | type | default | allowed | environment | meaning |\n|---|---|---|---|---|---|\n{rows}"
        );
    }
    for (sub, described, table, sub_defaults) in nested {
        section(out, &sub, described, table, sub_defaults, defs);
    }
}

/// The reference as Markdown: a section per table, a row per key.
fn markdown(schema: &Value) -> String {
    let defs = defs(schema);
    let mut out = String::from(
        "# Configuration reference\n\n\
         Every key of `turnstile.toml`, made from the config structs by `turnstile reference\n\
         --format markdown` (do not edit by hand; a test regenerates it). Any key can also come\n\
         from the environment variable named beside it; `--config` may be given more than once\n\
         to layer files. `<id>` is a system id of the role model. A `[targets.<id>]` table takes\n\
         a `type` and that connector's own keys (see connectors.md). The JSON Schema of the same\n\
         is `schemas/turnstile.schema.json`.\n\n",
    );
    let defaults = schema.get("default");
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return out;
    };
    for (key, prop) in props {
        let described = prop.get("description").and_then(Value::as_str);
        match table_of(prop, &defs) {
            Some((table, by_id)) => {
                let mut path = vec![key.clone()];
                if by_id {
                    path.push("<id>".into());
                }
                let d = if by_id {
                    None
                } else {
                    defaults.and_then(|d| d.get(key))
                };
                section(&mut out, &path, described, table, d, &defs);
            }
            None => {
                let _ = writeln!(
                    out,
                    "## `[{key}.<id>]`\n\n{}\n\nA table per system id, each {}.\n",
                    described.unwrap_or("").trim(),
                    type_of(prop, &defs)
                );
            }
        }
    }
    out
}
