//! Dashboard sessions (alive while neither idle nor past their end, touched
//! forwards only, ended by sign-out or by revoking their key), one-time
//! portal links (opened once, by exactly one of concurrent callers), the
//! purge of both, and the org admin's list of workspaces.

use std::sync::Arc;

use hookrelay_core::cursor::SortDir;
use hookrelay_core::ids::{ApiKeyId, WorkspaceId};
use hookrelay_core::secret::{generate_token, Secret, TokenHash};
use hookrelay_core::time::Timestamp;
use hookrelay_store::{
    DashboardSession, ErrorKind, PortalLink, Redemption, SessionKind, Store, Workspace,
};

use crate::support::*;

const IDLE: i64 = 30 * MIN;
const LIFETIME: i64 = 12 * HOUR;

fn session(kind: SessionKind, ws: Option<&WorkspaceId>, at: Timestamp) -> DashboardSession {
    DashboardSession {
        token_hash: TokenHash::of(generate_token().expose()),
        workspace_id: ws.cloned(),
        kind,
        api_key_id: None,
        read_only: false,
        csrf_token: Secret::new(generate_token().expose().to_owned()),
        created_at: at,
        last_seen_at: at,
        idle_timeout_ms: IDLE,
        expires_at: at.plus_millis(LIFETIME),
    }
}

fn link(ws: &WorkspaceId, at: Timestamp, lifetime: i64) -> PortalLink {
    PortalLink {
        token_hash: TokenHash::of(generate_token().expose()),
        workspace_id: ws.clone(),
        read_only: true,
        created_at: at,
        expires_at: at.plus_millis(lifetime),
        used_at: None,
    }
}

pub async fn session_round_trips_and_lives_until_idle(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let mut s = session(SessionKind::Key, Some(&ws), t(0));
    s.api_key_id = Some(ApiKeyId::at(T0.0));
    s.read_only = true;
    store.create_dashboard_session(&s).await.unwrap();

    let got = store.get_dashboard_session(&s.token_hash, t(MIN)).await;
    assert_eq!(got.unwrap(), Some(s.clone()), "every field round-trips");
    assert_eq!(
        store
            .get_dashboard_session(&s.token_hash, t(IDLE - 1))
            .await
            .unwrap(),
        Some(s.clone())
    );
    assert_eq!(
        store
            .get_dashboard_session(&s.token_hash, t(IDLE))
            .await
            .unwrap(),
        None,
        "idle for the whole idle timeout"
    );
    let unknown = TokenHash::of("no such token");
    assert_eq!(
        store.get_dashboard_session(&unknown, t(0)).await.unwrap(),
        None
    );
}

pub async fn session_touch_keeps_it_alive_until_its_absolute_end(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let s = session(SessionKind::Key, Some(&ws), t(0));
    store.create_dashboard_session(&s).await.unwrap();

    // Activity every 20 minutes keeps it alive past the idle timeout…
    let mut at = 0;
    while at + 20 * MIN < LIFETIME {
        at += 20 * MIN;
        let live = store
            .get_dashboard_session(&s.token_hash, t(at))
            .await
            .unwrap();
        assert!(live.is_some(), "alive at +{} min", at / MIN);
        store
            .touch_dashboard_session(&s.token_hash, t(at))
            .await
            .unwrap();
    }
    // …but not past its absolute end.
    assert_eq!(
        store
            .get_dashboard_session(&s.token_hash, t(LIFETIME))
            .await
            .unwrap(),
        None
    );
    // Touching never moves last_seen_at backwards.
    store
        .touch_dashboard_session(&s.token_hash, t(MIN))
        .await
        .unwrap();
    let seen = store
        .get_dashboard_session(&s.token_hash, t(at + MIN))
        .await
        .unwrap()
        .expect("alive");
    assert_eq!(seen.last_seen_at, t(at));
}

pub async fn session_touch_does_not_revive_an_idle_session(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let s = session(SessionKind::Portal, Some(&ws), t(0));
    store.create_dashboard_session(&s).await.unwrap();
    store
        .touch_dashboard_session(&s.token_hash, t(IDLE + SEC))
        .await
        .unwrap();
    assert_eq!(
        store
            .get_dashboard_session(&s.token_hash, t(IDLE + 2 * SEC))
            .await
            .unwrap(),
        None
    );
}

pub async fn session_duplicate_token_is_a_conflict(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let s = session(SessionKind::Key, Some(&ws), t(0));
    store.create_dashboard_session(&s).await.unwrap();
    let err = store.create_dashboard_session(&s).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err:?}");
}

pub async fn session_workspace_is_set_for_admin_sessions_only(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let other = workspace(&*store, "globex").await;
    let admin = session(SessionKind::Admin, None, t(0));
    let key = session(SessionKind::Key, Some(&ws), t(0));
    let portal = session(SessionKind::Portal, Some(&ws), t(0));
    for s in [&admin, &key, &portal] {
        store.create_dashboard_session(s).await.unwrap();
    }
    let read = |s: &DashboardSession| {
        let (store, h) = (store.clone(), s.token_hash);
        async move {
            store
                .get_dashboard_session(&h, t(SEC))
                .await
                .unwrap()
                .expect("alive")
        }
    };
    assert_eq!(read(&admin).await.workspace_id, None);
    assert!(store
        .set_dashboard_session_workspace(&admin.token_hash, &ws)
        .await
        .unwrap());
    assert_eq!(read(&admin).await.workspace_id, Some(ws.clone()));
    assert!(store
        .set_dashboard_session_workspace(&admin.token_hash, &other)
        .await
        .unwrap());
    assert_eq!(read(&admin).await.workspace_id, Some(other.clone()));

    for s in [&key, &portal] {
        assert!(!store
            .set_dashboard_session_workspace(&s.token_hash, &other)
            .await
            .unwrap());
        assert_eq!(read(s).await.workspace_id, Some(ws.clone()), "unchanged");
    }
    assert!(!store
        .set_dashboard_session_workspace(&TokenHash::of("nobody"), &ws)
        .await
        .unwrap());
}

pub async fn session_delete_ends_it(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let s = session(SessionKind::Key, Some(&ws), t(0));
    let kept = session(SessionKind::Key, Some(&ws), t(0));
    store.create_dashboard_session(&s).await.unwrap();
    store.create_dashboard_session(&kept).await.unwrap();
    assert!(store.delete_dashboard_session(&s.token_hash).await.unwrap());
    assert!(!store.delete_dashboard_session(&s.token_hash).await.unwrap());
    assert_eq!(
        store
            .get_dashboard_session(&s.token_hash, t(SEC))
            .await
            .unwrap(),
        None
    );
    assert!(store
        .get_dashboard_session(&kept.token_hash, t(SEC))
        .await
        .unwrap()
        .is_some());
}

pub async fn revoking_a_key_ends_its_sessions_only(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let other = workspace(&*store, "globex").await;
    let a = api_key(&ws, "sk_a", t(0));
    let b = api_key(&ws, "sk_b", t(SEC));
    store.insert_api_key(&a).await.unwrap();
    store.insert_api_key(&b).await.unwrap();
    let mut with_a = session(SessionKind::Key, Some(&ws), t(0));
    with_a.api_key_id = Some(a.id.clone());
    let mut with_b = session(SessionKind::Key, Some(&ws), t(0));
    with_b.api_key_id = Some(b.id.clone());
    let portal = session(SessionKind::Portal, Some(&ws), t(0));
    for s in [&with_a, &with_b, &portal] {
        store.create_dashboard_session(s).await.unwrap();
    }
    let alive = |s: &DashboardSession| {
        let (store, h) = (store.clone(), s.token_hash);
        async move {
            store
                .get_dashboard_session(&h, t(MIN))
                .await
                .unwrap()
                .is_some()
        }
    };

    assert!(!store.revoke_api_key(&other, &a.id, t(SEC)).await.unwrap());
    assert!(alive(&with_a).await, "a refused revocation ends nothing");

    assert!(store.revoke_api_key(&ws, &a.id, t(SEC)).await.unwrap());
    assert!(!alive(&with_a).await, "the revoked key's session ended");
    assert!(alive(&with_b).await);
    assert!(alive(&portal).await);
}

pub async fn portal_link_opens_once(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let l = link(&ws, t(0), HOUR);
    store.create_portal_link(&l).await.unwrap();

    let opened = store
        .redeem_portal_link(&l.token_hash, t(MIN))
        .await
        .unwrap();
    let mut expected = l.clone();
    expected.used_at = Some(t(MIN));
    assert_eq!(opened, Redemption::Opened(expected));
    assert_eq!(
        store
            .redeem_portal_link(&l.token_hash, t(2 * MIN))
            .await
            .unwrap(),
        Redemption::AlreadyUsed
    );
    // Still "used", not "expired", once its time is up.
    assert_eq!(
        store
            .redeem_portal_link(&l.token_hash, t(2 * HOUR))
            .await
            .unwrap(),
        Redemption::AlreadyUsed
    );
}

pub async fn portal_link_expires_and_unknown_links_are_unknown(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let l = link(&ws, t(0), HOUR);
    store.create_portal_link(&l).await.unwrap();
    assert_eq!(
        store
            .redeem_portal_link(&l.token_hash, t(HOUR))
            .await
            .unwrap(),
        Redemption::Expired,
        "expiresAt itself is too late"
    );
    assert_eq!(
        store
            .redeem_portal_link(&TokenHash::of("no such link"), t(0))
            .await
            .unwrap(),
        Redemption::Unknown
    );
    let err = store.create_portal_link(&l).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err:?}");
}

pub async fn concurrent_portal_redeems_open_it_exactly_once(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    for round in 0..5 {
        let l = link(&ws, t(0), HOUR);
        store.create_portal_link(&l).await.unwrap();
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let (store, h) = (store.clone(), l.token_hash);
                tokio::spawn(async move {
                    bounded("redeem", store.redeem_portal_link(&h, t(SEC + i))).await
                })
            })
            .collect();
        let mut opened = 0;
        for task in tasks {
            match task.await.unwrap().unwrap() {
                Redemption::Opened(_) => opened += 1,
                Redemption::AlreadyUsed => {}
                other => panic!("round {round}: {other:?}"),
            }
        }
        assert_eq!(opened, 1, "round {round}: exactly one redeem wins");
    }
}

pub async fn purge_removes_sessions_and_links_that_are_over(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let live = session(SessionKind::Key, Some(&ws), t(0));
    let idle = session(SessionKind::Key, Some(&ws), t(0));
    let mut ended = session(SessionKind::Portal, Some(&ws), t(0));
    ended.expires_at = t(10 * MIN);
    for s in [&live, &idle, &ended] {
        store.create_dashboard_session(s).await.unwrap();
    }
    store
        .touch_dashboard_session(&live.token_hash, t(20 * MIN))
        .await
        .unwrap();
    let open = link(&ws, t(0), 2 * HOUR);
    let expired = link(&ws, t(0), 10 * MIN);
    store.create_portal_link(&open).await.unwrap();
    store.create_portal_link(&expired).await.unwrap();

    let now = t(IDLE + MIN);
    store.purge(t(-30 * DAY), now).await.unwrap();

    // Purged rows are gone, not merely expired: even a time before their
    // end no longer finds them.
    let at = |h: &TokenHash| {
        let (store, h) = (store.clone(), *h);
        async move { store.get_dashboard_session(&h, t(SEC)).await.unwrap() }
    };
    assert!(at(&live.token_hash).await.is_some());
    assert!(at(&idle.token_hash).await.is_none());
    assert!(at(&ended.token_hash).await.is_none());
    assert!(matches!(
        store
            .redeem_portal_link(&open.token_hash, t(SEC))
            .await
            .unwrap(),
        Redemption::Opened(_)
    ));
    assert_eq!(
        store
            .redeem_portal_link(&expired.token_hash, t(SEC))
            .await
            .unwrap(),
        Redemption::Unknown
    );
}

pub async fn workspaces_list_paginates(store: Arc<dyn Store>) {
    let mut ids = Vec::new();
    for i in 0..7 {
        let w = Workspace {
            id: WorkspaceId::at(t(i * SEC).0),
            name: format!("ws {i}"),
            created_at: t(i * SEC),
        };
        store.create_workspace(&w).await.unwrap();
        ids.push(w.id.to_string());
    }
    for dir in [SortDir::Asc, SortDir::Desc] {
        let got = walk(
            dir,
            3,
            |w: &Workspace| w.id.to_string(),
            |p| {
                let s = store.clone();
                async move { s.list_workspaces(&p).await }
            },
        )
        .await;
        assert_complete_order(&got, &ids, dir);
    }
}
