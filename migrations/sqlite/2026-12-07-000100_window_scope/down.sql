DROP TABLE window_scope_sets;
DROP TABLE window_scopes;
