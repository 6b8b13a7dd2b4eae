-- Warehouse layers: meta (runs, deliveries, row issues), raw (as delivered), stg (normalised),
-- int (persons, households, links), marts (rule results, alerts). Raw tables are created per
-- feed from the feed contract (pipelines/core/feeds.py); everything else is declared here.
create schema if not exists meta;
create schema if not exists raw;
create schema if not exists stg;
create schema if not exists int;
create schema if not exists marts;

create sequence if not exists meta.run_seq start 1;
create sequence if not exists meta.delivery_seq start 1;

create table if not exists meta.run (
    run_id        integer primary key,
    as_of         date not null,
    landing       varchar,
    started_at    timestamp not null,
    finished_at   timestamp,
    status        varchar not null,          -- running | succeeded | failed | publish_failed (data saved, exports not)
    phase_seconds json,
    message       varchar
);

-- One row per delivered file (数据交付): what came, and what became of it.
create table if not exists meta.delivery (
    delivery_id      integer primary key,
    feed             varchar not null,
    delivered_on     date not null,          -- the data's as-of date (the landing folder)
    source_file      varchar not null,       -- path relative to the landing area
    file_name        varchar not null,
    file_hash        varchar not null,       -- sha256 of the bytes
    bytes            bigint not null,
    format           varchar,
    encoding         varchar,
    rows_delivered   bigint not null,
    rows_loaded      bigint not null,
    rows_quarantined bigint not null,
    outcome          varchar not null,       -- loaded | loaded_with_quarantine | rejected | duplicate | superseded
    reason           varchar,
    headers          json,                   -- delivered header -> canonical column (null: extra)
    run_id           integer,
    received_at      timestamp not null
);

-- Entries of the landing area that are not deliveries (hidden files, symbolic links, files outside
-- <feed>/<YYYY-MM-DD>/): never opened, listed with the reason by `doudi deliveries export`.
create table if not exists meta.landing_ignored (
    source_file   varchar primary key,   -- path relative to the landing area
    reason        varchar not null,
    first_run_id  integer,               -- the night that first saw it (and named it a problem)
    last_run_id   integer,
    first_seen_at timestamp not null
);

-- Rows the night could not use, with a reason a person understands (raw values stay in raw.*
-- for rows that reached it; rows that could not even be split keep their text here).
-- severity: quarantine (the row is not used) or warning (used; an odd optional value was ignored).
create table if not exists meta.row_issue (
    delivery_id  integer not null,
    feed         varchar not null,
    row_number   bigint not null,
    reason_code  varchar not null,
    message      varchar not null,
    raw_text     varchar,
    severity     varchar not null default 'quarantine'
);

-- The SQL each staging table was built with (a fingerprint of it and of the macros): while it
-- holds, a night stages only the deliveries that came or went instead of rebuilding the table.
create table if not exists meta.staging (
    feed        varchar primary key,
    fingerprint varchar not null
);

-- What the derived layers were last built from: the deliveries the link step has taken in
-- (meta.link_source), and a fingerprint of each layer's inputs (meta.build). A night looks at
-- what changed since and rebuilds only that (pipelines/transform/link.py).
create table if not exists meta.link_source (
    delivery_id integer primary key
);
create table if not exists meta.build (
    target      varchar primary key,
    fingerprint varchar not null
);

-- How each delivered name reads (folded, pinyin): read once in Python, on the night the name first
-- appears (matchers/names.py; cleared when that code or its dictionaries change). One row per
-- name by construction (only names not read yet are added): no key declared, as int.person_key.
create table if not exists int.name_reading (
    name           varchar not null,
    folded         varchar,
    pinyin         varchar,
    surname_pinyin varchar
);

-- Every pinyin reading of each character of the names compared (homophones: 长 is chang or zhang).
create table if not exists int.char_reading (
    ch       varchar primary key,
    readings varchar[] not null
);

-- Stable persons: a person_id is given once to a canonical ID number and never changes.
-- id_number and person_id are each unique by construction (int_person_key.sql adds only IDs not
-- yet keyed, numbered after the highest person_id); neither is declared a key: DuckDB writes a
-- table's indexes whole at the first checkpoint of a connection, 1.1-1.5 s of every 1M night's
-- commit for these two (tests/test_incremental.py checks both stay unique).
create table if not exists int.person_key (
    id_number     varchar not null,
    person_id     bigint not null,
    first_seen_on date not null
);

-- One row per linked feed row. Matchers add rows for rows still unlinked; nothing is rewritten.
-- (feed, delivery_id, row_number) is unique by construction (every matcher inserts only rows
-- without a link: anti-joins); it is not declared a primary key because maintaining that index
-- cost a first night more than everything else linkage does (tests/test_matchers.py checks it).
create table if not exists int.link (
    feed         varchar not null,
    delivery_id  integer not null,
    row_number   bigint not null,
    person_id    bigint not null,
    method       varchar not null,   -- exact | normalised | certificate | (later) probabilistic | confirmed
    score        double not null,
    matcher      varchar not null,
    compared     json,               -- the fields that decided the link
    linked_on    date not null
);

-- Alerts behave like records: one per rule, subject and period; nights update, never duplicate.
create table if not exists marts.alert (
    alert_id         varchar primary key,
    rule_id          varchar not null,
    rule_version     integer not null,
    subject_type     varchar not null,
    person_id        bigint,
    household_key    varchar,
    period           varchar not null,
    figure           decimal(14, 2),
    threshold        decimal(14, 2),
    status           varchar not null,   -- open | cleared | closed (casework statuses in between: issue 7)
    first_raised_on  date not null,
    last_seen_on     date not null,
    cleared_on       date,
    region_code      varchar,
    township         varchar,
    evidence         json not null
);
-- added after the first release (a warehouse made before gains them on its next connection):
-- when and how casework closed the alert (published back from the casework store, webapp/)
alter table marts.alert add column if not exists closed_on date;
alter table marts.alert add column if not exists outcome varchar;  -- assisted | referred | not_eligible | false_alarm
-- evidence items left out of `evidence` (policy delivery.yaml max_evidence_items): the screen says 另有 N 条
alter table marts.alert add column if not exists evidence_omitted integer default 0;

-- Great Expectations results per delivery (batch level: counts, never sample values).
create table if not exists meta.validation (
    delivery_id        integer not null,
    expectation        varchar not null,
    column_name        varchar,
    success            boolean not null,
    element_count      bigint,
    unexpected_count   bigint,
    unexpected_percent double
);

-- Links that were replaced (a data officer's decision, a corrected file): valid_to is when.
create table if not exists int.link_history (
    feed         varchar not null,
    delivery_id  integer not null,
    row_number   bigint not null,
    person_id    bigint not null,
    method       varchar not null,
    score        double not null,
    matcher      varchar not null,
    compared     json,
    linked_on    date not null,
    valid_to     date not null
);

-- A data officer's word on a pair: confirmed or rejected; it wins over the model on later nights.
create table if not exists int.link_decision (
    feed         varchar not null,
    delivery_id  integer not null,
    row_number   bigint not null,
    person_id    bigint not null,
    decision     varchar not null,    -- confirmed | rejected
    decided_by   varchar,
    decided_at   timestamp not null,
    primary key (feed, delivery_id, row_number, person_id)
);

-- Pairs between the thresholds, for review; rebuilt for each night.
create table if not exists int.link_review (
    feed         varchar not null,
    delivery_id  integer not null,
    row_number   bigint not null,
    person_id    bigint not null,
    score        double not null,
    compared     json,
    night        date not null
);

-- The Fellegi-Sunter weights a night used (explanations quote them).
create table if not exists int.link_model (
    night        date not null,
    comparison   varchar not null,
    level        varchar not null,
    m            double,
    u            double,
    weight       double
);

-- Every (rule, version, parameters) the warehouse has run: alerts cite the version, this says what it meant.
create table if not exists meta.rule_version (
    rule_id          varchar not null,
    version          integer not null,
    fingerprint      varchar not null,
    parameters       json not null,
    declared_version integer not null,   -- the version rules.yaml said
    first_used_on    date not null,
    primary key (rule_id, version)
);

-- Rules a night did not run because a feed they need was not in force (pipelines/rules/engine.py): one row
-- per night, rule and feed; the rule's alerts were left as they were. Rewritten when a night reruns.
create table if not exists meta.rule_skip (
    as_of             date not null,
    rule_id           varchar not null,
    feed              varchar not null,
    reason            varchar not null,  -- never_delivered | stale
    last_delivered_on date,              -- the feed's latest usable delivery on or before the night
    freshness_days    integer not null,
    primary key (as_of, rule_id, feed)
);

-- Household risk profiles, rebuilt every night by marts/household_profile.sql (empty until then).
create table if not exists marts.household_profile (
    household_key    varchar,
    household_code   varchar,
    category         varchar,
    township         varchar,
    region_code      varchar,
    members          bigint,
    live_alerts      bigint,
    oldest_raised_on date,
    signals          json,
    rule_points      double,
    category_points  double,
    member_points    double,
    age_points       double,
    score            decimal(10, 2)
);

-- Settlements this county sent to the patient's home county (the province exchange,
-- pipelines/outputs/exchange.py): reloaded each night from the receipts <partition>/referrals/<as_of>/to_<county>.parquet;
-- the medical rules leave them to the home county (a referral).
create table if not exists int.referral (
    settlement_id varchar not null,
    source_file   varchar not null,
    row_number    bigint not null,
    referred_to   varchar not null,
    exchanged_on  date not null
);
