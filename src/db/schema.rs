//! The one diesel schema, shared by SQLite and PostgreSQL (portable column types only).

diesel::table! {
    organisations (id) {
        id -> Text,
        name -> Text,
        slug -> Text,
        kind -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> BigInt,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        org_id -> Text,
        email -> Text,
        name -> Text,
        role -> Text,
        password_hash -> Text,
        token_version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> BigInt,
    }
}

diesel::table! {
    refresh_tokens (id) {
        id -> Text,
        user_id -> Text,
        family_id -> Text,
        token_hash -> Text,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    api_tokens (id) {
        id -> Text,
        user_id -> Text,
        name -> Text,
        token_hash -> Text,
        token_prefix -> Text,
        expires_at -> Nullable<Timestamp>,
        last_used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    invitations (id) {
        id -> Text,
        org_id -> Text,
        email -> Text,
        role -> Text,
        token_hash -> Text,
        invited_by -> Nullable<Text>,
        expires_at -> Timestamp,
        accepted_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    web_sessions (id) {
        id -> Text,
        token_hash -> Text,
        user_id -> Text,
        token_version -> BigInt,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    password_resets (id) {
        id -> Text,
        user_id -> Text,
        token_hash -> Text,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Text,
        occurred_at -> Timestamp,
        actor_user_id -> Nullable<Text>,
        actor_org_id -> Nullable<Text>,
        org_id -> Nullable<Text>,
        action -> Text,
        entity_type -> Text,
        entity_id -> Text,
        before_json -> Nullable<Text>,
        after_json -> Nullable<Text>,
        request_id -> Nullable<Text>,
    }
}

diesel::table! {
    idempotency_keys (principal, idem_key) {
        principal -> Text,
        idem_key -> Text,
        fingerprint -> Text,
        status_code -> Integer,
        response_body -> Text,
        location -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    mail_outbox (id) {
        id -> Text,
        recipient -> Text,
        template -> Text,
        subject -> Text,
        body_text -> Text,
        body_html -> Text,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        locked_until -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        sent_at -> Nullable<Timestamp>,
        lease_id -> Nullable<Text>,
    }
}

diesel::joinable!(users -> organisations (org_id));
diesel::joinable!(refresh_tokens -> users (user_id));
diesel::joinable!(api_tokens -> users (user_id));
diesel::joinable!(invitations -> organisations (org_id));
diesel::joinable!(password_resets -> users (user_id));
diesel::joinable!(web_sessions -> users (user_id));

diesel::table! {
    device_models (id) {
        id -> Text,
        manufacturer_org_id -> Text,
        device_type -> Text,
        name -> Text,
        hardware_version -> Text,
        cpl_listed -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> BigInt,
    }
}

diesel::table! {
    firmware_versions (id) {
        id -> Text,
        device_model_id -> Text,
        version -> Text,
        version_key -> Text,
        status -> Text,
        released_on -> Nullable<Date>,
        retirement_date -> Nullable<Date>,
        successor_id -> Nullable<Text>,
        ota_upgradable -> Bool,
        notes -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        row_version -> BigInt,
    }
}

diesel::table! {
    manufacturing_decisions (id) {
        id -> Text,
        device_model_id -> Text,
        firmware_id -> Text,
        from_date -> Date,
        note -> Text,
        decided_by_org_id -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    firmware_upgrade_paths (firmware_id, from_firmware_id) {
        firmware_id -> Text,
        from_firmware_id -> Text,
    }
}

diesel::table! {
    device_sets (id) {
        id -> Text,
        name -> Text,
        membership_key -> Text,
        comms_hub_firmware_id -> Text,
        prevalence -> BigInt,
        created_by_org_id -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> BigInt,
    }
}

diesel::table! {
    device_set_members (device_set_id, firmware_id) {
        device_set_id -> Text,
        firmware_id -> Text,
    }
}

diesel::table! {
    scenarios (code) {
        code -> Text,
        title -> Text,
        description -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    releases (id) {
        id -> Text,
        name -> Text,
        kind -> Text,
        target_date -> Nullable<Date>,
        stage -> Text,
        notes -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> BigInt,
    }
}

diesel::table! {
    release_firmware (release_id, firmware_id) {
        release_id -> Text,
        firmware_id -> Text,
    }
}

diesel::table! {
    release_stage_history (id) {
        id -> Text,
        release_id -> Text,
        from_stage -> Nullable<Text>,
        to_stage -> Text,
        decided_at -> Timestamp,
        effective_at -> Timestamp,
        actor_user_id -> Nullable<Text>,
        actor_org_id -> Nullable<Text>,
        decision_note -> Text,
        review_pack_id -> Nullable<Text>,
        review_pack_sha256 -> Nullable<Text>,
        reviews -> Nullable<Text>,
        override_reason -> Nullable<Text>,
    }
}

diesel::table! {
    uit_windows (id) {
        id -> Text,
        release_id -> Text,
        name -> Text,
        opens_at -> Timestamp,
        closes_at -> Timestamp,
        cancelled_at -> Nullable<Timestamp>,
        cancel_reason -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> BigInt,
        exit_criteria -> Nullable<Text>,
        claim_ttl_days -> Nullable<Integer>,
    }
}

diesel::table! {
    window_scenarios (window_id, scenario_code) {
        window_id -> Text,
        scenario_code -> Text,
        position -> Integer,
    }
}

diesel::table! {
    window_participants (window_id, org_id) {
        window_id -> Text,
        org_id -> Text,
        joined_at -> Timestamp,
        joined_by_user_id -> Nullable<Text>,
    }
}

diesel::table! {
    change_events (id) {
        id -> Text,
        occurred_at -> Timestamp,
        topic -> Text,
        kind -> Text,
        entity_type -> Text,
        entity_id -> Text,
        summary -> Text,
        details_json -> Text,
        device_types_json -> Text,
        device_model_ids_json -> Text,
        manufacturer_org_ids_json -> Text,
        uit_window_ids_json -> Text,
        actor_org_id -> Nullable<Text>,
        dedupe_key -> Nullable<Text>,
        consumed_at -> Nullable<Timestamp>,
        audience -> Text,
    }
}

diesel::joinable!(device_models -> organisations (manufacturer_org_id));
diesel::joinable!(firmware_versions -> device_models (device_model_id));
diesel::joinable!(manufacturing_decisions -> device_models (device_model_id));
diesel::joinable!(manufacturing_decisions -> firmware_versions (firmware_id));
diesel::joinable!(device_set_members -> device_sets (device_set_id));
diesel::joinable!(device_set_members -> firmware_versions (firmware_id));
diesel::joinable!(release_firmware -> releases (release_id));
diesel::joinable!(release_firmware -> firmware_versions (firmware_id));
diesel::joinable!(release_stage_history -> releases (release_id));
diesel::joinable!(uit_windows -> releases (release_id));
diesel::joinable!(window_scenarios -> uit_windows (window_id));
diesel::joinable!(window_scenarios -> scenarios (scenario_code));
diesel::joinable!(window_participants -> uit_windows (window_id));
diesel::joinable!(window_participants -> organisations (org_id));

diesel::table! {
    claims (id) {
        id -> Text,
        window_id -> Text,
        device_set_id -> Text,
        org_id -> Text,
        note -> Text,
        claimed_by_user_id -> Nullable<Text>,
        claimed_at -> Timestamp,
        reminded_for -> Nullable<Timestamp>,
    }
}

diesel::table! {
    claim_offers (id) {
        id -> Text,
        claim_id -> Text,
        window_id -> Text,
        device_set_id -> Text,
        from_org_id -> Text,
        to_org_id -> Text,
        status -> Text,
        offered_by_user_id -> Nullable<Text>,
        created_at -> Timestamp,
        decided_at -> Nullable<Timestamp>,
        decided_by_user_id -> Nullable<Text>,
    }
}

diesel::table! {
    claim_queue (id) {
        id -> Text,
        window_id -> Text,
        device_set_id -> Text,
        org_id -> Text,
        note -> Text,
        queued_by_user_id -> Nullable<Text>,
        queued_at -> Timestamp,
    }
}

diesel::table! {
    defect_masks (id) {
        id -> Text,
        code -> Text,
        title -> Text,
        description -> Text,
        severity -> Text,
        device_model_id -> Text,
        symptom -> Text,
        workaround -> Text,
        status -> Text,
        fixed_in_firmware_id -> Nullable<Text>,
        owner_org_id -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> BigInt,
    }
}

diesel::table! {
    defect_mask_firmware (defect_mask_id, firmware_id) {
        defect_mask_id -> Text,
        firmware_id -> Text,
    }
}

diesel::table! {
    defect_mask_adoptions (defect_mask_id, org_id) {
        defect_mask_id -> Text,
        org_id -> Text,
        adopted_by_user_id -> Nullable<Text>,
        adopted_at -> Timestamp,
    }
}

diesel::table! {
    result_cells (window_id, device_set_id, scenario_code) {
        window_id -> Text,
        device_set_id -> Text,
        scenario_code -> Text,
        industry_fail -> BigInt,
        industry_blocked -> BigInt,
        industry_pass_with_observations -> BigInt,
        industry_pass -> BigInt,
        industry_not_run -> BigInt,
        participants_fail -> BigInt,
        participants_blocked -> BigInt,
        participants_pass_with_observations -> BigInt,
        participants_pass -> BigInt,
        participants_not_run -> BigInt,
    }
}

diesel::table! {
    /// The versions behind the grids' ETags (`matrix::versions`): scope '' for everything
    /// but results (bumped by triggers), a window's id for its results.
    grid_versions (scope) {
        scope -> Text,
        version -> BigInt,
    }
}

diesel::table! {
    result_publishers (window_id, org_id, visibility) {
        window_id -> Text,
        org_id -> Text,
        visibility -> Text,
        n -> BigInt,
    }
}

diesel::table! {
    results (id) {
        id -> Text,
        window_id -> Text,
        device_set_id -> Text,
        scenario_code -> Text,
        org_id -> Text,
        outcome -> Text,
        executed_at -> Nullable<Timestamp>,
        notes -> Text,
        external_ref -> Nullable<Text>,
        visibility -> Text,
        lead -> Bool,
        defect_mask_ids -> Text,
        published_by_user_id -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> BigInt,
    }
}

diesel::table! {
    result_defect_masks (result_id, defect_mask_id) {
        result_id -> Text,
        defect_mask_id -> Text,
    }
}

diesel::table! {
    result_revisions (id) {
        id -> Text,
        result_id -> Text,
        revision -> Integer,
        snapshot_json -> Text,
        visibility -> Text,
        replaced_at -> Timestamp,
        replaced_by_user_id -> Nullable<Text>,
    }
}

diesel::table! {
    roadmap_items (id) {
        id -> Text,
        device_model_id -> Text,
        owner_org_id -> Text,
        planned_version -> Text,
        planned_date -> Nullable<Date>,
        category -> Text,
        summary -> Text,
        status -> Text,
        visibility -> Text,
        deleted_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> BigInt,
    }
}

diesel::table! {
    roadmap_item_history (id) {
        id -> Text,
        roadmap_item_id -> Text,
        version -> BigInt,
        change -> Text,
        snapshot_json -> Text,
        changed_at -> Timestamp,
        changed_by_user_id -> Nullable<Text>,
        changed_by_org_id -> Nullable<Text>,
    }
}

diesel::table! {
    library_contacts (id) {
        id -> Text,
        manufacturer_org_id -> Text,
        device_model_id -> Nullable<Text>,
        contact_name -> Text,
        email -> Text,
        phone -> Nullable<Text>,
        url -> Nullable<Text>,
        notes -> Text,
        verified_on -> Date,
        stale_reminded_for -> Nullable<Date>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> BigInt,
    }
}

diesel::table! {
    calendar_tokens (user_id) {
        user_id -> Text,
        token_hash -> Text,
        created_at -> Timestamp,
    }
}

diesel::joinable!(claims -> uit_windows (window_id));
diesel::joinable!(claims -> device_sets (device_set_id));
diesel::joinable!(claims -> organisations (org_id));
diesel::joinable!(claim_queue -> organisations (org_id));
diesel::joinable!(defect_masks -> device_models (device_model_id));
diesel::joinable!(defect_mask_firmware -> defect_masks (defect_mask_id));
diesel::joinable!(defect_mask_adoptions -> defect_masks (defect_mask_id));
diesel::joinable!(results -> uit_windows (window_id));
diesel::joinable!(results -> device_sets (device_set_id));
diesel::joinable!(results -> organisations (org_id));
diesel::joinable!(result_defect_masks -> results (result_id));
diesel::joinable!(result_defect_masks -> defect_masks (defect_mask_id));
diesel::joinable!(result_revisions -> results (result_id));
diesel::joinable!(roadmap_items -> device_models (device_model_id));
diesel::joinable!(roadmap_item_history -> roadmap_items (roadmap_item_id));
diesel::joinable!(library_contacts -> organisations (manufacturer_org_id));
diesel::joinable!(calendar_tokens -> users (user_id));

diesel::table! {
    subscriptions (id) {
        id -> Text,
        user_id -> Nullable<Text>,
        email -> Nullable<Text>,
        topics_json -> Text,
        filters_json -> Text,
        mode -> Text,
        status -> Text,
        confirm_token_hash -> Nullable<Text>,
        confirmation_sent_at -> Nullable<Timestamp>,
        confirmed_at -> Nullable<Timestamp>,
        unsubscribe_token -> Text,
        unsubscribed_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> BigInt,
    }
}

diesel::table! {
    notifications (id) {
        id -> Text,
        kind -> Text,
        subscription_id -> Text,
        change_event_id -> Nullable<Text>,
        digest_id -> Nullable<Text>,
        digest_day -> Nullable<Date>,
        recipient -> Text,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        lease_id -> Nullable<Text>,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        sent_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    notification_deliveries (id) {
        id -> Text,
        notification_id -> Text,
        attempt -> Integer,
        attempted_at -> Timestamp,
        outcome -> Text,
        error -> Nullable<Text>,
    }
}

diesel::joinable!(subscriptions -> users (user_id));
diesel::joinable!(notifications -> subscriptions (subscription_id));
diesel::joinable!(notifications -> change_events (change_event_id));
diesel::joinable!(notification_deliveries -> notifications (notification_id));

diesel::table! {
    rate_limit_counters (bucket_key, window_start) {
        bucket_key -> Text,
        window_start -> Timestamp,
        hits -> BigInt,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    review_packs (id) {
        id -> Text,
        window_id -> Text,
        release_id -> Text,
        title -> Text,
        sha256 -> Text,
        bytes -> BigInt,
        results -> BigInt,
        readiness_met -> Bool,
        summary -> Text,
        created_at -> Timestamp,
        created_by_user_id -> Nullable<Text>,
        created_by_org_id -> Text,
    }
}

diesel::table! {
    review_pack_parts (pack_id, part, seq) {
        pack_id -> Text,
        part -> Text,
        seq -> Integer,
        body -> Text,
    }
}

diesel::table! {
    pack_reviews (id) {
        id -> Text,
        pack_id -> Text,
        org_id -> Text,
        user_id -> Nullable<Text>,
        verdict -> Text,
        comment -> Text,
        created_at -> Timestamp,
        superseded_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(review_packs -> uit_windows (window_id));
diesel::joinable!(review_pack_parts -> review_packs (pack_id));
diesel::joinable!(pack_reviews -> review_packs (pack_id));

diesel::table! {
    uit_issues (id) {
        id -> Text,
        window_id -> Text,
        title -> Text,
        description -> Text,
        severity -> Text,
        status -> Text,
        raised_by_org_id -> Text,
        raised_by_user_id -> Nullable<Text>,
        resolving_org_id -> Text,
        defect_mask_id -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> BigInt,
    }
}

diesel::table! {
    uit_issue_device_sets (uit_issue_id, device_set_id) {
        uit_issue_id -> Text,
        device_set_id -> Text,
    }
}

diesel::table! {
    uit_issue_results (uit_issue_id, result_id) {
        uit_issue_id -> Text,
        result_id -> Text,
    }
}

diesel::table! {
    uit_issue_history (id) {
        id -> Text,
        uit_issue_id -> Text,
        from_status -> Nullable<Text>,
        to_status -> Text,
        resolving_org_id -> Text,
        comment -> Text,
        actor_user_id -> Nullable<Text>,
        actor_org_id -> Nullable<Text>,
        occurred_at -> Timestamp,
    }
}

diesel::joinable!(uit_issues -> uit_windows (window_id));
diesel::joinable!(uit_issues -> defect_masks (defect_mask_id));
diesel::joinable!(uit_issue_device_sets -> uit_issues (uit_issue_id));
diesel::joinable!(uit_issue_device_sets -> device_sets (device_set_id));
diesel::joinable!(uit_issue_results -> uit_issues (uit_issue_id));
diesel::joinable!(uit_issue_results -> results (result_id));
diesel::joinable!(uit_issue_history -> uit_issues (uit_issue_id));

diesel::table! {
    result_comments (id) {
        id -> Text,
        result_id -> Text,
        org_id -> Text,
        author_user_id -> Text,
        author_name -> Text,
        body -> Text,
        created_at -> Timestamp,
        deleted_at -> Nullable<Timestamp>,
        deleted_by_user_id -> Nullable<Text>,
    }
}

diesel::joinable!(result_comments -> results (result_id));
diesel::joinable!(result_comments -> organisations (org_id));

diesel::table! {
    estate_imports (id) {
        id -> Text,
        content_sha256 -> Text,
        format -> Text,
        as_of -> Date,
        status -> Text,
        rows_imported -> BigInt,
        rows_rejected -> BigInt,
        bytes_total -> BigInt,
        bytes_read -> BigInt,
        error -> Nullable<Text>,
        created_by_user_id -> Nullable<Text>,
        created_by_org_id -> Text,
        created_at -> Timestamp,
        started_at -> Nullable<Timestamp>,
        finished_at -> Nullable<Timestamp>,
        heartbeat_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    estate_import_rejections (import_id, line) {
        import_id -> Text,
        line -> BigInt,
        reason -> Text,
    }
}

diesel::table! {
    device_set_prevalence (device_set_id, as_of) {
        device_set_id -> Text,
        as_of -> Date,
        installed_count -> BigInt,
        import_id -> Text,
    }
}

diesel::joinable!(estate_imports -> organisations (created_by_org_id));
diesel::joinable!(estate_import_rejections -> estate_imports (import_id));
diesel::joinable!(device_set_prevalence -> device_sets (device_set_id));
diesel::joinable!(device_set_prevalence -> estate_imports (import_id));

diesel::table! {
    deployment_nominations (id) {
        id -> Text,
        release_id -> Text,
        phase -> Text,
        org_id -> Text,
        device_set_ids_json -> Text,
        hub_count -> BigInt,
        note -> Text,
        created_by_user_id -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    deployment_assessments (id) {
        id -> Text,
        release_id -> Text,
        phase -> Text,
        outcome -> Text,
        issues_json -> Text,
        minutes -> Text,
        recorded_by_user_id -> Text,
        recorded_by_org_id -> Text,
        recorded_at -> Timestamp,
    }
}

diesel::joinable!(deployment_nominations -> releases (release_id));
diesel::joinable!(deployment_nominations -> organisations (org_id));
diesel::joinable!(deployment_assessments -> releases (release_id));

diesel::table! {
    window_scopes (window_id) {
        window_id -> Text,
        strategy -> Text,
        top_n -> Nullable<BigInt>,
        cover_every_live_version -> Bool,
        dpl_as_of -> Nullable<Date>,
        set_by_user_id -> Nullable<Text>,
        set_by_org_id -> Text,
        set_at -> Timestamp,
    }
}

diesel::table! {
    window_scope_sets (window_id, device_set_id) {
        window_id -> Text,
        device_set_id -> Text,
        position -> BigInt,
        reason -> Text,
    }
}

diesel::joinable!(window_scope_sets -> window_scopes (window_id));
diesel::joinable!(window_scope_sets -> device_sets (device_set_id));

diesel::allow_tables_to_appear_in_same_query!(
    review_packs,
    review_pack_parts,
    pack_reviews,
    organisations,
    users,
    refresh_tokens,
    api_tokens,
    invitations,
    password_resets,
    audit_events,
    idempotency_keys,
    mail_outbox,
    device_models,
    firmware_versions,
    firmware_upgrade_paths,
    device_sets,
    device_set_members,
    scenarios,
    releases,
    release_firmware,
    release_stage_history,
    uit_windows,
    window_scenarios,
    window_participants,
    change_events,
    claims,
    claim_offers,
    claim_queue,
    defect_masks,
    defect_mask_firmware,
    defect_mask_adoptions,
    results,
    result_cells,
    result_publishers,
    result_defect_masks,
    result_revisions,
    roadmap_items,
    roadmap_item_history,
    library_contacts,
    calendar_tokens,
    subscriptions,
    notifications,
    result_comments,
    notification_deliveries,
    rate_limit_counters,
    web_sessions,
    uit_issues,
    uit_issue_device_sets,
    uit_issue_results,
    uit_issue_history,
    estate_imports,
    estate_import_rejections,
    device_set_prevalence,
    manufacturing_decisions,
    deployment_nominations,
    deployment_assessments,
    window_scopes,
    window_scope_sets,
);
