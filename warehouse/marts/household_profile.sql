-- Household risk profile: every household with live alerts (not cleared, not closed), its signals,
-- members, category, township and a score that orders the caseworker queue. The formula's weights
-- are configuration (pipelines/policy/risk.yaml, loaded into meta.risk_weight); a person with no
-- known household stands alone as 'P:<person_id>'.
create or replace table marts.household_profile as
with live as (
    select a.*, coalesce(a.household_key, 'P:' || a.person_id) as profile_key
    from marts.alert a
    where a.status not in ('cleared', 'closed')
),
weight as (
    select kind, key, weight from meta.risk_weight
),
members as (
    select m.household_key, m.person_id, m.relation, age_years(p.birth_date, getvariable('as_of')) as age
    from int.household_member m
    join int.person p using (person_id)
    where m.valid_to is null
      and m.household_key in (select profile_key from live)
),
severe as (
    select distinct person_id from dim_certificate where grade_n <= 2
),
member_score as (
    select m.household_key as profile_key,
           count(distinct m.person_id) as members,
           sum(case when m.age >= 80 then (select weight from weight where kind = 'member' and key = 'aged_80') else 0 end
               + case when m.age < 18 then (select weight from weight where kind = 'member' and key = 'minor') else 0 end
               + case when s.person_id is not null
                      then (select weight from weight where kind = 'member' and key = 'severe_disability') else 0 end)
               as member_points
    from (select distinct household_key, person_id, age from members) m
    left join severe s using (person_id)
    group by m.household_key
),
category as (
    select household_key as profile_key, arg_max(category, (relation = '户主', -person_id)) as category
    from int.household_member
    where valid_to is null and feed = 'civil_affairs'
    group by household_key
),
signals as (
    select l.profile_key,
           arg_min(l.township, (l.region_code, l.township)) as township,
           min(l.region_code) as region_code,
           count(*) as live_alerts,
           sum(w.weight) as rule_points,
           min(l.first_raised_on) as oldest_raised_on,
           list({alert_id: l.alert_id, rule_id: l.rule_id, period: l.period, person_id: l.person_id,
                 figure: l.figure, threshold: l.threshold, status: l.status, first_raised_on: l.first_raised_on,
                 weight: w.weight} order by w.weight desc, l.rule_id, l.period) as signals
    from live l
    left join weight w on w.kind = 'rule' and w.key = l.rule_id
    group by l.profile_key
),
final as (
    select s.profile_key as household_key,
           case when s.profile_key like 'CA:%' or s.profile_key like 'HK:%' then substr(s.profile_key, 4) end
               as household_code,
           coalesce(c.category, 'none') as category,
           s.township, s.region_code,
           coalesce(m.members, 1) as members,
           s.live_alerts, s.oldest_raised_on, s.signals,
           coalesce(s.rule_points, 0) as rule_points,
           coalesce((select weight from weight where kind = 'category' and key = coalesce(c.category, 'none')), 0)
               as category_points,
           coalesce(m.member_points, 0) as member_points,
           least(getvariable('as_of') - s.oldest_raised_on,
                 (select weight from weight where kind = 'cap_days'))
               * (select weight from weight where kind = 'per_day_open') as age_points
    from signals s
    left join category c using (profile_key)
    left join member_score m using (profile_key)
)
select *, (rule_points + category_points + member_points + age_points)::decimal(10, 2) as score
from final;
