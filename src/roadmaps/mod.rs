//! Product roadmaps: planned firmware versions per product, with their history.
//!
//! Who sees an item depends on its `visibility`: `private` is the owner (the product's
//! manufacturer) and the operator; `participants` adds every organisation taking part in a
//! UIT window that is open now; `industry` is every signed-in user. Every read path (lists,
//! the item, its history, the cross-product view and the calendar feed) goes through
//! [`model::Viewer`], and an item you cannot see is the same 404 as a missing one.

pub mod announce;
pub mod handlers;
pub mod model;
pub mod view;

pub use model::Viewer;

crate::text_enum!(
    /// What a planned version is about.
    RoadmapCategory {
        SpecChange => "spec_change",
        DefectFix => "defect_fix",
        Enhancement => "enhancement",
        Security => "security",
    }
);

crate::text_enum!(
    /// How firm a planned version is.
    RoadmapStatus {
        Proposed => "proposed",
        Committed => "committed",
        Delivered => "delivered",
        Cancelled => "cancelled",
    }
);

crate::text_enum!(
    /// Who may see a roadmap item: the owner (and the operator), also the organisations taking
    /// part in an open UIT window, or every signed-in user.
    RoadmapVisibility {
        Private => "private",
        Participants => "participants",
        Industry => "industry",
    }
);

crate::text_enum!(
    /// What a history entry records.
    RoadmapChangeKind {
        Created => "created",
        Updated => "updated",
        Deleted => "deleted",
    }
);

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(handlers::list_roadmap_items)
        .service(handlers::create_roadmap_item)
        .service(handlers::get_roadmap_item)
        .service(handlers::update_roadmap_item)
        .service(handlers::delete_roadmap_item)
        .service(view::list_roadmap_item_history)
        .service(view::roadmap_view);
}
