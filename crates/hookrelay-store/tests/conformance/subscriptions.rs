//! Resource-scoped subscriptions: upsert, filters, updates, deletion, scope.

use std::sync::Arc;

use hookrelay_core::cursor::SortDir;
use hookrelay_core::ids::SubscriptionId;
use hookrelay_core::model::{ResourceType, Subscription};
use hookrelay_store::{PageRequest, Store, SubscriptionFilter};

use crate::support::*;

fn all() -> PageRequest {
    PageRequest {
        limit: 100,
        after: None,
        dir: SortDir::Asc,
    }
}

pub async fn subscription_upsert_creates_then_updates_same_row(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let e = add_endpoint(&*store, &ws, t(0)).await;
    let first = add_subscription(&*store, &e, "wf_1", t(SEC)).await;

    // The same endpoint and resource again, as a new request would build it.
    let mut again = subscription(&e, "wf_1", t(HOUR));
    again.enabled_events = vec![
        "workflow_run.failed".to_owned(),
        "workflow_run.needs_review".to_owned(),
    ];
    let (stored, created) = store.upsert_subscription(&again, None).await.unwrap();
    assert!(!created, "the existing subscription is updated");
    let expected = Subscription {
        enabled_events: again.enabled_events.clone(),
        ..first.clone()
    };
    assert_eq!(stored, expected, "same id and creation time, new events");
    assert_eq!(
        store.get_subscription(&ws, &first.id).await.unwrap(),
        Some(expected.clone())
    );
    assert_eq!(store.get_subscription(&ws, &again.id).await.unwrap(), None);
    let page = store
        .list_subscriptions(&ws, &SubscriptionFilter::default(), &all())
        .await
        .unwrap();
    assert_eq!(page.items, vec![expected]);
}

pub async fn subscription_upsert_other_resource_creates_new_row(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let e = add_endpoint(&*store, &ws, t(0)).await;
    let e2 = add_endpoint(&*store, &ws, t(1)).await;
    let a = add_subscription(&*store, &e, "wf_1", t(SEC)).await;
    // Another resource id, another endpoint, another resource type: all new.
    let b = add_subscription(&*store, &e, "wf_2", t(2 * SEC)).await;
    let c = add_subscription(&*store, &e2, "wf_1", t(3 * SEC)).await;
    let mut d = subscription(&e, "wf_1", t(4 * SEC));
    d.resource_type = ResourceType::Extractor;
    d.enabled_events = vec!["extract_run.processed".to_owned()];
    let (stored, created) = store.upsert_subscription(&d, None).await.unwrap();
    assert!(created);
    assert_eq!(stored, d);

    let page = store
        .list_subscriptions(&ws, &SubscriptionFilter::default(), &all())
        .await
        .unwrap();
    assert_eq!(page.items, vec![a, b, c, d]);
}

pub async fn subscription_list_filters_by_endpoint_and_resource(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let other = workspace(&*store, "globex").await;
    let e1 = add_endpoint(&*store, &ws, t(0)).await;
    let e2 = add_endpoint(&*store, &ws, t(1)).await;
    let foreign = add_endpoint(&*store, &other, t(2)).await;
    let s11 = add_subscription(&*store, &e1, "wf_1", t(SEC)).await;
    let s12 = add_subscription(&*store, &e1, "wf_2", t(2 * SEC)).await;
    let s21 = add_subscription(&*store, &e2, "wf_1", t(3 * SEC)).await;
    add_subscription(&*store, &foreign, "wf_1", t(4 * SEC)).await;

    let list = |endpoint_id, resource_id: Option<&str>| {
        let filter = SubscriptionFilter {
            endpoint_id,
            resource_id: resource_id.map(str::to_owned),
        };
        let (s, ws) = (store.clone(), ws.clone());
        async move {
            s.list_subscriptions(&ws, &filter, &all())
                .await
                .unwrap()
                .items
        }
    };
    assert_eq!(
        list(None, None).await,
        vec![s11.clone(), s12.clone(), s21.clone()]
    );
    assert_eq!(
        list(Some(e1.id.clone()), None).await,
        vec![s11.clone(), s12.clone()]
    );
    assert_eq!(list(Some(e2.id.clone()), None).await, vec![s21.clone()]);
    assert_eq!(list(None, Some("wf_1")).await, vec![s11.clone(), s21]);
    assert_eq!(list(Some(e1.id.clone()), Some("wf_2")).await, vec![s12]);
    assert_eq!(list(None, Some("wf_none")).await, vec![]);
    // Another workspace's endpoint id finds nothing here.
    assert_eq!(list(Some(foreign.id.clone()), None).await, vec![]);
}

pub async fn subscription_list_paginates(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let e = add_endpoint(&*store, &ws, t(0)).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let s = add_subscription(&*store, &e, &format!("wf_{i}"), t((i + 1) * SEC)).await;
        ids.push(s.id.to_string());
    }
    for dir in [SortDir::Asc, SortDir::Desc] {
        let got = walk(
            dir,
            2,
            |s: &Subscription| s.id.to_string(),
            |p| {
                let (s, ws) = (store.clone(), ws.clone());
                async move {
                    s.list_subscriptions(&ws, &SubscriptionFilter::default(), &p)
                        .await
                }
            },
        )
        .await;
        assert_complete_order(&got, &ids, dir);
    }
}

pub async fn subscription_update_events(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let other = workspace(&*store, "globex").await;
    let e = add_endpoint(&*store, &ws, t(0)).await;
    let s = add_subscription(&*store, &e, "wf_1", t(SEC)).await;

    let events = vec![
        "workflow_run.rejected".to_owned(),
        "workflow_run.cancelled".to_owned(),
    ];
    let updated = store
        .update_subscription_events(&ws, &s.id, &events)
        .await
        .unwrap();
    let expected = Subscription {
        enabled_events: events.clone(),
        ..s.clone()
    };
    assert_eq!(updated, Some(expected.clone()));
    assert_eq!(
        store.get_subscription(&ws, &s.id).await.unwrap(),
        Some(expected.clone())
    );

    // Not from another workspace, not for an unknown id.
    let none = store
        .update_subscription_events(&other, &s.id, &["workflow_run.failed".to_owned()])
        .await
        .unwrap();
    assert_eq!(none, None);
    let none = store
        .update_subscription_events(&ws, &SubscriptionId::at(T0.0), &events)
        .await
        .unwrap();
    assert_eq!(none, None);
    assert_eq!(
        store.get_subscription(&ws, &s.id).await.unwrap(),
        Some(expected)
    );
}

pub async fn subscription_delete(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let e = add_endpoint(&*store, &ws, t(0)).await;
    let s = add_subscription(&*store, &e, "wf_1", t(SEC)).await;
    let kept = add_subscription(&*store, &e, "wf_2", t(2 * SEC)).await;

    assert!(store.delete_subscription(&ws, &s.id).await.unwrap());
    assert_eq!(store.get_subscription(&ws, &s.id).await.unwrap(), None);
    assert!(!store.delete_subscription(&ws, &s.id).await.unwrap());
    let page = store
        .list_subscriptions(&ws, &SubscriptionFilter::default(), &all())
        .await
        .unwrap();
    assert_eq!(page.items, vec![kept.clone()]);
    let (_, subs) = store.load_routing(Some(&ws)).await.unwrap();
    assert_eq!(subs, vec![kept]);

    // Once gone, the same endpoint and resource can subscribe afresh.
    add_subscription(&*store, &e, "wf_1", t(MIN)).await;
}

pub async fn subscription_is_invisible_to_other_workspace(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let other = workspace(&*store, "globex").await;
    let e = add_endpoint(&*store, &ws, t(0)).await;
    let s = add_subscription(&*store, &e, "wf_1", t(SEC)).await;

    assert_eq!(store.get_subscription(&other, &s.id).await.unwrap(), None);
    assert!(!store.delete_subscription(&other, &s.id).await.unwrap());
    let page = store
        .list_subscriptions(&other, &SubscriptionFilter::default(), &all())
        .await
        .unwrap();
    assert!(page.items.is_empty());
    assert_eq!(store.get_subscription(&ws, &s.id).await.unwrap(), Some(s));
}
