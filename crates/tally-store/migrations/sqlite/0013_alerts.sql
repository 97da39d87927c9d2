-- Alerts on saved Insights and Funnels reports, checked by a scheduler inside `tally serve`:
-- a check is leased (one at a time, across nodes), recorded once per period, and its
-- deliveries recorded, so a restart neither skips nor repeats a firing.
CREATE TABLE alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id INTEGER NOT NULL REFERENCES projects (id),
    bookmark_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    condition TEXT NOT NULL,
    frequency TEXT NOT NULL CHECK (frequency IN ('hourly', 'daily', 'weekly')),
    emails TEXT NOT NULL DEFAULT '[]',
    webhook_url TEXT NOT NULL DEFAULT '',
    webhook_username TEXT NOT NULL DEFAULT '',
    webhook_password_sealed TEXT NOT NULL DEFAULT '',
    report_shape TEXT NOT NULL,
    invalid_reason TEXT NOT NULL DEFAULT '',
    created_by INTEGER NOT NULL REFERENCES users (id),
    created_at INTEGER NOT NULL,
    modified_at INTEGER NOT NULL,
    next_check_at INTEGER NOT NULL,
    lease_until INTEGER
);
CREATE INDEX alerts_by_project ON alerts (project_id);
CREATE INDEX alerts_by_next_check ON alerts (next_check_at);

CREATE TABLE alert_checks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id INTEGER NOT NULL,
    project_id INTEGER NOT NULL REFERENCES projects (id),
    period TEXT NOT NULL,
    checked_at INTEGER NOT NULL,
    value DOUBLE PRECISION,
    previous DOUBLE PRECISION,
    fired INTEGER NOT NULL,
    test INTEGER NOT NULL DEFAULT 0,
    delivered INTEGER NOT NULL DEFAULT 0,
    delivery TEXT NOT NULL DEFAULT ''
);
CREATE INDEX alert_checks_by_alert ON alert_checks (alert_id);
-- One check per alert and period: a restart cannot fire a period twice.
CREATE UNIQUE INDEX alert_checks_once ON alert_checks (alert_id, period) WHERE test = 0;
