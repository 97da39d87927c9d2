//! The discovery documents: ServiceProviderConfig, ResourceTypes, Schemas.

use serde_json::{Value, json};

use super::*;

impl Scim<'_> {
    /// `/ServiceProviderConfig`.
    pub fn service_provider_config(&self) -> Value {
        json!({
            "schemas": [CONFIG_SCHEMA],
            "patch": { "supported": true },
            "bulk": { "supported": false, "maxOperations": 0, "maxPayloadSize": 0 },
            "filter": { "supported": true, "maxResults": MAX_RESULTS },
            "changePassword": { "supported": false },
            "sort": { "supported": false },
            "etag": { "supported": false },
            "authenticationSchemes": [{
                "type": "oauthbearertoken",
                "name": "Bearer token",
                "description": "The organization's SCIM token (Organization settings, SCIM), sent as Authorization: Bearer",
                "primary": true,
            }],
            "meta": { "resourceType": "ServiceProviderConfig", "location": format!("{}/ServiceProviderConfig", self.base) },
        })
    }

    /// `/ResourceTypes`.
    pub fn resource_types(&self) -> Vec<Value> {
        let kind = |id: &str, description: &str, schema: &str| {
            json!({
                "schemas": [RESOURCE_TYPE_SCHEMA],
                "id": id,
                "name": id,
                "endpoint": format!("/{id}s"),
                "description": description,
                "schema": schema,
                "meta": { "resourceType": "ResourceType", "location": format!("{}/ResourceTypes/{id}", self.base) },
            })
        };
        vec![
            kind("User", "A member of the organization", USER_SCHEMA),
            kind("Group", "A team of the organization", GROUP_SCHEMA),
        ]
    }

    /// `/Schemas`.
    pub fn schemas(&self) -> Vec<Value> {
        let text = |name: &str, description: &str, required: bool, uniqueness: &str| {
            json!({
                "name": name, "type": "string", "multiValued": false, "description": description, "required": required,
                "caseExact": false, "mutability": "readWrite", "returned": "default", "uniqueness": uniqueness,
            })
        };
        let sub = |name: &str, description: &str| text(name, description, false, "none");
        let mut email_type = sub("type", "work, home or other");
        email_type["canonicalValues"] = json!(["work", "home", "other"]);
        vec![
            json!({
                "schemas": [SCHEMA_SCHEMA],
                "id": USER_SCHEMA,
                "name": "User",
                "description": "A member of the organization",
                "attributes": [
                    text("userName", "The person's e-mail address, on a verified domain of the organization", true, "server"),
                    {
                        "name": "name", "type": "complex", "multiValued": false, "description": "The person's name",
                        "required": false, "mutability": "readWrite", "returned": "default", "uniqueness": "none",
                        "subAttributes": [sub("formatted", "The full name"), sub("familyName", "Family name"), sub("givenName", "Given name")],
                    },
                    text("displayName", "The name shown in Tally", false, "none"),
                    {
                        "name": "active", "type": "boolean", "multiValued": false, "description": "Whether the member may sign in",
                        "required": false, "mutability": "readWrite", "returned": "default", "uniqueness": "none",
                    },
                    {
                        "name": "emails", "type": "complex", "multiValued": true, "description": "E-mail addresses",
                        "required": false, "mutability": "readWrite", "returned": "default", "uniqueness": "none",
                        "subAttributes": [
                            sub("value", "The address"),
                            email_type,
                            {
                                "name": "primary", "type": "boolean", "multiValued": false, "description": "The main address",
                                "required": false, "mutability": "readWrite", "returned": "default", "uniqueness": "none",
                            },
                        ],
                    },
                ],
                "meta": { "resourceType": "Schema", "location": format!("{}/Schemas/{USER_SCHEMA}", self.base) },
            }),
            json!({
                "schemas": [SCHEMA_SCHEMA],
                "id": GROUP_SCHEMA,
                "name": "Group",
                "description": "A team of the organization; its members get the team's project roles",
                "attributes": [
                    text("displayName", "The team's name, unique in the organization", true, "server"),
                    {
                        "name": "members", "type": "complex", "multiValued": true, "description": "The team's users",
                        "required": false, "mutability": "readWrite", "returned": "default", "uniqueness": "none",
                        "subAttributes": [
                            sub("value", "The user's id"),
                            {
                                "name": "$ref", "type": "reference", "referenceTypes": ["User"], "multiValued": false,
                                "description": "The user's URL", "required": false, "caseExact": false,
                                "mutability": "immutable", "returned": "default", "uniqueness": "none",
                            },
                            {
                                "name": "type", "type": "string", "canonicalValues": ["User"], "multiValued": false,
                                "description": "Always User", "required": false, "caseExact": false,
                                "mutability": "immutable", "returned": "default", "uniqueness": "none",
                            },
                        ],
                    },
                ],
                "meta": { "resourceType": "Schema", "location": format!("{}/Schemas/{GROUP_SCHEMA}", self.base) },
            }),
        ]
    }
}
