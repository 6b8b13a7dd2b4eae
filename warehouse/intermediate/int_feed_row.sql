-- The night the int layer was last built for (views and exports read it; variables do not
-- outlive a connection).
create or replace table int.night as select getvariable('as_of') as as_of;

-- Every usable row of every feed up to the night's as-of date, with its identity fields:
-- the one input of linkage. Quarantined rows are here, flagged, so that every delivered row can
-- be accounted for; linkage leaves them alone. A view over the staging tables, not a copy: a
-- copy of every delivered row cost a first night time and disk, and every later night a rebuild.
create or replace view int.feed_row as
with civil_affairs as (
    select 'civil_affairs' as feed, delivery_id, row_number, delivered_on, record_key,
           raw_id_number, id_number, id_source, id_issue, name_norm, birth_date, sex, quarantined, issues,
           record_key_masked, raw_id_masked
    from stg.civil_affairs
),
household_registry as (
    select 'household_registry', delivery_id, row_number, delivered_on, record_key,
           raw_id_number, id_number, id_source, id_issue, name_norm, birth_date, sex, quarantined, issues,
           record_key_masked, raw_id_masked
    from stg.household_registry
),
medical_settlements as (
    select 'medical_settlements', delivery_id, row_number, delivered_on, record_key,
           raw_id_number, id_number, id_source, id_issue, name_norm, null::date, null, quarantined, issues,
           record_key_masked, raw_id_masked
    from stg.medical_settlements
),
medical_enrollment as (
    select 'medical_enrollment', delivery_id, row_number, delivered_on, record_key,
           raw_id_number, id_number, id_source, id_issue, name_norm, null::date, null, quarantined, issues,
           record_key_masked, raw_id_masked
    from stg.medical_enrollment
),
education as (
    select 'education', delivery_id, row_number, delivered_on, record_key,
           raw_id_number, id_number, id_source, id_issue, name_norm, birth_date, null, quarantined, issues,
           record_key_masked, raw_id_masked
    from stg.education
),
housing as (
    select 'housing', delivery_id, row_number, delivered_on, record_key,
           raw_id_number, id_number, id_source, id_issue, name_norm, null::date, null, quarantined, issues,
           record_key_masked, raw_id_masked
    from stg.housing
),
disability as (
    select 'disability', delivery_id, row_number, delivered_on, record_key,
           raw_id_number, id_number, id_source, id_issue, name_norm, null::date, null, quarantined, issues,
           record_key_masked, raw_id_masked
    from stg.disability
),
final as (
    select * from civil_affairs
    union all select * from household_registry
    union all select * from medical_settlements
    union all select * from medical_enrollment
    union all select * from education
    union all select * from housing
    union all select * from disability
)
select * from final where delivered_on <= (select as_of from int.night);
