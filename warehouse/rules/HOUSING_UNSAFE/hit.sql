-- HOUSING_UNSAFE (seeds 001 §9, 004 (十)): a 最低生活保障 household or a 分散供养 特困 person (001 §9:
-- "住房困难最低生活保障家庭、分散供养的特困人员") whose housing, per the housing department's latest row for
-- one of the household's members, is either
--  * rated `unsafe_ratings` (C, D: 危房) and `not_renovated` (未改造; 改造中 is already being dealt with), or
--  * in an urban township (街道), registered housing-needy (住房困难 是) with neither public rental housing
--    (公租房) nor a rent subsidy (empty or 0): 001 §9 names 配租公共租赁住房、发放住房租赁补贴 for towns.
-- A dangerous rating with no renovation status counts as not renovated (a visit beats a miss).
-- Urban: the township's flag in the county's region file, else the statistical division code
-- (gbt_urban: 街道, or a 居委会 of a 镇), else rural; the evidence says when the code decided.
-- 集中 特困 persons live in an institution and are out. One alert per household and year.
create or replace table marts.hit__housing_unsafe as
with housing as (
    select l.person_id, h.safety_rating, h.renovation, h.housing_needy, h.public_rental, h.rent_subsidy,
           h.assessed_on, d.source_file, h.row_number, h.record_key, l.method, l.score
    from stg.housing h
    join meta.delivery d using (delivery_id)
    join int.link l on l.feed = 'housing' and l.delivery_id = h.delivery_id and l.row_number = h.row_number
    where not h.quarantined and h.delivered_on <= getvariable('as_of')
    qualify row_number() over (
        partition by l.person_id order by h.delivered_on desc, h.assessed_on desc nulls last, h.row_number desc
    ) = 1
),
members as (
    -- urban: the county's township list, else the statistical division code (gbt_urban), else rural
    select m.*, coalesce(t.urban, gbt_urban(m.region_code), false) as urban,
           t.urban is null and gbt_urban(m.region_code) is not null as urban_by_code
    from dim_roster_member m
    left join meta.township t on t.code9 = substr(m.region_code, 1, 9)
    where list_contains(getvariable('hu_categories'), m.category)
       or (m.category = '特困' and list_contains(getvariable('hu_tekun_support_modes'), m.support_mode))
),
judged as (
    select m.household_key, m.category, m.support_mode, m.urban, m.urban_by_code,
           m.source_file as ca_file, m.row_number as ca_row,
           m.record_key as ca_key, m.method as ca_method, m.score as ca_score, h.*,
           list_contains(getvariable('hu_unsafe_ratings'), h.safety_rating)
               and (h.renovation is null or list_contains(getvariable('hu_not_renovated'), h.renovation)) as unsafe,
           m.urban and h.housing_needy = '是' and coalesce(h.public_rental, '否') <> '是'
               and coalesce(h.rent_subsidy, 0) = 0 as needy_unhoused
    from members m
    join housing h using (person_id)
),
final as (
    select 'HOUSING_UNSAFE' as rule_id, 'household' as subject_type, null::bigint as person_id, household_key,
           strftime(getvariable('as_of'), '%Y') as period,
           null::decimal(14, 2) as figure, null::decimal(14, 2) as threshold,
           flatten(list([{feed: 'housing', source_file: source_file, row_number: row_number, record_key: record_key,
                          method: method, score: score,
                          detail: safety_rating || ' ' || coalesce(renovation, '') || case when needy_unhoused
                                  then ' 住房困难, 无公租房/租赁补贴' else '' end,
                          -- the urban clause decided on a township the county's file does not list
                          policy_default: case when needy_unhoused and urban_by_code
                                  then '城镇/农村按统计用区划代码判定（地区政策未列此乡镇）' end},
                         {feed: 'civil_affairs', source_file: ca_file, row_number: ca_row, record_key: ca_key,
                          method: ca_method, score: ca_score,
                          detail: category || coalesce(' ' || support_mode, ''),
                          policy_default: null::varchar}]
                         order by row_number, source_file, ca_row, ca_file)) as evidence
    from judged
    where unsafe or needy_unhoused
    group by household_key
)
select * from final;
