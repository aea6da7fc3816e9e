//! `hookrelay endpoints|subscriptions|events|deliveries|event-types …`:
//! one API call per verb (recovery and bulk sends several, with a progress
//! bar), printed as a table or, with `--json`, as the API's JSON.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{json, Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::client::Client;
use super::output::{self, page, pairs, table};
use super::{ApiOpts, Conn};

/// Options of every list verb.
#[derive(Debug, Clone, Args)]
pub struct PageOpts {
    /// Items per page (1 to 1000).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub limit: Option<u16>,
    /// Continue a listing from the token a previous page printed.
    #[arg(long, value_name = "TOKEN", conflicts_with = "all")]
    pub page_token: Option<String>,
    /// Follow every page and print them as one list.
    #[arg(long)]
    pub all: bool,
}

impl PageOpts {
    fn query(&self) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        if let Some(n) = self.limit {
            q.push(("maxPageSize", n.to_string()));
        }
        if let Some(t) = &self.page_token {
            q.push(("nextPageToken", t.clone()));
        }
        q
    }
}

/// A resource as `TYPE:ID` (e.g. `extractor:ex_123`).
#[derive(Debug, Clone)]
pub struct Resource {
    pub kind: String,
    pub id: String,
}

pub fn parse_resource(s: &str) -> Result<Resource, String> {
    match s.split_once(':') {
        Some((k, id)) if !k.is_empty() && !id.is_empty() => Ok(Resource {
            kind: k.to_owned(),
            id: id.to_owned(),
        }),
        _ => Err("expected TYPE:ID, e.g. extractor:ex_123".into()),
    }
}

/// A header as `Name: value`.
fn parse_header(s: &str) -> Result<(String, String), String> {
    match s.split_once(':') {
        Some((n, v)) if !n.trim().is_empty() => Ok((n.trim().to_owned(), v.trim().to_owned())),
        _ => Err("expected \"Name: value\"".into()),
    }
}

fn connect(api: &ApiOpts) -> anyhow::Result<(Client, Conn)> {
    let conn = api.resolve()?;
    Ok((Client::new(&conn)?, conn))
}

/// An option value as the API spells it (its name on the command line).
fn value_name(v: impl ValueEnum) -> String {
    v.to_possible_value()
        .expect("no option value is hidden")
        .get_name()
        .to_owned()
}

/// A page of a list: its JSON, or a table.
fn list_page(conn: &Conn, list: &Value, columns: &[(&str, &str)], empty: &str) {
    if conn.json {
        output::json(list);
    } else {
        page(list, columns, empty);
    }
}

/// One object: its JSON, or its members as name/value lines.
fn show(conn: &Conn, v: &Value) {
    if conn.json {
        output::json(v);
    } else {
        output::line(pairs(v, &[]));
    }
}

// ---------------------------------------------------------------- endpoints

#[derive(Debug, Args)]
pub struct Endpoints {
    #[command(flatten)]
    api: ApiOpts,
    #[command(subcommand)]
    verb: EndpointVerb,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum EndpointStatus {
    Enabled,
    Disabled,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum SignatureScheme {
    Extend,
    StandardWebhooks,
    BodyHmac,
}

impl SignatureScheme {
    fn api_name(self) -> &'static str {
        match self {
            Self::Extend => "extend",
            Self::StandardWebhooks => "standard-webhooks",
            Self::BodyHmac => "body-hmac",
        }
    }
}

#[derive(Debug, Subcommand)]
enum EndpointVerb {
    /// List endpoints, newest first.
    #[command(after_help = "Example:\n  hookrelay endpoints list --status disabled")]
    List {
        /// Only endpoints in this state.
        #[arg(long)]
        status: Option<EndpointStatus>,
        #[command(flatten)]
        page: PageOpts,
    },
    /// Show one endpoint.
    #[command(after_help = "Example:\n  hookrelay endpoints get webhook_endpoint_01J…")]
    Get { id: String },
    /// Create an endpoint; its signing secret is printed once.
    #[command(
        after_help = "Example:\n  hookrelay endpoints create --url https://example.com/webhooks \\\n    --events extract_run.processed,extract_run.failed --name production"
    )]
    Create(CreateEndpoint),
    /// Change an endpoint; only the options given change.
    #[command(
        after_help = "Example:\n  hookrelay endpoints update webhook_endpoint_01J… --url https://example.com/v2/webhooks"
    )]
    Update(UpdateEndpoint),
    /// Delete an endpoint (its pending deliveries are cancelled).
    #[command(after_help = "Example:\n  hookrelay endpoints delete webhook_endpoint_01J…")]
    Delete { id: String },
    /// Enable an endpoint (deliveries resume).
    #[command(after_help = "Example:\n  hookrelay endpoints enable webhook_endpoint_01J…")]
    Enable { id: String },
    /// Disable an endpoint (nothing is delivered to it meanwhile).
    #[command(after_help = "Example:\n  hookrelay endpoints disable webhook_endpoint_01J…")]
    Disable { id: String },
    /// Give an endpoint a new signing secret (printed once); the old one
    /// keeps working for the grace period.
    #[command(
        after_help = "Example:\n  hookrelay endpoints rotate-secret webhook_endpoint_01J… --grace 3600"
    )]
    RotateSecret {
        id: String,
        /// Seconds the previous secret stays valid [default: the server's, 24 h].
        #[arg(long, value_name = "SECONDS")]
        grace: Option<u64>,
    },
    /// Send a test event to an endpoint (it appears in history marked as a test).
    #[command(
        after_help = "Example:\n  hookrelay endpoints test webhook_endpoint_01J… --event-type extract_run.processed"
    )]
    Test {
        id: String,
        /// Event type to send [default: the endpoint's first enabled one].
        #[arg(long, value_name = "TYPE")]
        event_type: Option<String>,
    },
    /// Re-queue an endpoint's failed deliveries created in a time window.
    #[command(
        after_help = "Examples:\n  hookrelay endpoints recover webhook_endpoint_01J… --since 24h\n  hookrelay endpoints recover webhook_endpoint_01J… --since 2026-03-01T00:00:00Z --until 2026-03-02T00:00:00Z"
    )]
    Recover {
        id: String,
        /// Start of the window: an RFC 3339 time, or an age such as 30m, 12h, 7d.
        #[arg(long, value_name = "TIME", value_parser = parse_time)]
        since: OffsetDateTime,
        /// End of the window (exclusive) [default: now].
        #[arg(long, value_name = "TIME", value_parser = parse_time)]
        until: Option<OffsetDateTime>,
    },
}

#[derive(Debug, Args)]
struct CreateEndpoint {
    /// Where deliveries are POSTed.
    #[arg(long)]
    url: String,
    /// Event types it receives, comma-separated [default: none; subscriptions can add resource-scoped ones].
    #[arg(long, value_delimiter = ',', value_name = "T1,T2")]
    events: Vec<String>,
    /// A name for people [default: the URL].
    #[arg(long)]
    name: Option<String>,
    /// API version its events are rendered for [default: the server's current].
    #[arg(long, value_name = "V")]
    api_version: Option<String>,
    /// Wire profile (how deliveries are signed).
    #[arg(long, value_name = "SCHEME")]
    signature_scheme: Option<SignatureScheme>,
    /// An extra header sent with every delivery, as "Name: value"; repeatable.
    #[arg(long = "header", short = 'H', value_name = "NAME: VALUE", value_parser = parse_header)]
    headers: Vec<(String, String)>,
    /// Create it disabled.
    #[arg(long)]
    disabled: bool,
}

#[derive(Debug, Args)]
struct UpdateEndpoint {
    id: String,
    #[arg(long)]
    url: Option<String>,
    #[arg(long)]
    name: Option<String>,
    /// Replaces the enabled event types, comma-separated (an empty value clears them).
    #[arg(long, value_delimiter = ',', value_name = "T1,T2", num_args = 0..=1)]
    events: Option<Vec<String>>,
    /// Replaces the extra headers, as "Name: value"; repeatable.
    #[arg(long = "header", short = 'H', value_name = "NAME: VALUE", value_parser = parse_header)]
    headers: Vec<(String, String)>,
}

const ENDPOINT_COLUMNS: &[(&str, &str)] = &[
    ("ID", "id"),
    ("NAME", "name"),
    ("URL", "url"),
    ("STATUS", "status"),
    ("API VERSION", "apiVersion"),
    ("EVENTS", "enabledEvents"),
];

fn headers_json(headers: &[(String, String)]) -> Value {
    Value::Object(
        headers
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

/// The server's current API version (what the catalog lists by default).
async fn current_version(client: &Client) -> anyhow::Result<String> {
    let catalog = client.get(&["event_types"], &[]).await?;
    catalog["apiVersion"]
        .as_str()
        .map(str::to_owned)
        .context("the server's catalog names no API version")
}

pub async fn endpoints(cmd: Endpoints) -> anyhow::Result<()> {
    let (client, conn) = connect(&cmd.api)?;
    const E: &str = "webhook_endpoints";
    match cmd.verb {
        EndpointVerb::List { status, page: p } => {
            let mut q = p.query();
            if let Some(s) = status {
                q.push(("status", value_name(s)));
            }
            let list = client.list(&[E], q, p.all).await?;
            list_page(&conn, &list, ENDPOINT_COLUMNS, "No endpoints.");
        }
        EndpointVerb::Get { id } => show(&conn, &client.get(&[E, &id], &[]).await?),
        EndpointVerb::Create(a) => {
            let api_version = match a.api_version {
                Some(v) => v,
                None => current_version(&client).await?,
            };
            let mut body = json!({
                "url": a.url,
                "name": a.name.unwrap_or_else(|| a.url.clone()),
                "enabledEvents": a.events,
                "apiVersion": api_version,
            });
            if let Some(s) = a.signature_scheme {
                body["signatureScheme"] = json!(s.api_name());
            }
            if !a.headers.is_empty() {
                body["advancedOptions"] = json!({ "headers": headers_json(&a.headers) });
            }
            if a.disabled {
                body["status"] = json!("disabled");
            }
            let created = client.post(&[E], &body).await?;
            show(&conn, &created);
            if !conn.json {
                eprintln!("The signing secret is shown only this once.");
            }
        }
        EndpointVerb::Update(a) => {
            let mut body = Map::new();
            if let Some(u) = a.url {
                body.insert("url".into(), json!(u));
            }
            if let Some(n) = a.name {
                body.insert("name".into(), json!(n));
            }
            if let Some(ev) = a.events {
                let ev: Vec<String> = ev.into_iter().filter(|e| !e.is_empty()).collect();
                body.insert("enabledEvents".into(), json!(ev));
            }
            if !a.headers.is_empty() {
                body.insert(
                    "advancedOptions".into(),
                    json!({ "headers": headers_json(&a.headers) }),
                );
            }
            if body.is_empty() {
                bail!("nothing to change: give --url, --name, --events or --header");
            }
            show(
                &conn,
                &client.post(&[E, &a.id], &Value::Object(body)).await?,
            );
        }
        EndpointVerb::Delete { id } => {
            let v = client.delete(&[E, &id]).await?;
            if conn.json {
                output::json(&v);
            } else {
                output::line(format!("Deleted {id}"));
            }
        }
        EndpointVerb::Enable { id } => show(
            &conn,
            &client
                .post(&[E, &id], &json!({"status": "enabled"}))
                .await?,
        ),
        EndpointVerb::Disable { id } => show(
            &conn,
            &client
                .post(&[E, &id], &json!({"status": "disabled"}))
                .await?,
        ),
        EndpointVerb::RotateSecret { id, grace } => {
            let body = match grace {
                Some(g) => json!({ "graceSeconds": g }),
                None => json!({}),
            };
            let v = client.post(&[E, &id, "rotate_secret"], &body).await?;
            show(&conn, &v);
            if !conn.json {
                eprintln!("The new signing secret is shown only this once.");
            }
        }
        EndpointVerb::Test { id, event_type } => {
            let body = match event_type {
                Some(t) => json!({ "eventType": t }),
                None => json!({}),
            };
            show(&conn, &client.post(&[E, &id, "test"], &body).await?);
        }
        EndpointVerb::Recover { id, since, until } => {
            recover(&client, &conn, &id, since, until).await?;
        }
    }
    Ok(())
}

/// The longest slice of a recovery window asked for in one request: a long
/// window is recovered slice by slice so that a progress bar can follow it
/// and no single request runs for long.
const RECOVER_SLICE: time::Duration = time::Duration::hours(1);
/// The most slices a window is cut into.
const MAX_SLICES: i64 = 200;

/// `[since, until)` cut into consecutive slices; the last one open-ended
/// (`None`: up to the server's now) when `until` is.
fn slices(
    since: OffsetDateTime,
    until: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> Vec<(OffsetDateTime, Option<OffsetDateTime>)> {
    let end = until.unwrap_or(now);
    if end <= since {
        return vec![(since, until)];
    }
    let window = end - since;
    let n = (window.whole_seconds() / RECOVER_SLICE.whole_seconds() + 1).clamp(1, MAX_SLICES);
    let step = window / n as f64;
    (0..n)
        .map(|i| {
            let from = since + step * i as f64;
            let to = if i + 1 == n {
                until
            } else {
                Some(since + step * (i + 1) as f64)
            };
            (from, to)
        })
        .collect()
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339)
        .expect("any UTC time formats as RFC 3339")
}

async fn recover(
    client: &Client,
    conn: &Conn,
    id: &str,
    since: OffsetDateTime,
    until: Option<OffsetDateTime>,
) -> anyhow::Result<()> {
    let parts = slices(since, until, OffsetDateTime::now_utc());
    let bar = output::progress(parts.len() as u64, "Recovering", conn.json);
    let mut requeued = 0u64;
    let mut first: Option<Value> = None;
    let mut last = Value::Null;
    for (from, to) in parts {
        let mut body = json!({ "since": rfc3339(from) });
        if let Some(t) = to {
            body["until"] = json!(rfc3339(t));
        }
        let r = client
            .post(&["webhook_endpoints", id, "recover"], &body)
            .await?;
        requeued += r["requeued"].as_u64().unwrap_or(0);
        bar.set_message(format!("{requeued} re-queued"));
        bar.inc(1);
        first.get_or_insert_with(|| r.clone());
        last = r;
    }
    bar.finish_and_clear();
    let summary = json!({
        "object": "recovery",
        "webhookEndpointId": id,
        "since": first.as_ref().map(|f| f["since"].clone()).unwrap_or_default(),
        "until": last["until"],
        "requeued": requeued,
    });
    if conn.json {
        output::json(&summary);
    } else {
        output::line(format!(
            "Re-queued {requeued} failed deliveries of {id} created from {} to {}",
            output::cell(&summary["since"]),
            output::cell(&summary["until"])
        ));
    }
    Ok(())
}

/// An RFC 3339 time, or an age (`90s`, `30m`, `12h`, `7d`) before now.
fn parse_time(s: &str) -> Result<OffsetDateTime, String> {
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Ok(t);
    }
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = n
        .parse()
        .map_err(|_| format!("{s:?} is neither an RFC 3339 time nor an age like 30m, 12h, 7d"))?;
    let unit_secs: i64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{s:?}: an age ends in s, m, h or d")),
    };
    n.checked_mul(unit_secs)
        .map(time::Duration::seconds)
        .and_then(|age| OffsetDateTime::now_utc().checked_sub(age))
        .ok_or_else(|| format!("{s:?} is too long ago"))
}

// ------------------------------------------------------------ subscriptions

#[derive(Debug, Args)]
pub struct Subscriptions {
    #[command(flatten)]
    api: ApiOpts,
    #[command(subcommand)]
    verb: SubscriptionVerb,
}

#[derive(Debug, Subcommand)]
enum SubscriptionVerb {
    /// List subscriptions.
    #[command(
        after_help = "Example:\n  hookrelay subscriptions list --endpoint webhook_endpoint_01J…"
    )]
    List {
        /// Only this endpoint's.
        #[arg(long, value_name = "ID")]
        endpoint: Option<String>,
        /// Only those of this resource.
        #[arg(long, value_name = "ID")]
        resource_id: Option<String>,
        #[command(flatten)]
        page: PageOpts,
    },
    /// Subscribe an endpoint to a resource's events.
    #[command(
        after_help = "Example:\n  hookrelay subscriptions create --endpoint webhook_endpoint_01J… --resource extractor:ex_123 \\\n    --events extract_run.processed,extract_run.failed"
    )]
    Create {
        #[arg(long, value_name = "ID")]
        endpoint: String,
        /// The resource, as TYPE:ID.
        #[arg(long, value_name = "TYPE:ID", value_parser = parse_resource)]
        resource: Resource,
        /// Event types, comma-separated.
        #[arg(long, value_delimiter = ',', value_name = "T1,T2", required = true)]
        events: Vec<String>,
    },
    /// Delete a subscription.
    #[command(after_help = "Example:\n  hookrelay subscriptions delete webhook_subscription_01J…")]
    Delete { id: String },
}

const SUBSCRIPTION_COLUMNS: &[(&str, &str)] = &[
    ("ID", "id"),
    ("ENDPOINT", "webhookEndpointId"),
    ("RESOURCE TYPE", "resourceType"),
    ("RESOURCE ID", "resourceId"),
    ("EVENTS", "enabledEvents"),
];

pub async fn subscriptions(cmd: Subscriptions) -> anyhow::Result<()> {
    let (client, conn) = connect(&cmd.api)?;
    const S: &str = "webhook_subscriptions";
    match cmd.verb {
        SubscriptionVerb::List {
            endpoint,
            resource_id,
            page: p,
        } => {
            let mut q = p.query();
            if let Some(e) = endpoint {
                q.push(("webhookEndpointId", e));
            }
            if let Some(r) = resource_id {
                q.push(("resourceId", r));
            }
            let list = client.list(&[S], q, p.all).await?;
            list_page(&conn, &list, SUBSCRIPTION_COLUMNS, "No subscriptions.");
        }
        SubscriptionVerb::Create {
            endpoint,
            resource,
            events,
        } => {
            let body = json!({
                "webhookEndpointId": endpoint,
                "resourceType": resource.kind,
                "resourceId": resource.id,
                "enabledEvents": events,
            });
            show(&conn, &client.post(&[S], &body).await?);
        }
        SubscriptionVerb::Delete { id } => {
            let v = client.delete(&[S, &id]).await?;
            if conn.json {
                output::json(&v);
            } else {
                output::line(format!("Deleted {id}"));
            }
        }
    }
    Ok(())
}

// ------------------------------------------------------------------- events

#[derive(Debug, Args)]
pub struct Events {
    #[command(flatten)]
    api: ApiOpts,
    #[command(subcommand)]
    verb: EventVerb,
}

#[derive(Debug, Subcommand)]
enum EventVerb {
    /// Publish one event, or every event of a file.
    #[command(
        after_help = "Examples:\n  hookrelay events send --type extract_run.processed --data '{\"id\":\"exr_1\",\"status\":\"PROCESSED\"}'\n  hookrelay events send --type extract_run.processed --data @payload.json --resource extractor:ex_123\n  hookrelay events send --file events.jsonl   (one {\"eventType\":…,\"payload\":…} per line, or a JSON array)"
    )]
    Send(SendArgs),
    /// List published events, newest first.
    #[command(
        after_help = "Example:\n  hookrelay events list --type extract_run.failed --since 24h"
    )]
    List {
        /// Only events of this type.
        #[arg(long = "type", value_name = "TYPE")]
        event_type: Option<String>,
        /// Only events published at or after this time (RFC 3339, or an age such as 12h).
        #[arg(long, value_name = "TIME", value_parser = parse_time)]
        since: Option<OffsetDateTime>,
        /// Only events published before this time.
        #[arg(long, value_name = "TIME", value_parser = parse_time)]
        until: Option<OffsetDateTime>,
        #[command(flatten)]
        page: PageOpts,
    },
    /// Show one event.
    #[command(after_help = "Example:\n  hookrelay events get evt_01J…")]
    Get { id: String },
}

#[derive(Debug, Args)]
struct SendArgs {
    /// The event type (its current name).
    #[arg(long = "type", value_name = "TYPE", required_unless_present = "file")]
    event_type: Option<String>,
    /// The payload: a JSON object, @FILE to read it from a file, or @- from stdin.
    #[arg(long, value_name = "JSON|@FILE", required_unless_present = "file")]
    data: Option<String>,
    /// The resource the event is about, as TYPE:ID (for subscriptions).
    #[arg(long, value_name = "TYPE:ID", value_parser = parse_resource)]
    resource: Option<Resource>,
    /// Publishing again with the same key within 24 h returns the first event.
    #[arg(long, value_name = "KEY")]
    idempotency_key: Option<String>,
    /// Publish every event of a file: JSON lines or one JSON array of
    /// {"eventType", "payload", "resource"?} objects, in batches of 1,000.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["event_type", "data", "resource", "idempotency_key"])]
    file: Option<PathBuf>,
}

const EVENT_COLUMNS: &[(&str, &str)] = &[
    ("ID", "id"),
    ("TYPE", "eventType"),
    ("CREATED", "createdAt"),
    ("DELIVERIES", "deliveryCount"),
];

pub async fn events(cmd: Events) -> anyhow::Result<()> {
    let (client, conn) = connect(&cmd.api)?;
    match cmd.verb {
        EventVerb::Send(a) => match a.file {
            Some(path) => send_file(&client, &conn, &path).await,
            None => {
                let (Some(t), Some(d)) = (a.event_type, a.data) else {
                    bail!("give --type and --data, or --file");
                };
                let payload = read_data(&d)?;
                let mut body = json!({ "eventType": t, "payload": payload });
                if let Some(r) = a.resource {
                    body["resource"] = json!({ "type": r.kind, "id": r.id });
                }
                let ev = client
                    .post_idempotent(&["events"], &body, a.idempotency_key.as_deref())
                    .await?;
                show(&conn, &ev);
                Ok(())
            }
        },
        EventVerb::List {
            event_type,
            since,
            until,
            page: p,
        } => {
            let mut q = p.query();
            if let Some(t) = event_type {
                q.push(("eventType", t));
            }
            if let Some(s) = since {
                q.push(("since", rfc3339(s)));
            }
            if let Some(u) = until {
                q.push(("until", rfc3339(u)));
            }
            let list = client.list(&["events"], q, p.all).await?;
            list_page(&conn, &list, EVENT_COLUMNS, "No events.");
            Ok(())
        }
        EventVerb::Get { id } => {
            show(&conn, &client.get(&["events", &id], &[]).await?);
            Ok(())
        }
    }
}

/// `--data`'s payload: inline JSON, `@file`, or `@-` for stdin.
fn read_data(arg: &str) -> anyhow::Result<Value> {
    let text = match arg.strip_prefix('@') {
        Some("-") => std::io::read_to_string(std::io::stdin()).context("reading stdin")?,
        Some(path) => std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?,
        None => arg.to_owned(),
    };
    let v: Value = serde_json::from_str(&text).context("--data is not JSON")?;
    if !v.is_object() {
        bail!("--data must be a JSON object");
    }
    Ok(v)
}

/// The most events in one batch request (the API's own limit) and the
/// most bytes (well under the server's default batch body limit).
const BATCH_EVENTS: usize = 1000;
const BATCH_BYTES: usize = 8 * 1024 * 1024;

/// The publish requests of a bulk file: JSON lines, or one JSON array.
fn read_events(text: &str) -> anyhow::Result<Vec<Value>> {
    if text.trim_start().starts_with('[') {
        let v: Vec<Value> = serde_json::from_str(text).context("the file is not a JSON array")?;
        return Ok(v);
    }
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).with_context(|| format!("line {} is not JSON", i + 1))
        })
        .collect()
}

/// Cuts `events` into batches within both limits, keeping their order.
fn batches(events: Vec<Value>) -> Vec<Vec<Value>> {
    let mut out: Vec<Vec<Value>> = Vec::new();
    let mut bytes = 0;
    for ev in events {
        let size = ev.to_string().len() + 1;
        let full = out
            .last()
            .is_none_or(|b| b.len() >= BATCH_EVENTS || bytes + size > BATCH_BYTES);
        if full {
            out.push(Vec::new());
            bytes = 0;
        }
        bytes += size;
        out.last_mut().expect("just pushed").push(ev);
    }
    out
}

async fn send_file(client: &Client, conn: &Conn, path: &std::path::Path) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let events = read_events(&text).with_context(|| format!("reading {}", path.display()))?;
    if events.is_empty() {
        bail!("{} holds no events", path.display());
    }
    let total = events.len();
    let bar = output::progress(total as u64, "Publishing", conn.json);
    let mut results = Vec::with_capacity(total);
    for batch in batches(events) {
        let n = batch.len() as u64;
        let answer = client
            .post(&["events", "batch"], &json!({ "events": batch }))
            .await
            .with_context(|| format!("after {} of {total} events were published", results.len()))?;
        if let Value::Array(items) = &answer["data"] {
            results.extend(items.iter().cloned());
        }
        bar.inc(n);
    }
    bar.finish_and_clear();
    let rejected: Vec<(usize, &Value)> = results
        .iter()
        .enumerate()
        .filter(|(_, r)| r.get("error").is_some())
        .collect();
    if conn.json {
        output::json(&json!({ "object": "list", "data": results }));
    } else {
        output::line(format!(
            "Published {} of {total} events",
            total - rejected.len()
        ));
        for (i, r) in &rejected {
            eprintln!(
                "  event {} rejected: {} ({})",
                i + 1,
                output::cell(&r["error"]["message"]),
                output::cell(&r["error"]["code"])
            );
        }
    }
    if !rejected.is_empty() {
        bail!("{} of {total} events were rejected", rejected.len());
    }
    Ok(())
}

// --------------------------------------------------------------- deliveries

#[derive(Debug, Args)]
pub struct Deliveries {
    #[command(flatten)]
    api: ApiOpts,
    #[command(subcommand)]
    verb: DeliveryVerb,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum DeliveryStatus {
    Pending,
    Succeeded,
    Failed,
    Cancelled,
}

#[derive(Debug, Subcommand)]
enum DeliveryVerb {
    /// List deliveries, newest first.
    #[command(
        after_help = "Example:\n  hookrelay deliveries list --endpoint webhook_endpoint_01J… --status failed --since 24h"
    )]
    List {
        /// Only deliveries to this endpoint.
        #[arg(long, value_name = "ID")]
        endpoint: Option<String>,
        /// Only deliveries of this event.
        #[arg(long, value_name = "ID")]
        event: Option<String>,
        /// Only deliveries of this event type.
        #[arg(long = "type", value_name = "TYPE")]
        event_type: Option<String>,
        /// Only deliveries in this state.
        #[arg(long)]
        status: Option<DeliveryStatus>,
        /// Only deliveries created at or after this time (RFC 3339, or an age such as 12h).
        #[arg(long, value_name = "TIME", value_parser = parse_time)]
        since: Option<OffsetDateTime>,
        /// Only deliveries created before this time.
        #[arg(long, value_name = "TIME", value_parser = parse_time)]
        until: Option<OffsetDateTime>,
        #[command(flatten)]
        page: PageOpts,
    },
    /// Show a delivery and every attempt.
    #[command(after_help = "Example:\n  hookrelay deliveries get webhook_delivery_01J…")]
    Get { id: String },
    /// Deliver again now (a new attempt, whatever the delivery's state).
    #[command(after_help = "Example:\n  hookrelay deliveries retry webhook_delivery_01J…")]
    Retry { id: String },
}

const DELIVERY_COLUMNS: &[(&str, &str)] = &[
    ("ID", "id"),
    ("EVENT TYPE", "eventType"),
    ("ENDPOINT", "webhookEndpointId"),
    ("STATUS", "status"),
    ("ATTEMPTS", "attemptCount"),
    ("CREATED", "createdAt"),
];

const ATTEMPT_COLUMNS: &[(&str, &str)] = &[
    ("#", "attemptNumber"),
    ("STARTED", "startedAt"),
    ("STATUS", "responseStatus"),
    ("MS", "durationMs"),
    ("ERROR", "errorMessage"),
];

pub async fn deliveries(cmd: Deliveries) -> anyhow::Result<()> {
    let (client, conn) = connect(&cmd.api)?;
    const D: &str = "webhook_deliveries";
    match cmd.verb {
        DeliveryVerb::List {
            endpoint,
            event,
            event_type,
            status,
            since,
            until,
            page: p,
        } => {
            let mut q = p.query();
            let filters = [
                ("webhookEndpointId", endpoint),
                ("eventId", event),
                ("eventType", event_type),
                ("status", status.map(value_name)),
                ("since", since.map(rfc3339)),
                ("until", until.map(rfc3339)),
            ];
            q.extend(filters.into_iter().filter_map(|(k, v)| Some((k, v?))));
            let list = client.list(&[D], q, p.all).await?;
            list_page(&conn, &list, DELIVERY_COLUMNS, "No deliveries.");
        }
        DeliveryVerb::Get { id } => {
            let d = client.get(&[D, &id], &[]).await?;
            if conn.json {
                output::json(&d);
            } else {
                let mut head = d.clone();
                if let Some(o) = head.as_object_mut() {
                    o.remove("attempts");
                }
                output::line(pairs(&head, &[]));
                let attempts = d["attempts"].as_array().map(Vec::as_slice).unwrap_or(&[]);
                if !attempts.is_empty() {
                    output::line(format!("\n{}", table(attempts, ATTEMPT_COLUMNS)));
                }
            }
        }
        DeliveryVerb::Retry { id } => {
            show(&conn, &client.post(&[D, &id, "retry"], &json!({})).await?)
        }
    }
    Ok(())
}

// -------------------------------------------------------------- event types

#[derive(Debug, Args)]
pub struct EventTypes {
    #[command(flatten)]
    api: ApiOpts,
    #[command(subcommand)]
    verb: EventTypeVerb,
}

#[derive(Debug, Subcommand)]
enum EventTypeVerb {
    /// List the catalog's event types for one API version.
    #[command(after_help = "Example:\n  hookrelay event-types list --api-version 2025-04-21")]
    List {
        /// The API version [default: the server's current].
        #[arg(long, value_name = "V")]
        api_version: Option<String>,
    },
}

const EVENT_TYPE_COLUMNS: &[(&str, &str)] = &[
    ("NAME", "name"),
    ("CURRENT NAME", "canonicalName"),
    ("GLOBAL", "global"),
    ("RESOURCE TYPES", "resourceTypes"),
];

pub async fn event_types(cmd: EventTypes) -> anyhow::Result<()> {
    let (client, conn) = connect(&cmd.api)?;
    match cmd.verb {
        EventTypeVerb::List { api_version } => {
            let q: Vec<(&str, String)> =
                api_version.map(|v| ("apiVersion", v)).into_iter().collect();
            let list = client.get(&["event_types"], &q).await?;
            if conn.json {
                output::json(&list);
            } else {
                output::line(format!("API version {}", output::cell(&list["apiVersion"])));
                page(&list, EVENT_TYPE_COLUMNS, "No event types.");
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_long_window_is_cut_into_consecutive_slices() {
        let since = datetime!(2026-03-01 00:00 UTC);
        let now = datetime!(2026-03-01 05:30 UTC);
        let s = slices(since, None, now);
        assert_eq!(s.len(), 6);
        assert_eq!(s[0].0, since);
        for w in s.windows(2) {
            assert_eq!(w[0].1, Some(w[1].0), "slices touch");
        }
        assert_eq!(
            s.last().unwrap().1,
            None,
            "the last reaches the server's now"
        );
        let until = datetime!(2026-03-01 00:10 UTC);
        assert_eq!(slices(since, Some(until), now), vec![(since, Some(until))]);
        let year = slices(since, Some(datetime!(2027-03-01 00:00 UTC)), now);
        assert_eq!(year.len() as i64, MAX_SLICES);
    }

    #[test]
    fn batches_keep_order_within_both_limits() {
        let evs: Vec<Value> = (0..2500).map(|i| json!({ "n": i })).collect();
        let b = batches(evs);
        assert_eq!(
            b.iter().map(Vec::len).collect::<Vec<_>>(),
            [1000, 1000, 500]
        );
        assert_eq!(b[1][0]["n"], 1000);
        let big = "x".repeat(3 * 1024 * 1024);
        let b = batches((0..5).map(|_| json!({ "p": big })).collect());
        assert_eq!(b.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2, 1]);
    }

    #[test]
    fn bulk_files_are_lines_or_an_array() {
        assert_eq!(read_events("{\"a\":1}\n\n{\"a\":2}\n").unwrap().len(), 2);
        assert_eq!(
            read_events(" [{\"a\":1},{\"a\":2},{\"a\":3}]")
                .unwrap()
                .len(),
            3
        );
        let e = read_events("{\"a\":1}\nnope\n").unwrap_err();
        assert!(format!("{e:#}").contains("line 2"), "{e:#}");
    }

    #[test]
    fn times_are_rfc3339_or_an_age() {
        assert_eq!(
            parse_time("2026-03-01T12:00:00Z").unwrap(),
            datetime!(2026-03-01 12:00 UTC)
        );
        let t = parse_time("2h").unwrap();
        let age = OffsetDateTime::now_utc() - t;
        assert!(
            age >= time::Duration::hours(2)
                && age < time::Duration::hours(2) + time::Duration::minutes(1)
        );
        assert!(parse_time("2w").is_err());
        assert!(parse_time("9999999999d").is_err());
        assert!(parse_time("99999999999999999999d").is_err());
        assert!(parse_time("yesterday").is_err());
    }

    #[test]
    fn resources_and_headers_parse() {
        let r = parse_resource("extractor:ex_1").unwrap();
        assert_eq!((r.kind.as_str(), r.id.as_str()), ("extractor", "ex_1"));
        assert!(parse_resource("ex_1").is_err());
        assert_eq!(
            parse_header("X-Team:  billing ").unwrap(),
            ("X-Team".to_owned(), "billing".to_owned())
        );
        assert!(parse_header("nocolon").is_err());
    }
}
