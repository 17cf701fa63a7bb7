DROP TABLE calendar_tokens;
DROP TABLE library_contacts;
DROP TABLE roadmap_item_history;
DROP TABLE roadmap_items;
