//! The JSON Schemas derived from the response types in [`crate::views`],
//! under the names their schemas have in `openapi.json`. `tests/openapi.rs`
//! checks the hand-written document against these.

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema};

use crate::views;

fn derived<T: JsonSchema>() -> Schema {
    // Answers always carry every field (`null` when empty): the serialize
    // contract makes `Option` fields required, as the document has them.
    SchemaSettings::draft2020_12()
        .for_serialize()
        .into_generator()
        .into_root_schema_for::<T>()
}

/// `(name in openapi.json, schema derived from the type)` for every
/// response shape.
pub fn components() -> Vec<(&'static str, Schema)> {
    vec![
        ("WebhookEndpoint", derived::<views::WebhookEndpoint>()),
        (
            "WebhookEndpointCreated",
            derived::<views::WebhookEndpointCreated>(),
        ),
        (
            "WebhookEndpointRotated",
            derived::<views::WebhookEndpointRotated>(),
        ),
        (
            "WebhookSubscription",
            derived::<views::WebhookSubscription>(),
        ),
        ("DeletedObject", derived::<views::DeletedObject>()),
        ("Event", derived::<views::EventView>()),
        (
            "EventDeliverySummary",
            derived::<views::EventDeliverySummary>(),
        ),
        ("EventDetail", derived::<views::EventDetail>()),
        ("BatchItemError", derived::<views::BatchItemError>()),
        ("EventBatchResult", derived::<views::EventBatchResult>()),
        ("WebhookDelivery", derived::<views::WebhookDelivery>()),
        (
            "WebhookDeliveryAttemptRequest",
            derived::<views::WebhookDeliveryAttemptRequest>(),
        ),
        (
            "WebhookDeliveryAttempt",
            derived::<views::WebhookDeliveryAttempt>(),
        ),
        (
            "WebhookDeliveryDetail",
            derived::<views::WebhookDeliveryDetail>(),
        ),
        ("Recovery", derived::<views::Recovery>()),
        ("Stats", derived::<views::Stats>()),
        ("StatsBucket", derived::<views::StatsBucket>()),
        ("Workspace", derived::<views::WorkspaceView>()),
        ("EncryptionRotation", derived::<views::EncryptionRotation>()),
        ("ApiKey", derived::<views::ApiKey>()),
        ("PortalSession", derived::<views::PortalSession>()),
        ("ApiKeyCreated", derived::<views::ApiKeyCreated>()),
        ("EventType", derived::<views::EventTypeView>()),
        ("EventTypeList", derived::<views::EventTypeList>()),
        (
            "WebhookEndpointList",
            derived::<views::List<views::WebhookEndpoint>>(),
        ),
        (
            "WebhookSubscriptionList",
            derived::<views::List<views::WebhookSubscription>>(),
        ),
        ("EventList", derived::<views::List<views::EventView>>()),
        (
            "WebhookDeliveryList",
            derived::<views::List<views::WebhookDelivery>>(),
        ),
        ("ApiKeyList", derived::<views::List<views::ApiKey>>()),
        ("V1WebhookList", derived::<views::List<views::V1Webhook>>()),
        ("HealthStatus", derived::<views::HealthStatus>()),
        ("V1Webhook", derived::<views::V1Webhook>()),
        ("V1WebhookCreated", derived::<views::V1WebhookCreated>()),
        ("V1WebhookDeleted", derived::<views::V1WebhookDeleted>()),
        ("V1TestDelivery", derived::<views::V1TestDelivery>()),
        (
            "AdvancedOptions",
            derived::<hookrelay_core::model::AdvancedOptions>(),
        ),
        (
            "PayloadOptions",
            derived::<hookrelay_core::model::PayloadOptions>(),
        ),
        ("CreatedBy", derived::<hookrelay_core::model::CreatedBy>()),
        (
            "ResourceRef",
            derived::<hookrelay_core::model::ResourceRef>(),
        ),
    ]
}
