//! Workspaces and API keys.

use std::sync::Arc;

use hookrelay_core::cursor::SortDir;
use hookrelay_core::ids::{ApiKeyId, WorkspaceId};
use hookrelay_core::secret::ApiKeyHash;
use hookrelay_store::{ErrorKind, PageRequest, Store};

use crate::support::*;

pub async fn workspace_create_get_and_find_by_name(store: Arc<dyn Store>) {
    let a = workspace_record("acme", t(0));
    let b = workspace_record("globex", t(SEC));
    store.create_workspace(&a).await.unwrap();
    store.create_workspace(&b).await.unwrap();

    assert_eq!(store.get_workspace(&a.id).await.unwrap(), Some(a.clone()));
    assert_eq!(store.get_workspace(&b.id).await.unwrap(), Some(b.clone()));
    assert_eq!(store.find_workspace_by_name("acme").await.unwrap(), Some(a));
    assert_eq!(
        store.find_workspace_by_name("globex").await.unwrap(),
        Some(b)
    );
}

pub async fn workspace_unknown_id_and_name_are_none(store: Arc<dyn Store>) {
    workspace(&*store, "acme").await;
    assert_eq!(
        store.get_workspace(&WorkspaceId::at(T0.0)).await.unwrap(),
        None
    );
    assert_eq!(store.find_workspace_by_name("nobody").await.unwrap(), None);
    assert_eq!(
        store.find_workspace_by_name("ACME").await.unwrap(),
        None,
        "names match exactly"
    );
}

pub async fn workspace_duplicate_id_is_a_conflict(store: Arc<dyn Store>) {
    let a = workspace_record("acme", T0);
    store.create_workspace(&a).await.unwrap();
    let mut again = a.clone();
    again.name = "other".into();
    let err = store.create_workspace(&again).await.unwrap_err();
    assert!(err.kind() == ErrorKind::Conflict, "got {err:?}");
    assert_eq!(store.get_workspace(&a.id).await.unwrap(), Some(a));
}

pub async fn api_key_insert_and_find_by_hash(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let key = api_key(&ws, "sk_first_key_plaintext", t(0));
    store.insert_api_key(&key).await.unwrap();

    assert_eq!(store.find_api_key(&key.hash).await.unwrap(), Some(key));
    assert_eq!(
        store
            .find_api_key(&ApiKeyHash::of("sk_unknown"))
            .await
            .unwrap(),
        None
    );
}

pub async fn api_key_insert_with_same_hash_is_ignored(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let first = api_key(&ws, "sk_bootstrap", t(0));
    store.insert_api_key(&first).await.unwrap();

    // The bootstrap key is ensured on every start: same hash, new record.
    let mut again = api_key(&ws, "sk_bootstrap", t(HOUR));
    again.name = "renamed".into();
    store.insert_api_key(&again).await.unwrap();

    assert_eq!(
        store.find_api_key(&first.hash).await.unwrap(),
        Some(first.clone())
    );
    let page = store
        .list_api_keys(&ws, &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(page.items, vec![first]);
}

pub async fn api_key_list_excludes_revoked_and_other_workspaces(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let other = workspace(&*store, "globex").await;
    let live = api_key(&ws, "sk_live", t(0));
    let revoked = api_key(&ws, "sk_revoked", t(SEC));
    let foreign = api_key(&other, "sk_foreign", t(2 * SEC));
    for k in [&live, &revoked, &foreign] {
        store.insert_api_key(k).await.unwrap();
    }
    assert!(store
        .revoke_api_key(&ws, &revoked.id, t(MIN))
        .await
        .unwrap());

    let page = store
        .list_api_keys(&ws, &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(page.items, vec![live]);
    assert!(page.next.is_none());
    let page = store
        .list_api_keys(&other, &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(page.items, vec![foreign]);
}

pub async fn api_key_list_paginates(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let mut ids = Vec::new();
    for i in 0..7 {
        let k = api_key(&ws, &format!("sk_key_{i}"), t(i * SEC));
        store.insert_api_key(&k).await.unwrap();
        ids.push(k.id.to_string());
    }
    for dir in [SortDir::Asc, SortDir::Desc] {
        let got = walk(
            dir,
            3,
            |k: &hookrelay_store::ApiKeyRecord| k.id.to_string(),
            |p| {
                let (s, ws) = (store.clone(), ws.clone());
                async move { s.list_api_keys(&ws, &p).await }
            },
        )
        .await;
        assert_complete_order(&got, &ids, dir);
    }
}

pub async fn api_key_revoke_twice_returns_false(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let key = api_key(&ws, "sk_key", t(0));
    store.insert_api_key(&key).await.unwrap();

    assert!(store.revoke_api_key(&ws, &key.id, t(MIN)).await.unwrap());
    assert!(!store
        .revoke_api_key(&ws, &key.id, t(2 * MIN))
        .await
        .unwrap());
    assert!(!store
        .revoke_api_key(&ws, &ApiKeyId::at(T0.0), t(MIN))
        .await
        .unwrap());
    let found = store.find_api_key(&key.hash).await.unwrap();
    if let Some(found) = found {
        assert_eq!(
            found.revoked_at,
            Some(t(MIN)),
            "the first revocation's time stays"
        );
    }
}

pub async fn api_key_revoke_from_other_workspace_returns_false(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let other = workspace(&*store, "globex").await;
    let key = api_key(&ws, "sk_key", t(0));
    store.insert_api_key(&key).await.unwrap();

    assert!(!store.revoke_api_key(&other, &key.id, t(MIN)).await.unwrap());
    assert_eq!(
        store.find_api_key(&key.hash).await.unwrap(),
        Some(key.clone())
    );
    let page = store
        .list_api_keys(&ws, &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(page.items, vec![key]);
}

/// Authentication must never accept a revoked key: `find_api_key` either
/// hides it or reports when it was revoked.
pub async fn api_key_find_reports_revocation(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let key = api_key(&ws, "sk_key", t(0));
    store.insert_api_key(&key).await.unwrap();
    assert!(store.revoke_api_key(&ws, &key.id, t(MIN)).await.unwrap());
    match store.find_api_key(&key.hash).await.unwrap() {
        None => {}
        Some(found) => assert_eq!(found.revoked_at, Some(t(MIN))),
    }
}
