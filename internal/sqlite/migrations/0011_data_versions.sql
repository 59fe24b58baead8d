-- 0011: a counter per kind of data that the fleet-wide reads derive their
-- answers from, bumped by triggers on every insert, update and delete of
-- the tables behind it, by any writer (this process or another one on the
-- same file). A reader that caches a derived answer (the fleet's
-- compliance, the assessment of every pending update, the model's
-- calibration) keeps it only while the counter it was derived under is
-- unchanged: see docs/benchmarks.md.
--   inventory: hosts, fact snapshots (and their updates and packages, saved
--              with them), update sightings, advisories, SLA exposures
--   outcomes:  outcomes and their packages
--   models:    stored risk models (saving one makes it the active one)
CREATE TABLE data_versions (
    name    TEXT    NOT NULL PRIMARY KEY,
    version INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

INSERT INTO data_versions (name, version) VALUES ('inventory', 1), ('outcomes', 1), ('models', 1);

CREATE TRIGGER dv_hosts_ins AFTER INSERT ON hosts BEGIN UPDATE data_versions SET version = version + 1 WHERE name = 'inventory'; END;
CREATE TRIGGER dv_hosts_upd AFTER UPDATE ON hosts BEGIN UPDATE data_versions SET version = version + 1 WHERE name = 'inventory'; END;
CREATE TRIGGER dv_hosts_del AFTER DELETE ON hosts BEGIN UPDATE data_versions SET version = version + 1 WHERE name = 'inventory'; END;
CREATE TRIGGER dv_snapshots_ins AFTER INSERT ON fact_snapshots BEGIN UPDATE data_versions SET version = version + 1 WHERE name = 'inventory'; END;
CREATE TRIGGER dv_snapshots_upd AFTER UPDATE ON fact_snapshots BEGIN UPDATE data_versions SET version = version + 1 WHERE name = 'inventory'; END;
CREATE TRIGGER dv_snapshots_del AFTER DELETE ON fact_snapshots BEGIN UPDATE data_versions SET version = version + 1 WHERE name = 'inventory'; END;
CREATE TRIGGER dv_sightings_ins AFTER INSERT ON update_sightings BEGIN UPDATE data_versions SET version = version + 1 WHERE name = 'inventory'; END;
CREATE TRIGGER dv_sightings_upd AFTER UPDATE ON update_sightings BEGIN UPDATE data_versions SET version = version + 1 WHERE name = 'inventory'; END;
CREATE TRIGGER dv_sightings_del AFTER DELETE ON update_sightings BEGIN UPDATE data_versions SET version = version + 1 WHERE name = 'inventory'; END;
CREATE TRIGGER dv_advisories_ins AFTER INSERT ON advisories BEGIN UPDATE data_versions SET version = version + 1 WHERE name = 'inventory'; END;
CREATE TRIGGER dv_advisories_upd AFTER UPDATE ON advisories BEGIN UPDATE data_versions SET version = version + 1 WHERE name = 'inventory'; END;
CREATE TRIGGER dv_advisories_del AFTER DELETE ON advisories BEGIN UPDATE data_versions SET version = version + 1 WHERE name = 'inventory'; END;
CREATE TRIGGER dv_advpkgs_ins AFTER INSERT ON advisory_packages BEGIN UPDATE data_versions SET version = version + 1 WHERE name = 'inventory'; END;
CREATE TRIGGER dv_advpkgs_del AFTER DELETE ON advisory_packages BEGIN UPDATE data_versions SET version = version + 1 WHERE name = 'inventory'; END;
CREATE TRIGGER dv_exposures_ins AFTER INSERT ON sla_exposures BEGIN UPDATE data_versions SET version = version + 1 WHERE name = 'inventory'; END;
CREATE TRIGGER dv_exposures_upd AFTER UPDATE ON sla_exposures BEGIN UPDATE data_versions SET version = version + 1 WHERE name = 'inventory'; END;
CREATE TRIGGER dv_exposures_del AFTER DELETE ON sla_exposures BEGIN UPDATE data_versions SET version = version + 1 WHERE name = 'inventory'; END;
CREATE TRIGGER dv_outcomes_ins AFTER INSERT ON outcomes BEGIN UPDATE data_versions SET version = version + 1 WHERE name = 'outcomes'; END;
CREATE TRIGGER dv_outcomes_upd AFTER UPDATE ON outcomes BEGIN UPDATE data_versions SET version = version + 1 WHERE name = 'outcomes'; END;
CREATE TRIGGER dv_outcomes_del AFTER DELETE ON outcomes BEGIN UPDATE data_versions SET version = version + 1 WHERE name = 'outcomes'; END;
CREATE TRIGGER dv_outpkgs_ins AFTER INSERT ON outcome_packages BEGIN UPDATE data_versions SET version = version + 1 WHERE name = 'outcomes'; END;
CREATE TRIGGER dv_outpkgs_del AFTER DELETE ON outcome_packages BEGIN UPDATE data_versions SET version = version + 1 WHERE name = 'outcomes'; END;
CREATE TRIGGER dv_models_ins AFTER INSERT ON models BEGIN UPDATE data_versions SET version = version + 1 WHERE name = 'models'; END;
CREATE TRIGGER dv_models_upd AFTER UPDATE ON models BEGIN UPDATE data_versions SET version = version + 1 WHERE name = 'models'; END;
CREATE TRIGGER dv_models_del AFTER DELETE ON models BEGIN UPDATE data_versions SET version = version + 1 WHERE name = 'models'; END;
