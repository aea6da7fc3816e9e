//! The directory: an in-memory, always-current view of every live endpoint
//! and subscription, with a precomputed fan-out table per workspace.
//!
//! Publishing routes events through it without touching the database, and the
//! dispatcher reads an endpoint's current configuration from it at send time.
//! Writes that change routing (endpoints, subscriptions) go through the
//! directory, which refreshes the affected workspace once the store has
//! committed them; with several nodes, the others refresh on a notification.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use hookrelay_core::catalog::Catalog;
use hookrelay_core::fanout::RoutingTable;
use hookrelay_core::ids::{EndpointId, SubscriptionId, WorkspaceId};
use hookrelay_core::model::{Endpoint, EndpointStatus, ResourceRef, Subscription};
use hookrelay_core::time::Timestamp;

use crate::{Result, Store};

/// A workspace's fan-out table.
pub type Routes = RoutingTable<Arc<Endpoint>>;

#[derive(Default)]
struct Inner {
    routes: HashMap<WorkspaceId, Arc<Routes>>,
    endpoints: HashMap<EndpointId, Arc<Endpoint>>,
}

/// See the module docs.
pub struct Directory {
    store: Arc<dyn Store>,
    catalog: Arc<Catalog>,
    inner: RwLock<Inner>,
    /// Refreshes run one at a time so a slow, older read never overwrites a newer one.
    refresh: tokio::sync::Mutex<()>,
    /// Counts refreshes, for those who act on changes (the dispatcher drops
    /// a disabled or deleted endpoint's deliveries).
    changed: tokio::sync::watch::Sender<u64>,
}

impl std::fmt::Debug for Directory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.inner.read().expect("directory lock");
        f.debug_struct("Directory")
            .field("workspaces", &inner.routes.len())
            .field("endpoints", &inner.endpoints.len())
            .finish()
    }
}

impl Directory {
    /// Loads every workspace.
    pub async fn load(store: Arc<dyn Store>, catalog: Arc<Catalog>) -> Result<Self> {
        let dir = Self {
            store,
            catalog,
            inner: RwLock::new(Inner::default()),
            refresh: tokio::sync::Mutex::new(()),
            changed: tokio::sync::watch::Sender::new(0),
        };
        dir.refresh_all().await?;
        Ok(dir)
    }

    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    /// Re-reads everything.
    pub async fn refresh_all(&self) -> Result<()> {
        let _guard = self.refresh.lock().await;
        let (endpoints, subs) = self.store.load_routing(None).await?;
        let mut by_ws: HashMap<WorkspaceId, (Vec<Endpoint>, Vec<Subscription>)> = HashMap::new();
        for e in endpoints {
            by_ws.entry(e.workspace_id.clone()).or_default().0.push(e);
        }
        for s in subs {
            by_ws.entry(s.workspace_id.clone()).or_default().1.push(s);
        }
        let mut inner = Inner::default();
        for (ws, (eps, subs)) in by_ws {
            let (routes, endpoints) = self.build(eps, subs);
            inner.endpoints.extend(endpoints);
            inner.routes.insert(ws, Arc::new(routes));
        }
        *self.inner.write().expect("directory lock") = inner;
        self.changed.send_modify(|n| *n += 1);
        Ok(())
    }

    /// Re-reads one workspace after a change to its endpoints or subscriptions.
    pub async fn refresh_workspace(&self, ws: &WorkspaceId) -> Result<()> {
        let _guard = self.refresh.lock().await;
        let (eps, subs) = self.store.load_routing(Some(ws)).await?;
        let (routes, endpoints) = self.build(eps, subs);
        {
            let mut inner = self.inner.write().expect("directory lock");
            inner.endpoints.retain(|_, e| &e.workspace_id != ws);
            inner.endpoints.extend(endpoints);
            inner.routes.insert(ws.clone(), Arc::new(routes));
        }
        self.changed.send_modify(|n| *n += 1);
        Ok(())
    }

    /// Wakes up after every refresh.
    pub fn watch(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// An endpoint the directory does not know (yet): re-reads its
    /// workspace, then looks again. `None`: it does not exist (deleted).
    pub async fn reload_endpoint(
        &self,
        ws: &WorkspaceId,
        id: &EndpointId,
    ) -> Result<Option<Arc<Endpoint>>> {
        self.refresh_workspace(ws).await?;
        Ok(self.endpoint(id))
    }

    fn build(
        &self,
        endpoints: Vec<Endpoint>,
        subs: Vec<Subscription>,
    ) -> (Routes, Vec<(EndpointId, Arc<Endpoint>)>) {
        let mut table = Routes::new();
        let mut index = HashMap::new();
        let mut all = Vec::with_capacity(endpoints.len());
        for e in endpoints {
            let e = Arc::new(e);
            all.push((e.id.clone(), e.clone()));
            if e.status != EndpointStatus::Enabled {
                continue;
            }
            // Stored events were validated on write; a catalog override that
            // dropped some simply stops routing them.
            let global = e
                .enabled_events
                .iter()
                .filter_map(|n| {
                    self.catalog
                        .resolve_endpoint_events(&e.api_version, std::slice::from_ref(n))
                        .ok()
                })
                .flatten()
                .collect();
            let idx = table.add_endpoint(e.clone(), &global);
            index.insert(e.id.clone(), (idx, e.api_version.clone()));
        }
        for s in subs {
            let Some((idx, version)) = index.get(&s.endpoint_id) else {
                continue;
            };
            let events = s
                .enabled_events
                .iter()
                .filter_map(|n| {
                    self.catalog
                        .resolve_subscription_events(
                            version,
                            s.resource_type,
                            std::slice::from_ref(n),
                        )
                        .ok()
                })
                .flatten()
                .collect();
            table.add_subscription(*idx, s.resource_type.as_str(), &s.resource_id, events);
        }
        (table, all)
    }

    // --- writes that change routing: the store's, then this view's --------

    /// [`Store::insert_endpoint`], then the workspace's routing.
    pub async fn insert_endpoint(
        &self,
        e: &Endpoint,
        max_per_workspace: Option<u32>,
    ) -> Result<()> {
        self.store.insert_endpoint(e, max_per_workspace).await?;
        self.refresh_workspace(&e.workspace_id).await
    }

    /// [`Store::update_endpoint`], then the workspace's routing if it changed.
    pub async fn update_endpoint(&self, e: &Endpoint, if_updated_at: Timestamp) -> Result<bool> {
        let changed = self.store.update_endpoint(e, if_updated_at).await?;
        if changed {
            self.refresh_workspace(&e.workspace_id).await?;
        }
        Ok(changed)
    }

    /// [`Store::delete_endpoint`], then the workspace's routing if it was there.
    pub async fn delete_endpoint(
        &self,
        ws: &WorkspaceId,
        id: &EndpointId,
        at: Timestamp,
    ) -> Result<bool> {
        let deleted = self.store.delete_endpoint(ws, id, at).await?;
        if deleted {
            self.refresh_workspace(ws).await?;
        }
        Ok(deleted)
    }

    /// [`Store::upsert_subscription`], then the workspace's routing.
    pub async fn upsert_subscription(
        &self,
        s: &Subscription,
        max_per_workspace: Option<u32>,
    ) -> Result<(Subscription, bool)> {
        let out = self.store.upsert_subscription(s, max_per_workspace).await?;
        self.refresh_workspace(&s.workspace_id).await?;
        Ok(out)
    }

    /// [`Store::update_subscription_events`], then the workspace's routing.
    pub async fn update_subscription_events(
        &self,
        ws: &WorkspaceId,
        id: &SubscriptionId,
        events: &[String],
    ) -> Result<Option<Subscription>> {
        let out = self
            .store
            .update_subscription_events(ws, id, events)
            .await?;
        if out.is_some() {
            self.refresh_workspace(ws).await?;
        }
        Ok(out)
    }

    /// [`Store::delete_subscription`], then the workspace's routing.
    pub async fn delete_subscription(&self, ws: &WorkspaceId, id: &SubscriptionId) -> Result<bool> {
        let deleted = self.store.delete_subscription(ws, id).await?;
        if deleted {
            self.refresh_workspace(ws).await?;
        }
        Ok(deleted)
    }

    /// The enabled endpoints an event goes to, each once.
    pub fn route(
        &self,
        ws: &WorkspaceId,
        event_type: &str,
        resource: Option<&ResourceRef>,
    ) -> Vec<Arc<Endpoint>> {
        let routes = {
            let inner = self.inner.read().expect("directory lock");
            match inner.routes.get(ws) {
                Some(r) => r.clone(),
                None => return Vec::new(),
            }
        };
        routes
            .route(event_type, resource)
            .into_iter()
            .cloned()
            .collect()
    }

    /// Every live endpoint for which `keep` holds.
    pub fn endpoints_where(&self, keep: impl Fn(&Endpoint) -> bool) -> Vec<Arc<Endpoint>> {
        self.inner
            .read()
            .expect("directory lock")
            .endpoints
            .values()
            .filter(|e| keep(e))
            .cloned()
            .collect()
    }

    /// An endpoint's current configuration (enabled or not); `None` once deleted.
    pub fn endpoint(&self, id: &EndpointId) -> Option<Arc<Endpoint>> {
        self.inner
            .read()
            .expect("directory lock")
            .endpoints
            .get(id)
            .cloned()
    }
}
