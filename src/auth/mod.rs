//! Identity: passwords, tokens, the `AuthContext` extractor and the capability table.

pub mod extractor;
pub mod handlers;
pub mod model;
pub mod password;
pub mod tokens;

pub use extractor::{AuthContext, Caller};

text_enum!(
    /// What kind of SEC party an organisation is; it decides what the organisation may do.
    OrgKind {
        Operator => "operator",
        Supplier => "supplier",
        Manufacturer => "manufacturer",
        ServiceProvider => "service_provider",
        Reviewer => "reviewer",
        Other => "other",
    }
);

text_enum!(
    /// A user's role in their organisation.
    Role {
        Admin => "admin",
        Member => "member",
        Viewer => "viewer",
    }
);

/// What an organisation may do, by kind (API.md's capability table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    /// Organisations, releases, UIT windows, scenarios.
    ManageIndustry,
    /// Device models and firmware (operator: any; manufacturers, service providers: own).
    ManageCatalogue,
    ManageDeviceSets,
    /// Join windows, claim device sets, publish results.
    Participate,
    PublishDefectMasks,
    /// Roadmaps and firmware-library contacts.
    ManageRoadmaps,
    ReadIndustry,
}

impl Capability {
    pub fn allowed_for(self, kind: OrgKind) -> bool {
        use OrgKind::*;
        match self {
            Capability::ManageIndustry => kind == Operator,
            Capability::ManageCatalogue | Capability::ManageRoadmaps => {
                matches!(kind, Operator | Manufacturer | ServiceProvider)
            }
            Capability::ManageDeviceSets | Capability::Participate | Capability::PublishDefectMasks => {
                !matches!(kind, Reviewer)
            }
            Capability::ReadIndustry => true,
        }
    }

    /// Every capability but reading changes data, so viewers lack it.
    pub fn is_write(self) -> bool {
        self != Capability::ReadIndustry
    }
}
