DROP TABLE result_comments;
