DROP TABLE device_set_prevalence;
DROP TABLE estate_import_rejections;
DROP TABLE estate_imports;
