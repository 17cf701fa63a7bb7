//! Ids of the main resources: UUIDv7 strings, each in a type of its own, so an organisation's
//! id cannot be passed, stored or compared where a user's (or any other resource's) is meant.
//!
//! An id type is its own diesel TEXT column type on both backends (`text_column!`) and
//! serialises as the bare string. It has no `ToSchema` on purpose: a field of an API type
//! says `#[schema(value_type = String)]`, so the OpenAPI document shows a plain string and a
//! new field cannot forget to say so (the derive does not compile without it).

/// Declares id types; see the module documentation.
#[macro_export]
macro_rules! id_type {
    ($($(#[$doc:meta])* $name:ident),+ $(,)?) => {$(
        $(#[$doc])*
        #[derive(
            Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
            diesel::expression::AsExpression, diesel::deserialize::FromSqlRow,
        )]
        #[diesel(sql_type = diesel::sql_types::Text)]
        #[serde(transparent)]
        pub struct $name(String);

        $crate::text_column!($name);

        impl $name {
            /// A new UUIDv7 id.
            #[allow(clippy::new_without_default)]
            pub fn new() -> Self {
                Self($crate::db::new_id())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }

            fn parse(text: &str) -> Option<Self> {
                Some(Self(text.to_owned()))
            }
        }

        /// An id as it came from a path, a query, a body or a row read as text.
        impl From<String> for $name {
            fn from(id: String) -> Self {
                Self(id)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                Self(id.to_owned())
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<$name> for $name {
            fn as_ref(&self) -> &$name {
                self
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<&$name> for $name {
            fn eq(&self, other: &&$name) -> bool {
                self == *other
            }
        }

        impl PartialEq<$name> for &$name {
            fn eq(&self, other: &$name) -> bool {
                *self == other
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    )+};
}

crate::id_type!(
    /// An organisation's id: the tenant every visibility rule is about.
    OrgId,
    /// A user's id.
    UserId,
    /// A UIT window's id.
    WindowId,
    /// A device set's id: one Comms Hub firmware with the device firmware around it.
    DeviceSetId,
    /// A device model's (a product's) id.
    DeviceModelId,
    /// A firmware version's id.
    FirmwareId,
    /// A release's id.
    ReleaseId,
    /// A compatibility result's id.
    ResultId,
    /// A claim's id: one organisation's lead on one device set in one window.
    ClaimId,
    /// A defect mask's id.
    DefectMaskId,
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_its_bare_string_in_json_and_compares_only_with_its_own_kind() {
        let org = OrgId::from("o1");
        assert_eq!(serde_json::to_value(&org).unwrap(), serde_json::json!("o1"));
        assert_eq!(serde_json::from_value::<OrgId>(serde_json::json!("o1")).unwrap(), org);
        assert_eq!(org, &OrgId::from("o1"));
        assert_eq!(org.as_str(), "o1");
        let fresh = UserId::new();
        assert_eq!(uuid::Uuid::parse_str(fresh.as_str()).unwrap().get_version_num(), 7);
    }
}
