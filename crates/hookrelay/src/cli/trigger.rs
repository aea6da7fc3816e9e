//! `hookrelay trigger <eventType>`: publishes the catalog's example payload
//! for a type, as a producer would, with a fresh id each time so that
//! receivers which deduplicate by id see a new object.

use anyhow::{bail, Context};
use clap::Args;
use rand::distributions::Alphanumeric;
use rand::Rng;
use serde_json::{json, Value};

use super::client::Client;
use super::manage::{parse_resource, Resource};
use super::{output, ApiOpts};

/// Options of `hookrelay trigger`.
#[derive(Debug, Args)]
pub struct TriggerArgs {
    /// The event type (its current name; `hookrelay event-types list` shows them).
    pub event_type: String,
    /// Set a payload field, as path=value (a dotted path such as
    /// metadata.customerId; the value is JSON when it parses, else a string); repeatable.
    #[arg(long = "override", value_name = "PATH=VALUE", value_parser = parse_override)]
    pub overrides: Vec<(String, Value)>,
    /// The resource the event is about, as TYPE:ID [default: the payload's
    /// object of the type's resource type, e.g. its `extractor`].
    #[arg(long, value_name = "TYPE:ID", value_parser = parse_resource)]
    pub resource: Option<Resource>,
    #[command(flatten)]
    pub api: ApiOpts,
}

fn parse_override(s: &str) -> Result<(String, Value), String> {
    let (path, raw) = s
        .split_once('=')
        .ok_or_else(|| "expected PATH=VALUE, e.g. status=FAILED".to_owned())?;
    if path.is_empty() || path.split('.').any(str::is_empty) {
        return Err(format!("{path:?} is not a field path"));
    }
    let value = serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_owned()));
    Ok((path.to_owned(), value))
}

/// `id` with its random part replaced: the example's prefix (up to its last
/// `_`) and as many random alphanumerics as it had after it, at least 16
/// (so that a short example id still gives ids that do not collide).
pub fn fresh_id(example: &str) -> String {
    let (prefix, tail) = match example.rfind('_') {
        Some(i) => example.split_at(i + 1),
        None => ("", example),
    };
    let n = tail.chars().count().max(16);
    let random: String = rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(n)
        .map(char::from)
        .collect();
    format!("{prefix}{random}")
}

/// Sets `path` (dotted) in `payload` to `value`, creating objects on the way.
fn set_path(payload: &mut Value, path: &str, value: Value) -> anyhow::Result<()> {
    let mut at = payload;
    let mut keys = path.split('.').peekable();
    while let Some(k) = keys.next() {
        let Value::Object(o) = at else {
            bail!("--override {path}: {k:?} is inside a value that is not an object");
        };
        if keys.peek().is_none() {
            o.insert(k.to_owned(), value);
            return Ok(());
        }
        at = o.entry(k.to_owned()).or_insert_with(|| json!({}));
    }
    Ok(())
}

/// The publish request: the example with a fresh id, the overrides, and
/// the resource (given, or the payload's object of one of the type's
/// resource types).
pub fn build(
    event_type: &Value,
    overrides: &[(String, Value)],
    resource: Option<&Resource>,
) -> anyhow::Result<Value> {
    let name = event_type["canonicalName"].as_str().unwrap_or_default();
    let mut payload = event_type["examplePayload"].clone();
    if !payload.is_object() {
        bail!("the catalog has no example payload for {name}");
    }
    if let Some(id) = payload["id"].as_str() {
        payload["id"] = json!(fresh_id(id));
    }
    for (path, value) in overrides {
        set_path(&mut payload, path, value.clone())?;
    }
    let resource = match resource {
        Some(r) => Some(json!({ "type": r.kind, "id": r.id })),
        None => event_type["resourceTypes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .find_map(|t| {
                let id = payload[t]["id"].as_str()?;
                Some(json!({ "type": t, "id": id }))
            }),
    };
    let mut body = json!({ "eventType": name, "payload": payload });
    if let Some(r) = resource {
        body["resource"] = r;
    }
    Ok(body)
}

pub async fn run(args: TriggerArgs) -> anyhow::Result<()> {
    let conn = args.api.resolve()?;
    let client = Client::new(&conn)?;
    // The current catalog: producers publish current names.
    let catalog = client.get(&["event_types"], &[]).await?;
    let types = catalog["data"]
        .as_array()
        .context("the catalog has no event types")?;
    let Some(ty) = types.iter().find(|t| {
        t["canonicalName"] == args.event_type.as_str() || t["name"] == args.event_type.as_str()
    }) else {
        bail!(
            "no event type {:?} in the catalog (`hookrelay event-types list` shows them)",
            args.event_type
        );
    };
    let body = build(ty, &args.overrides, args.resource.as_ref())?;
    let event = client.post(&["events"], &body).await?;
    if conn.json {
        output::json(&event);
    } else {
        output::line(format!(
            "Triggered {} {} (payload id {}){}",
            output::cell(&event["eventType"]),
            output::cell(&event["id"]),
            output::cell(&body["payload"]["id"]),
            match &body["resource"] {
                Value::Null => String::new(),
                r => format!(
                    " for {}:{}",
                    output::cell(&r["type"]),
                    output::cell(&r["id"])
                ),
            }
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extract_run() -> Value {
        json!({
            "name": "extract_run.processed",
            "canonicalName": "extract_run.processed",
            "resourceTypes": ["extractor"],
            "examplePayload": {
                "object": "extract_run",
                "id": "exr_Xj8mK2pL9nR4vT7qY5wZ",
                "status": "PROCESSED",
                "extractor": {"object": "extractor", "id": "ex_Xj8mK2pL9nR4vT7qY5wZ"}
            }
        })
    }

    #[test]
    fn each_trigger_has_a_fresh_id_with_the_examples_prefix() {
        let a = build(&extract_run(), &[], None).unwrap();
        let b = build(&extract_run(), &[], None).unwrap();
        let (ia, ib) = (
            a["payload"]["id"].as_str().unwrap(),
            b["payload"]["id"].as_str().unwrap(),
        );
        assert_ne!(ia, ib);
        assert!(
            ia.starts_with("exr_") && ia.len() == "exr_Xj8mK2pL9nR4vT7qY5wZ".len(),
            "{ia}"
        );
        assert_eq!(a["eventType"], "extract_run.processed");
        assert_eq!(a["payload"]["status"], "PROCESSED");
    }

    #[test]
    fn the_resource_comes_from_the_payload_unless_given() {
        let a = build(&extract_run(), &[], None).unwrap();
        assert_eq!(
            a["resource"],
            json!({"type": "extractor", "id": "ex_Xj8mK2pL9nR4vT7qY5wZ"})
        );
        let r = parse_resource("extractor:ex_mine").unwrap();
        let b = build(&extract_run(), &[], Some(&r)).unwrap();
        assert_eq!(b["resource"]["id"], "ex_mine");
    }

    #[test]
    fn overrides_set_json_or_strings_at_dotted_paths() {
        let o = vec![
            parse_override("status=FAILED").unwrap(),
            parse_override("metadata.customerId=cust_9").unwrap(),
            parse_override("extractor.id=\"ex_other\"").unwrap(),
            parse_override("runCount=3").unwrap(),
        ];
        let a = build(&extract_run(), &o, None).unwrap();
        assert_eq!(a["payload"]["status"], "FAILED");
        assert_eq!(a["payload"]["metadata"]["customerId"], "cust_9");
        assert_eq!(a["payload"]["runCount"], 3);
        assert_eq!(
            a["resource"]["id"], "ex_other",
            "the resource follows the override"
        );
        assert!(parse_override("novalue").is_err());
        assert!(parse_override("a..b=1").is_err());
        let bad = vec![parse_override("status.x=1").unwrap()];
        assert!(build(&extract_run(), &bad, None).is_err());
    }
}
