DROP TABLE result_publishers;
DROP TABLE result_counts;
