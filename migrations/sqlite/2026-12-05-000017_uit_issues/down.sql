DROP TABLE uit_issue_history;
DROP TABLE uit_issue_results;
DROP TABLE uit_issue_device_sets;
DROP TABLE uit_issues;
