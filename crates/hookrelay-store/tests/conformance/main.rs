//! The storage conformance suite: every behaviour the [`Store`] trait promises,
//! written once against `Arc<dyn Store>` and run against every backend.
//!
//! A test is a plain `pub async fn name(store: Arc<dyn Store>)` in one of the
//! topic modules below. [`conformance_tests!`] turns the list of them into
//! `#[tokio::test]`s inside a module named after the backend (`sqlite::…`,
//! `postgres::…`), each with a fresh, empty database from that backend's
//! factory (see [`backends`]). A factory may decline (PostgreSQL without
//! `HOOKRELAY_TEST_POSTGRES_URL`): the test then returns early, having said
//! why, unless `HOOKRELAY_REQUIRE_POSTGRES=1` makes that a failure.
//!
//! Adding a backend is one factory in `backends.rs` and one
//! `conformance_tests!(name, backends::name_store);` line here. What only one
//! backend promises lives beside the suite (`sqlite_only`, `postgres_only`:
//! several nodes sharing one database).
//!
//! Times are fixed [`Timestamp`](hookrelay_core::time::Timestamp)s, never the
//! wall clock: nothing here sleeps.
//!
//! [`Store`]: hookrelay_store::Store

mod backends;
mod support;

mod claims;
mod dashboard;
mod endpoints;
mod engine;
mod errors;
mod events;
mod fanout;
mod history;
mod maintenance;
mod postgres_only;
mod quotas;
mod sealing;
mod sqlite_only;
mod stats;
mod subscriptions;
mod tenancy;

/// Instantiates every conformance test for one backend:
/// `conformance_tests!(module_name, factory)` where `factory` is an
/// `async fn() -> Option<(Arc<dyn Store>, backends::Guard)>` giving a fresh
/// database, or `None` to skip.
///
/// A test known to fail because of a store bug carries an attribute before
/// its path in the list (`#[ignore = "why"] module::test`).
macro_rules! conformance_tests {
    ($backend:ident, $factory:path) => {
        conformance_tests!(@module $backend, $factory;
            // --- tenancy
            tenancy::workspace_create_get_and_find_by_name,
            tenancy::workspace_unknown_id_and_name_are_none,
            tenancy::workspace_duplicate_id_is_a_conflict,
            tenancy::api_key_insert_and_find_by_hash,
            tenancy::api_key_insert_with_same_hash_is_ignored,
            tenancy::api_key_list_excludes_revoked_and_other_workspaces,
            tenancy::api_key_list_paginates,
            tenancy::api_key_revoke_twice_returns_false,
            tenancy::api_key_revoke_from_other_workspace_returns_false,
            tenancy::api_key_find_reports_revocation,
            // --- dashboard sessions and portal links
            dashboard::session_round_trips_and_lives_until_idle,
            dashboard::session_touch_keeps_it_alive_until_its_absolute_end,
            dashboard::session_touch_does_not_revive_an_idle_session,
            dashboard::session_duplicate_token_is_a_conflict,
            dashboard::session_workspace_is_set_for_admin_sessions_only,
            dashboard::session_delete_ends_it,
            dashboard::revoking_a_key_ends_its_sessions_only,
            dashboard::portal_link_opens_once,
            dashboard::portal_link_expires_and_unknown_links_are_unknown,
            dashboard::concurrent_portal_redeems_open_it_exactly_once,
            dashboard::purge_removes_sessions_and_links_that_are_over,
            dashboard::workspaces_list_paginates,
            // --- endpoints
            endpoints::endpoint_round_trips_every_field,
            endpoints::endpoint_get_from_other_workspace_is_none,
            endpoints::endpoint_duplicate_id_is_a_conflict,
            errors::duplicate_ids_read_the_same_on_every_backend,
            endpoints::endpoint_update_replaces_mutable_fields,
            endpoints::endpoint_update_keeps_immutable_fields,
            endpoints::endpoint_update_of_unknown_deleted_or_foreign_returns_false,
            endpoints::endpoint_update_from_a_stale_read_is_refused,
            endpoints::endpoint_list_filters_by_api_version,
            engine::re_enabling_clears_the_failure_record,
            endpoints::endpoint_list_filters_by_status_and_workspace,
            endpoints::endpoint_pagination_asc_has_no_gaps_or_duplicates,
            endpoints::endpoint_pagination_desc_has_no_gaps_or_duplicates,
            endpoints::endpoint_pagination_exact_multiple_ends_with_no_next,
            endpoints::endpoint_pagination_survives_deletion_of_the_cursor_item,
            endpoints::endpoint_delete_hides_it_and_second_delete_returns_false,
            endpoints::endpoint_delete_cancels_pending_deliveries_and_keeps_history,
            endpoints::endpoint_delete_removes_its_subscriptions,
            endpoints::endpoint_delete_from_other_workspace_returns_false,
            endpoints::load_routing_scopes_by_workspace_and_keeps_disabled,
            // --- subscriptions
            subscriptions::subscription_upsert_creates_then_updates_same_row,
            subscriptions::subscription_upsert_other_resource_creates_new_row,
            subscriptions::subscription_list_filters_by_endpoint_and_resource,
            subscriptions::subscription_list_paginates,
            subscriptions::subscription_update_events,
            subscriptions::subscription_delete,
            subscriptions::subscription_is_invisible_to_other_workspace,
            // --- quotas
            quotas::endpoint_quota_counts_live_endpoints_of_its_workspace,
            quotas::subscription_quota_counts_new_subscriptions_only,
            quotas::concurrent_endpoint_inserts_never_exceed_the_quota,
            quotas::concurrent_subscription_upserts_never_exceed_the_quota,
            // --- publish and events
            events::publish_stores_event_and_deliveries,
            events::publish_with_lease_hides_deliveries_until_lease_expires,
            events::publish_without_lease_is_claimable_at_once,
            events::publish_idempotency_key_within_24h_returns_first_event,
            events::publish_idempotency_key_after_24h_creates_new_event,
            events::publish_idempotency_key_of_a_purged_event_is_free,
            events::publish_idempotency_key_is_per_workspace,
            events::publish_idempotency_key_repeated_within_one_batch,
            events::publish_failed_item_does_not_affect_others,
            events::publish_failed_item_does_not_consume_idempotency_key,
            events::failed_publishes_among_concurrent_writes_spoil_nothing_else,
            events::get_event_has_per_delivery_summaries,
            events::get_event_from_other_workspace_is_none,
            events::list_events_filters_and_scopes,
            events::list_events_paginates,
            // --- delivery engine
            claims::due_workspaces_lists_those_with_deliveries_due,
            claims::claim_takes_at_most_each_workspaces_number,
            claims::claim_gives_an_endpoint_no_more_than_its_room,
            claims::claim_of_a_wide_event_obeys_the_rooms,
            claims::claim_gives_unnamed_endpoints_the_default_room,
            claims::outcomes_are_recorded_only_by_the_lease_owner,
            engine::claim_due_respects_limit,
            engine::claim_due_respects_due_time,
            engine::claim_due_skips_excluded_endpoints,
            engine::claim_due_skipping_endpoints_finds_whatever_became_due_since,
            engine::claim_due_leases_so_a_second_claim_gets_nothing,
            engine::claim_due_reclaims_expired_leases,
            engine::claim_due_ignores_finished_deliveries,
            engine::renew_leases_extends_only_the_owners_leases,
            engine::release_makes_deliveries_due_at_their_scheduled_time,
            engine::release_by_another_owner_does_nothing,
            engine::record_outcomes_numbers_attempts_in_order,
            engine::record_outcomes_retry_is_due_only_at_next_attempt_at,
            engine::record_outcomes_failed_is_final,
            engine::record_outcomes_batch_of_several_deliveries,
            engine::record_outcomes_without_attempt_changes_status_only,
            engine::record_outcomes_on_cancelled_delivery_keeps_it_cancelled,
            engine::endpoint_effects_mark_clear_and_disable_failing,
            engine::endpoint_effects_in_one_batch_apply_in_order,
            engine::disable_failing_leaves_manually_disabled_endpoint_alone,
            engine::release_stale_leases_of_everyone,
            engine::release_stale_leases_by_owner_prefix,
            engine::release_stale_leases_prefix_is_literal,
            engine::concurrent_claims_never_hand_out_a_delivery_twice,
            engine::large_claims_renewals_and_outcome_batches_act_as_one,
            // --- history, manual retry, recovery
            history::requeue_succeeded_delivery_is_pending_manual_and_leased,
            history::requeue_pending_delivery_is_leased_and_due_now,
            history::requeue_continues_attempt_numbering,
            history::requeue_unknown_or_foreign_delivery_is_none,
            history::recover_endpoint_requeues_only_failed_in_window,
            history::recover_endpoint_of_other_workspace_does_nothing,
            history::get_delivery_with_attempts_and_workspace_scope,
            history::list_deliveries_filters,
            history::list_deliveries_paginates_both_ways,
            history::list_deliveries_time_range_pages_both_ways,
            // --- maintenance, lifecycle
            maintenance::purge_removes_finished_history_before_cutoff,
            maintenance::purge_keeps_pending_deliveries_and_their_events,
            maintenance::purge_removes_idempotency_keys_older_than_24h,
            maintenance::server_key_keeps_the_first_value,
            maintenance::concurrent_publishes_all_commit_exactly_once,
            maintenance::concurrent_publishes_with_one_idempotency_key_create_one_event,
            maintenance::close_then_write_is_closed_error,
            maintenance::close_then_read_is_closed_error,
            maintenance::close_during_writes_never_hangs,
            // --- statistics
            stats::stats_count_attempts_by_outcome_per_bucket,
            stats::stats_latency_percentiles_come_from_the_histogram,
            stats::stats_of_a_workspace_or_endpoint_never_read_another_workspace,
            stats::stats_buckets_are_whole_and_zero_filled,
            stats::stats_windows_are_bounded,
            stats::endpoint_totals_add_up_minutes_and_hours,
            stats::a_batch_touching_many_rows_counts_every_attempt,
            stats::concurrent_outcome_batches_lose_no_counts,
            stats::purge_removes_old_statistics_and_deletion_keeps_them,
            // --- events to many endpoints
            fanout::fanout_deliveries_are_claimed_within_the_limit,
            fanout::fanout_claims_leave_excluded_endpoints_due,
            fanout::fanout_claims_take_the_oldest_events_first,
            fanout::fanout_deliveries_are_read_as_pending_deliveries,
            fanout::fanout_deliveries_are_found_by_id_or_endpoint_alone,
            fanout::fanout_endpoint_deletion_cancels_unclaimed_deliveries,
            fanout::fanout_requeue_of_an_unclaimed_delivery_leases_it,
            fanout::fanout_purge_keeps_events_with_unclaimed_deliveries,
            fanout::fanout_publish_with_a_lease_answers_what_it_leased,
            fanout::fanout_claimed_deliveries_are_leased_until_their_outcome,
            fanout::fanout_claimed_deliveries_read_while_leased_stay_leased,
            fanout::fanout_and_row_deliveries_page_together,
            // --- secrets at rest
            sealing::endpoint_secrets_and_headers_read_back_from_sealed_rows,
            sealing::a_server_key_reads_back_from_a_sealed_row,
        );
    };
    (@module $backend:ident, $factory:path; $( $(#[$meta:meta])* $module:ident :: $test:ident ),* $(,)?) => {
        mod $backend {
            $(
                $(#[$meta])*
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $test() {
                    let Some((store, guard)) = $factory().await else {
                        return;
                    };
                    crate::$module::$test(store).await;
                    drop(guard);
                }
            )*
        }
    };
}

conformance_tests!(sqlite, crate::backends::sqlite_store);
conformance_tests!(postgres, crate::backends::postgres_store);
