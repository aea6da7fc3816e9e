//! Endpoints: round trips, updates, lists and pagination, deletion and what it
//! does to deliveries and subscriptions, and the routing snapshot.

use std::collections::BTreeMap;
use std::sync::Arc;

use hookrelay_core::cursor::SortDir;
use hookrelay_core::model::{
    AdvancedOptions, CreatedBy, DeliveryStatus, DisabledReason, Endpoint, EndpointSecrets,
    EndpointStatus, PayloadFormat, PayloadOptions, SignatureScheme,
};
use hookrelay_core::secret::Secret;
use hookrelay_store::{
    DeliveryFilter, EndpointFilter, ErrorKind, PageRequest, Store, SubscriptionFilter,
};

use crate::support::*;

fn sorted(mut v: Vec<Endpoint>) -> Vec<Endpoint> {
    v.sort_by(|a, b| a.id.cmp(&b.id));
    v
}

pub async fn endpoint_round_trips_every_field(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let mut e = endpoint(&ws, t(0));
    e.url = hookrelay_core::parsed::EndpointUrl::from_trusted(
        "https://receiver.example.com/hooks?tenant=7&x=%20".into(),
    );
    e.name = "Ünïcode name ✓".into();
    e.status = EndpointStatus::Disabled;
    e.disabled_reason = Some(DisabledReason::Manual);
    e.enabled_events = vec![
        "processor_run.processed".into(),
        "processor_run.failed".into(),
        "parser_run.processed".into(),
    ];
    e.api_version = hookrelay_core::parsed::ApiVersion::from_trusted("2025-04-21".into());
    e.advanced_options = AdvancedOptions {
        headers: Some(BTreeMap::from([
            ("x-tenant".to_owned(), "t-7".to_owned()),
            ("x-other".to_owned(), "with \"quotes\"".to_owned()),
        ])),
        payload: Some(PayloadOptions {
            format: PayloadFormat::Url,
            url_threshold_bytes: Some(4096),
        }),
    };
    e.signature_scheme = SignatureScheme::StandardWebhooks;
    e.retry_schedule = Some(vec![5, 60, 300]);
    e.rate_limit_per_second = Some(25);
    e.secrets = EndpointSecrets {
        secret: Secret::new("whsec_bmV3LXNlY3JldA==".into()),
        previous: Some(Secret::new("whsec_b2xkLXNlY3JldA==".into())),
        previous_until: Some(t(HOUR)),
    };
    e.created_by = Some(CreatedBy {
        kind: "api_key".into(),
        name: "ci".into(),
    });
    e.updated_at = t(SEC);
    e.failing_since = Some(t(500));
    store.insert_endpoint(&e, None).await.unwrap();
    assert_eq!(get_endpoint(&*store, &e).await, e);

    // And the plainest one: every optional field empty.
    let plain = endpoint(&ws, t(MIN));
    store.insert_endpoint(&plain, None).await.unwrap();
    assert_eq!(get_endpoint(&*store, &plain).await, plain);
}

pub async fn endpoint_get_from_other_workspace_is_none(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let other = workspace(&*store, "globex").await;
    let e = add_endpoint(&*store, &ws, t(0)).await;
    assert_eq!(store.get_endpoint(&other, &e.id).await.unwrap(), None);
    let page = store
        .list_endpoints(&other, &EndpointFilter::default(), &PageRequest::default())
        .await
        .unwrap();
    assert!(page.items.is_empty());
}

pub async fn endpoint_duplicate_id_is_a_conflict(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let e = add_endpoint(&*store, &ws, t(0)).await;
    let mut again = e.clone();
    again.url =
        hookrelay_core::parsed::EndpointUrl::from_trusted("https://elsewhere.example.com/".into());
    let err = store.insert_endpoint(&again, None).await.unwrap_err();
    assert!(err.kind() == ErrorKind::Conflict, "got {err:?}");
    assert_eq!(get_endpoint(&*store, &e).await, e);
}

pub async fn endpoint_update_replaces_mutable_fields(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let e = add_endpoint(&*store, &ws, t(0)).await;
    let untouched = add_endpoint(&*store, &ws, t(SEC)).await;

    let mut u = e.clone();
    u.url = hookrelay_core::parsed::EndpointUrl::from_trusted("https://new.example.com/v2".into());
    u.name = "renamed".into();
    u.status = EndpointStatus::Disabled;
    u.disabled_reason = Some(DisabledReason::Manual);
    u.enabled_events = vec!["split_run.processed".into(), "split_run.failed".into()];
    u.api_version = hookrelay_core::parsed::ApiVersion::from_trusted("2025-04-21".into());
    u.advanced_options = AdvancedOptions {
        headers: Some(BTreeMap::from([("x-a".to_owned(), "b".to_owned())])),
        payload: Some(PayloadOptions {
            format: PayloadFormat::Json,
            url_threshold_bytes: None,
        }),
    };
    u.signature_scheme = SignatureScheme::BodyHmac;
    u.retry_schedule = Some(vec![1, 2, 3]);
    u.rate_limit_per_second = Some(3);
    u.secrets = EndpointSecrets {
        secret: Secret::new("whs_rotated".into()),
        previous: e
            .secrets
            .previous
            .clone()
            .or(Some(e.secrets.secret.clone())),
        previous_until: Some(t(DAY)),
    };
    u.updated_at = t(HOUR);
    assert!(store.update_endpoint(&u, e.updated_at).await.unwrap());
    assert_eq!(get_endpoint(&*store, &e).await, u);

    // Back to plain values: optional fields can be cleared again.
    let mut back = u.clone();
    back.status = EndpointStatus::Enabled;
    back.disabled_reason = None;
    back.advanced_options = AdvancedOptions::default();
    back.retry_schedule = None;
    back.rate_limit_per_second = None;
    back.secrets = EndpointSecrets::new(Secret::new("whs_rotated".into()));
    back.updated_at = t(2 * HOUR);
    assert!(store.update_endpoint(&back, u.updated_at).await.unwrap());
    assert_eq!(get_endpoint(&*store, &e).await, back);

    assert_eq!(get_endpoint(&*store, &untouched).await, untouched);
}

/// `update_endpoint` replaces the *mutable* fields: the creation time and
/// creator stay what they were, whatever the record passed in says.
pub async fn endpoint_update_keeps_immutable_fields(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let mut e = endpoint(&ws, t(0));
    e.created_by = Some(CreatedBy {
        kind: "api_key".into(),
        name: "ci".into(),
    });
    store.insert_endpoint(&e, None).await.unwrap();

    let mut u = e.clone();
    u.name = "renamed".into();
    u.created_at = t(DAY);
    u.created_by = None;
    u.updated_at = t(HOUR);
    assert!(store.update_endpoint(&u, e.updated_at).await.unwrap());
    let got = get_endpoint(&*store, &e).await;
    assert_eq!(got.name, "renamed");
    assert_eq!(got.created_at, e.created_at);
    assert_eq!(got.created_by, e.created_by);
}

pub async fn endpoint_update_of_unknown_deleted_or_foreign_returns_false(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let other = workspace(&*store, "globex").await;

    // Unknown: update never inserts.
    let ghost = endpoint(&ws, t(0));
    assert!(!store
        .update_endpoint(&ghost, ghost.updated_at)
        .await
        .unwrap());
    assert_eq!(store.get_endpoint(&ws, &ghost.id).await.unwrap(), None);

    // Another workspace's endpoint: not found, not changed.
    let e = add_endpoint(&*store, &ws, t(SEC)).await;
    let mut foreign = e.clone();
    foreign.workspace_id = other.clone();
    foreign.url =
        hookrelay_core::parsed::EndpointUrl::from_trusted("https://attacker.example.com/".into());
    assert!(!store
        .update_endpoint(&foreign, foreign.updated_at)
        .await
        .unwrap());
    assert_eq!(get_endpoint(&*store, &e).await, e);
    assert_eq!(store.get_endpoint(&other, &e.id).await.unwrap(), None);

    // Deleted.
    assert!(store.delete_endpoint(&ws, &e.id, t(MIN)).await.unwrap());
    let mut late = e.clone();
    late.name = "too late".into();
    assert!(!store.update_endpoint(&late, late.updated_at).await.unwrap());
    assert_eq!(store.get_endpoint(&ws, &e.id).await.unwrap(), None);
}

pub async fn endpoint_list_filters_by_status_and_workspace(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let other = workspace(&*store, "globex").await;
    let mut enabled = Vec::new();
    let mut disabled = Vec::new();
    for i in 0..5 {
        let mut e = endpoint(&ws, t(i * SEC));
        if i % 2 == 1 {
            e.status = EndpointStatus::Disabled;
            e.disabled_reason = Some(DisabledReason::Manual);
            disabled.push(e.clone());
        } else {
            enabled.push(e.clone());
        }
        store.insert_endpoint(&e, None).await.unwrap();
    }
    let foreign = add_endpoint(&*store, &other, t(10 * SEC)).await;

    let all_page = PageRequest {
        limit: 100,
        ..PageRequest::default()
    };
    let list = |status| {
        let (s, ws, p) = (store.clone(), ws.clone(), all_page.clone());
        async move {
            s.list_endpoints(
                &ws,
                &EndpointFilter {
                    status,
                    api_version: None,
                },
                &p,
            )
            .await
            .unwrap()
        }
    };
    let all = list(None).await;
    assert!(all.next.is_none());
    assert_eq!(
        sorted(all.items),
        sorted(enabled.iter().chain(&disabled).cloned().collect())
    );
    assert_eq!(
        sorted(list(Some(EndpointStatus::Enabled)).await.items),
        enabled
    );
    assert_eq!(
        sorted(list(Some(EndpointStatus::Disabled)).await.items),
        disabled
    );

    let theirs = store
        .list_endpoints(&other, &EndpointFilter::default(), &all_page)
        .await
        .unwrap();
    assert_eq!(theirs.items, vec![foreign]);
}

async fn pagination_fixture(
    store: &Arc<dyn Store>,
    n: i64,
) -> (hookrelay_core::ids::WorkspaceId, Vec<String>) {
    let ws = workspace(&**store, "acme").await;
    let other = workspace(&**store, "globex").await;
    let mut ids = Vec::new();
    for i in 0..n {
        let e = add_endpoint(&**store, &ws, t(i * SEC)).await;
        ids.push(e.id.to_string());
        // Noise that must never show up: another workspace's, and a deleted one.
        add_endpoint(&**store, &other, t(i * SEC + 1)).await;
    }
    let gone = add_endpoint(&**store, &ws, t(3 * SEC + 500)).await;
    assert!(store.delete_endpoint(&ws, &gone.id, t(HOUR)).await.unwrap());
    (ws, ids)
}

async fn check_endpoint_pages(store: Arc<dyn Store>, dir: SortDir) {
    let (ws, ids) = pagination_fixture(&store, 7).await;
    for limit in [1, 3, 7, 50] {
        let got = walk(
            dir,
            limit,
            |e: &Endpoint| e.id.to_string(),
            |p| {
                let (s, ws) = (store.clone(), ws.clone());
                async move { s.list_endpoints(&ws, &EndpointFilter::default(), &p).await }
            },
        )
        .await;
        assert_complete_order(&got, &ids, dir);
    }
}

pub async fn endpoint_pagination_asc_has_no_gaps_or_duplicates(store: Arc<dyn Store>) {
    check_endpoint_pages(store, SortDir::Asc).await;
}

pub async fn endpoint_pagination_desc_has_no_gaps_or_duplicates(store: Arc<dyn Store>) {
    check_endpoint_pages(store, SortDir::Desc).await;
}

pub async fn endpoint_pagination_exact_multiple_ends_with_no_next(store: Arc<dyn Store>) {
    let (ws, ids) = pagination_fixture(&store, 6).await;
    for dir in [SortDir::Asc, SortDir::Desc] {
        let first = store
            .list_endpoints(
                &ws,
                &EndpointFilter::default(),
                &PageRequest {
                    limit: 3,
                    after: None,
                    dir,
                },
            )
            .await
            .unwrap();
        assert_eq!(first.items.len(), 3);
        let second = store
            .list_endpoints(
                &ws,
                &EndpointFilter::default(),
                &PageRequest {
                    limit: 3,
                    after: first.next.clone(),
                    dir,
                },
            )
            .await
            .unwrap();
        assert_eq!(second.items.len(), 3);
        assert!(second.next.is_none(), "the last page has no next ({dir:?})");
        let got: Vec<String> = first
            .items
            .iter()
            .chain(&second.items)
            .map(|e| e.id.to_string())
            .collect();
        assert_complete_order(&got, &ids, dir);
    }
    // A page that holds everything has no next either.
    let whole = store
        .list_endpoints(
            &ws,
            &EndpointFilter::default(),
            &PageRequest {
                limit: 6,
                after: None,
                dir: SortDir::Asc,
            },
        )
        .await
        .unwrap();
    assert_eq!(whole.items.len(), 6);
    assert!(whole.next.is_none());
}

/// A cursor names an id, not a row: the item it names may be deleted
/// between two page reads, and the next page still starts right after it.
pub async fn endpoint_pagination_survives_deletion_of_the_cursor_item(store: Arc<dyn Store>) {
    for dir in [SortDir::Asc, SortDir::Desc] {
        let (ws, ids) = pagination_fixture(&store, 6).await;
        let first = store
            .list_endpoints(
                &ws,
                &EndpointFilter::default(),
                &PageRequest {
                    limit: 2,
                    after: None,
                    dir,
                },
            )
            .await
            .unwrap();
        let cursor = first.next.clone().expect("more pages");
        let cursor_id = hookrelay_core::ids::EndpointId::parse(&cursor).expect("an endpoint id");
        assert!(store
            .delete_endpoint(&ws, &cursor_id, t(DAY))
            .await
            .unwrap());

        let mut got: Vec<String> = first.items.iter().map(|e| e.id.to_string()).collect();
        let mut after = Some(cursor);
        while let Some(a) = after {
            let page = store
                .list_endpoints(
                    &ws,
                    &EndpointFilter::default(),
                    &PageRequest {
                        limit: 2,
                        after: Some(a),
                        dir,
                    },
                )
                .await
                .unwrap();
            got.extend(page.items.iter().map(|e| e.id.to_string()));
            after = page.next;
        }
        // The deleted item was read on the first page; nothing is missed or repeated.
        assert_complete_order(&got, &ids, dir);
    }
}

pub async fn endpoint_delete_hides_it_and_second_delete_returns_false(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let e = add_endpoint(&*store, &ws, t(0)).await;
    let kept = add_endpoint(&*store, &ws, t(SEC)).await;

    assert!(store.delete_endpoint(&ws, &e.id, t(MIN)).await.unwrap());
    assert_eq!(store.get_endpoint(&ws, &e.id).await.unwrap(), None);
    let page = store
        .list_endpoints(&ws, &EndpointFilter::default(), &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(page.items, vec![kept.clone()]);
    for scope in [Some(&ws), None] {
        let (eps, _) = store.load_routing(scope).await.unwrap();
        assert_eq!(eps, vec![kept.clone()]);
    }
    assert!(!store.delete_endpoint(&ws, &e.id, t(2 * MIN)).await.unwrap());
}

pub async fn endpoint_delete_cancels_pending_deliveries_and_keeps_history(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let doomed = add_endpoint(&*store, &ws, t(0)).await;
    let other = add_endpoint(&*store, &ws, t(1)).await;

    // Pending to both, one already delivered, one in flight (leased).
    let (ev, ids) = publish(&*store, &ws, t(SEC), &[&doomed, &other]).await;
    let (pending, others) = (ids[0].clone(), ids[1].clone());
    let done = publish_to(&*store, &doomed, t(2 * SEC)).await;
    finish(
        &*store,
        &done,
        &doomed.id,
        DeliveryStatus::Succeeded,
        t(3 * SEC),
    )
    .await;
    let leased_ne = new_event(event(&ws, t(4 * SEC)), &[&doomed]);
    let in_flight = leased_ne.deliveries[0].id.clone();
    publish_new(&*store, leased_ne, Some(lease("node-a", t(MIN)))).await;

    assert!(store
        .delete_endpoint(&ws, &doomed.id, t(10 * SEC))
        .await
        .unwrap());

    assert_eq!(
        get_delivery(&*store, &ws, &pending).await.0.status,
        DeliveryStatus::Cancelled
    );
    assert_eq!(
        get_delivery(&*store, &ws, &in_flight).await.0.status,
        DeliveryStatus::Cancelled
    );
    let (d, attempts) = get_delivery(&*store, &ws, &done).await;
    assert_eq!(d.status, DeliveryStatus::Succeeded);
    assert_eq!(attempts.len(), 1, "history stays");
    assert_eq!(
        get_delivery(&*store, &ws, &others).await.0.status,
        DeliveryStatus::Pending
    );

    // Nothing of the deleted endpoint is handed out any more, now or later.
    assert_eq!(claim_ids(&*store, t(DAY), "node-b").await, vec![others]);

    // Its history is still listed and summarised.
    let filter = DeliveryFilter {
        endpoint_id: Some(doomed.id.clone()),
        ..DeliveryFilter::default()
    };
    let listed = store
        .list_deliveries(&ws, &filter, &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 3);
    let (_, summaries) = store.get_event(&ws, &ev.id).await.unwrap().unwrap();
    let s = summaries.iter().find(|s| s.delivery_id == pending).unwrap();
    assert_eq!(s.status, DeliveryStatus::Cancelled);
}

pub async fn endpoint_delete_removes_its_subscriptions(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let doomed = add_endpoint(&*store, &ws, t(0)).await;
    let kept = add_endpoint(&*store, &ws, t(SEC)).await;
    let s1 = add_subscription(&*store, &doomed, "wf_1", t(2 * SEC)).await;
    let s2 = add_subscription(&*store, &doomed, "wf_2", t(3 * SEC)).await;
    let s3 = add_subscription(&*store, &kept, "wf_1", t(4 * SEC)).await;

    assert!(store
        .delete_endpoint(&ws, &doomed.id, t(MIN))
        .await
        .unwrap());

    assert_eq!(store.get_subscription(&ws, &s1.id).await.unwrap(), None);
    assert_eq!(store.get_subscription(&ws, &s2.id).await.unwrap(), None);
    let page = store
        .list_subscriptions(&ws, &SubscriptionFilter::default(), &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(page.items, vec![s3.clone()]);
    let (_, subs) = store.load_routing(Some(&ws)).await.unwrap();
    assert_eq!(subs, vec![s3]);
    assert!(!store.delete_subscription(&ws, &s1.id).await.unwrap());
}

pub async fn endpoint_delete_from_other_workspace_returns_false(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let other = workspace(&*store, "globex").await;
    let e = add_endpoint(&*store, &ws, t(0)).await;
    let s = add_subscription(&*store, &e, "wf_1", t(SEC)).await;
    let d = publish_to(&*store, &e, t(2 * SEC)).await;

    assert!(!store.delete_endpoint(&other, &e.id, t(MIN)).await.unwrap());

    assert_eq!(get_endpoint(&*store, &e).await, e);
    assert_eq!(store.get_subscription(&ws, &s.id).await.unwrap(), Some(s));
    assert_eq!(
        get_delivery(&*store, &ws, &d).await.0.status,
        DeliveryStatus::Pending
    );
}

pub async fn load_routing_scopes_by_workspace_and_keeps_disabled(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let other = workspace(&*store, "globex").await;
    let on = add_endpoint(&*store, &ws, t(0)).await;
    let mut off = endpoint(&ws, t(SEC));
    off.status = EndpointStatus::Disabled;
    off.disabled_reason = Some(DisabledReason::Failing);
    store.insert_endpoint(&off, None).await.unwrap();
    let theirs = add_endpoint(&*store, &other, t(2 * SEC)).await;
    let s_on = add_subscription(&*store, &on, "wf_1", t(3 * SEC)).await;
    let s_theirs = add_subscription(&*store, &theirs, "wf_1", t(4 * SEC)).await;

    let (eps, subs) = store.load_routing(Some(&ws)).await.unwrap();
    assert_eq!(sorted(eps), sorted(vec![on.clone(), off.clone()]));
    assert_eq!(subs, vec![s_on.clone()]);

    let (eps, mut subs) = store.load_routing(None).await.unwrap();
    assert_eq!(sorted(eps), sorted(vec![on, off, theirs]));
    subs.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(subs, vec![s_on, s_theirs]);
}

/// An update made from a stale read (the endpoint changed meanwhile, e.g. it
/// was auto-disabled) does not overwrite the newer state.
pub async fn endpoint_update_from_a_stale_read_is_refused(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let e = endpoint(&ws, t(0));
    store.insert_endpoint(&e, None).await.unwrap();
    let mut first = e.clone();
    first.name = "first".into();
    first.updated_at = t(MIN);
    assert!(store.update_endpoint(&first, e.updated_at).await.unwrap());
    let mut stale = e.clone();
    stale.name = "stale".into();
    stale.updated_at = t(2 * MIN);
    assert!(!store.update_endpoint(&stale, e.updated_at).await.unwrap());
    assert_eq!(get_endpoint(&*store, &e).await.name, "first");
}

pub async fn endpoint_list_filters_by_api_version(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let a = endpoint(&ws, t(0));
    let mut b = endpoint(&ws, t(SEC));
    b.api_version = hookrelay_core::parsed::ApiVersion::from_trusted("v1".into());
    store.insert_endpoint(&a, None).await.unwrap();
    store.insert_endpoint(&b, None).await.unwrap();
    let page = store
        .list_endpoints(
            &ws,
            &EndpointFilter {
                status: None,
                api_version: Some("v1".into()),
            },
            &PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(page.items, vec![b]);
}
