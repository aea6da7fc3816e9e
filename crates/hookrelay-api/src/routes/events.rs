//! `/events`: publishing (single and batch) and reading events back.
//!
//! Publishing checks each event against the catalog and the limits, then
//! hands it to the deliveries service (`hookrelay_dispatch::Deliveries`),
//! which routes it, commits it with all its deliveries before the 202, and
//! gives the dispatcher what it leased.

use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use hookrelay_core::catalog::Catalog;
use hookrelay_core::ids::EventId;
use hookrelay_core::model::ResourceRef;
use hookrelay_core::parsed::{EventType, EventTypeError};
use hookrelay_core::time::Timestamp;
use hookrelay_core::validate;
use hookrelay_dispatch::Draft;
use hookrelay_store::{EventFilter, Published};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::{ApiError, ApiResult};
use crate::extract::{parse_json, parse_measured_json, read_body, Ctx, Query};
use crate::{ok, respond, views, ApiConfig, AppState, PageParams};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventInput {
    event_type: String,
    payload: Box<RawValue>,
    #[serde(default)]
    resource: Option<ResourceRef>,
    #[serde(default)]
    previous_data: Option<Box<RawValue>>,
    #[serde(default)]
    idempotency_key: Option<String>,
}

#[derive(Debug, Deserialize)]
struct BatchInput {
    events: Vec<Box<RawValue>>,
}

fn is_object(raw: &RawValue) -> bool {
    raw.get().trim_start().starts_with('{')
}

/// JSON that parses all the way down: `RawValue` only checks the syntax, so
/// it lets through numbers beyond f64's range (`1e999`) and lone surrogate
/// escapes (`"\ud800"`), which `serde_json::Value` (and so rendering a
/// payload for another API version, or a receiver's parser) refuses. Such a
/// payload would be stored, then rendered as an empty object or not parsed
/// at all by receivers, so it is refused at the door. Nothing is kept while
/// checking: no allocation beyond what the parser needs for escapes.
struct Representable;

impl<'de> Deserialize<'de> for Representable {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(Representable)
    }
}

impl<'de> serde::de::Visitor<'de> for Representable {
    type Value = Representable;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self, E> {
        Ok(self)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self, E> {
        Ok(self)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self, E> {
        Ok(self)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self, E> {
        Ok(self)
    }

    fn visit_str<E>(self, _: &str) -> Result<Self, E> {
        Ok(self)
    }

    fn visit_unit<E>(self) -> Result<Self, E> {
        Ok(self)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self, A::Error> {
        while seq.next_element::<Representable>()?.is_some() {}
        Ok(self)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self, A::Error> {
        while map.next_entry::<Representable, Representable>()?.is_some() {}
        Ok(self)
    }
}

/// Refuses `raw` (the field `field`) unless [`Representable`].
fn representable(field: &str, raw: &RawValue) -> ApiResult<()> {
    serde_json::from_str::<Representable>(raw.get())
        .map(|_| ())
        .map_err(|e| ApiError::bad_request("invalid_json", format!("{field}: {e}")))
}

/// Validates one input and works out its deliveries.
fn prepare(
    catalog: &Catalog,
    config: &ApiConfig,
    input: EventInput,
    header_key: Option<String>,
) -> ApiResult<Draft> {
    let event_type =
        EventType::parse(catalog, "eventType", &input.event_type).map_err(|e| match e {
            EventTypeError::TooLong(e) => ApiError::from(e),
            EventTypeError::Unknown(t) => ApiError::unprocessable(
                "unknown_event_type",
                format!(
                    "event type {} is not in the catalog (publish under the current name, e.g. extract_run.processed)",
                    validate::quote(&t)
                ),
            ),
        })?;
    if !is_object(&input.payload) {
        return Err(ApiError::bad_request(
            "invalid_request",
            "payload must be a JSON object",
        ));
    }
    // The whole event counts: previousData is stored and sent with it.
    let limit = config.max_event_bytes;
    let size =
        input.payload.get().len() + input.previous_data.as_ref().map_or(0, |p| p.get().len());
    if size > limit {
        return Err(ApiError::event_too_large(limit));
    }
    if let Some(p) = &input.previous_data {
        if !is_object(p) {
            return Err(ApiError::bad_request(
                "invalid_request",
                "previousData must be a JSON object or null",
            ));
        }
    }
    representable("payload", &input.payload)?;
    if let Some(p) = &input.previous_data {
        representable("previousData", p)?;
    }
    if let Some(r) = &input.resource {
        validate::required_chars("resource.type", &r.kind, validate::MAX_RESOURCE_TYPE_LEN)?;
        validate::required_chars("resource.id", &r.id, validate::MAX_RESOURCE_ID_LEN)?;
    }
    // The header is checked even when the body's key wins: the document
    // promises a bad one is refused, whatever else the request carries.
    for k in [&input.idempotency_key, &header_key].into_iter().flatten() {
        if k.is_empty() || k.len() > validate::MAX_IDEMPOTENCY_KEY_LEN {
            return Err(ApiError::bad_request(
                "invalid_request",
                format!(
                    "idempotencyKey (or the Idempotency-Key header) must be 1 to {} bytes",
                    validate::MAX_IDEMPOTENCY_KEY_LEN
                ),
            ));
        }
    }
    let key = input.idempotency_key.or(header_key);
    Ok(Draft {
        event_type,
        payload: input.payload.get().to_owned(),
        resource: input.resource,
        previous_data: input.previous_data.map(|p| p.get().to_owned()),
        idempotency_key: key,
    })
}

/// A `POST /events` body (already read within the size limit) as a checked
/// draft: everything the route does before it touches the store.
fn parse_event(
    catalog: &Catalog,
    config: &ApiConfig,
    bytes: &[u8],
    header_key: Option<String>,
) -> ApiResult<Draft> {
    let input: EventInput = parse_json(bytes)?;
    prepare(catalog, config, input, header_key)
}

/// A `POST /events/batch` body as one checked draft or error per item; an
/// error for the whole body if it is not a batch of 1 to
/// `max_batch_events` events.
fn parse_batch(
    catalog: &Catalog,
    config: &ApiConfig,
    bytes: &[u8],
) -> ApiResult<Vec<ApiResult<Draft>>> {
    let input: BatchInput = parse_json(bytes)?;
    let max = config.max_batch_events;
    if input.events.is_empty() || input.events.len() > max {
        return Err(ApiError::bad_request(
            "invalid_request",
            format!("events must hold 1 to {max} events"),
        ));
    }
    Ok(input
        .events
        .into_iter()
        .map(|raw| {
            parse_measured_json::<EventInput>(raw.get().as_bytes())
                .and_then(|i| prepare(catalog, config, i, None))
        })
        .collect())
}

/// The intake's parsing and validation, for the fuzz targets (`fuzz/`) and
/// their corpus replay test. Not an API: nothing here is stable.
#[doc(hidden)]
pub mod fuzzing {
    use super::*;

    /// What `POST /events` would do with `body` (and an `Idempotency-Key`
    /// header) up to storing it.
    pub fn check_event(
        catalog: &Catalog,
        config: &ApiConfig,
        body: &[u8],
        idempotency_key: Option<&str>,
    ) -> Result<Draft, ApiError> {
        parse_event(catalog, config, body, idempotency_key.map(str::to_owned))
    }

    /// What `POST /events/batch` would do with `body` up to storing it.
    pub fn check_batch(
        catalog: &Catalog,
        config: &ApiConfig,
        body: &[u8],
    ) -> Result<Vec<Result<Draft, ApiError>>, ApiError> {
        parse_batch(catalog, config, body)
    }
}

/// Publishes checked drafts through the deliveries service.
async fn commit(
    state: &AppState,
    ctx: &Ctx,
    drafts: Vec<Draft>,
    now: Timestamp,
) -> ApiResult<Vec<ApiResult<Published>>> {
    let results = state
        .inner
        .deliveries()
        .publish(&ctx.workspace_id, drafts, now)
        .await?;
    Ok(results
        .into_iter()
        .map(|r| r.map_err(ApiError::from))
        .collect())
}

fn header_key(headers: &HeaderMap) -> Option<String> {
    headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// `POST /events`
pub async fn publish(State(state): State<AppState>, ctx: Ctx, req: Request) -> ApiResult<Response> {
    let key = header_key(req.headers());
    let bytes = read_body(req, state.inner.config.max_event_bytes).await?;
    let prepared = parse_event(&state.inner.catalog, &state.inner.config, &bytes, key)?;
    let now = state.inner.clock.now();
    let res = commit(&state, &ctx, vec![prepared], now)
        .await?
        .pop()
        .ok_or_else(|| ApiError::internal("publish returned nothing"))??;
    let mut resp = respond(StatusCode::ACCEPTED, views::event(res.event()));
    if matches!(res, Published::Duplicate(_)) {
        resp.headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(resp)
}

/// `POST /events/batch`: up to 1,000 events; each stands or falls alone.
pub async fn publish_batch(
    State(state): State<AppState>,
    ctx: Ctx,
    req: Request,
) -> ApiResult<Response> {
    let bytes = read_body(req, state.inner.config.max_batch_bytes).await?;
    let items = parse_batch(&state.inner.catalog, &state.inner.config, &bytes)?;
    let now = state.inner.clock.now();
    let mut slots: Vec<Result<usize, ApiError>> = Vec::with_capacity(items.len());
    let mut prepared = Vec::new();
    for item in items {
        match item {
            Ok(p) => {
                slots.push(Ok(prepared.len()));
                prepared.push(p);
            }
            Err(e) => slots.push(Err(e)),
        }
    }
    let mut results: Vec<Option<ApiResult<Published>>> = if prepared.is_empty() {
        Vec::new()
    } else {
        commit(&state, &ctx, prepared, now)
            .await?
            .into_iter()
            .map(Some)
            .collect()
    };
    let item_error = |e: &ApiError| {
        views::BatchItem::Error(views::BatchItemError {
            error: views::BatchItemErrorBody {
                code: e.code,
                message: e.message.clone(),
            },
        })
    };
    let data: Vec<views::BatchItem> = slots
        .into_iter()
        .map(|slot| match slot {
            Ok(i) => match results[i].take() {
                Some(Ok(p)) => views::BatchItem::Event(views::event(p.event())),
                Some(Err(e)) => item_error(&e),
                None => item_error(&ApiError::internal("missing result")),
            },
            Err(e) => item_error(&e),
        })
        .collect();
    Ok(respond(
        StatusCode::ACCEPTED,
        views::EventBatchResult {
            object: "list",
            data,
        },
    ))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListParams {
    event_type: Option<String>,
    since: Option<String>,
    until: Option<String>,
    #[serde(flatten)]
    page: PageParams,
}

pub(crate) fn time_param(name: &'static str, v: Option<&str>) -> ApiResult<Option<Timestamp>> {
    match v {
        None | Some("") => Ok(None),
        Some(s) => {
            validate::max_chars(name, s, validate::MAX_TIME_LEN)?;
            Timestamp::parse_rfc3339(s).map(Some).ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_request",
                    format!("{name} must be an RFC 3339 time"),
                )
            })
        }
    }
}

pub async fn list(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<ListParams>,
) -> ApiResult<Response> {
    let page = q.page.to_request()?;
    if let Some(t) = &q.event_type {
        validate::max_chars("eventType", t, validate::MAX_EVENT_TYPE_LEN)?;
    }
    let filter = EventFilter {
        event_type: q.event_type.filter(|s| !s.is_empty()),
        since: time_param("since", q.since.as_deref())?,
        until: time_param("until", q.until.as_deref())?,
    };
    let p = state
        .inner
        .store
        .list_events(&ctx.workspace_id, &filter, &page)
        .await?;
    Ok(ok(views::page(p, page.dir, views::event)))
}

pub async fn get_one(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = EventId::parse(&id).ok_or_else(|| ApiError::not_found("event"))?;
    let (ev, summaries) = state
        .inner
        .store
        .get_event(&ctx.workspace_id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("event"))?;
    Ok(ok(views::event_full(&ev, &summaries)))
}

#[cfg(test)]
mod tests {
    use super::fuzzing::{check_batch, check_event};
    use super::*;

    fn check(body: &str) -> ApiResult<Draft> {
        check_event(
            &Catalog::builtin(),
            &ApiConfig::default(),
            body.as_bytes(),
            None,
        )
    }

    // Found by the event_intake fuzz target: payloads `serde_json::Value`
    // cannot hold were accepted, then rendered for a legacy API version as
    // an empty object (the payload dropped).
    #[test]
    fn payloads_that_do_not_parse_all_the_way_are_refused() {
        for bad in [
            r#"{"n": 1e999}"#,
            r#"{"n": [-2.5e400]}"#,
            &format!(r#"{{"n": {}}}"#, "9".repeat(400)),
            r#"{"s": "\ud800"}"#,
            r#"{"\udfff": 1}"#,
        ] {
            for body in [
                format!(r#"{{"eventType":"extract_run.processed","payload":{bad}}}"#),
                format!(
                    r#"{{"eventType":"extract_run.processed","payload":{{}},"previousData":{bad}}}"#
                ),
            ] {
                let e = check(&body).unwrap_err();
                assert_eq!((e.status.as_u16(), e.code), (400, "invalid_json"), "{body}");
                let batch = format!(r#"{{"events":[{body}]}}"#);
                let items =
                    check_batch(&Catalog::builtin(), &ApiConfig::default(), batch.as_bytes())
                        .unwrap();
                assert_eq!(items[0].as_ref().unwrap_err().code, "invalid_json");
            }
        }
        let ok = r#"{"eventType":"extract_run.processed","payload":{"n":1.7e308,"m":-0,"i":18446744073709551616,"s":"\ud83d\ude00\u0000"}}"#;
        let d = check(ok).unwrap();
        assert!(serde_json::from_str::<serde_json::Value>(&d.payload).is_ok());
    }
}
