DROP TABLE deployment_assessments;
DROP TABLE deployment_nominations;
