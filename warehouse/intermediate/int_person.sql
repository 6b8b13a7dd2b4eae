-- The person master: one row per person, the household registry first for name and residence,
-- the roster next, any other feed last; sex and birth date as the ID number states them.
-- Input: person_scope (rows of int.person_key): every person, or those whose rows or household
-- spells changed tonight; a person's row depends on that person's rows and spells alone, so
-- pipelines/transform/link.py replaces the rows of the persons in scope.
with scope as (
    select * from person_scope
),
current_membership as (
    select * from int.household_member where valid_to is null and person_id in (select person_id from scope)
),
registry as (
    select * from current_membership where feed = 'household_registry'
    qualify row_number() over (partition by person_id order by valid_from desc, household_key) = 1
),
roster as (
    select * from current_membership where feed = 'civil_affairs'
    qualify row_number() over (partition by person_id order by valid_from desc, household_key) = 1
),
names as (
    -- the latest name of the highest-ranked feed; two names on one day: the first in text order
    select id_number,
           arg_min(name_norm, (case feed when 'household_registry' then 1 when 'civil_affairs' then 2 else 3 end,
                               -epoch(delivered_on), name_norm)) as name
    from int.feed_row
    where id_issue is null and not quarantined and name_norm is not null
      and id_number in (select id_number from scope)
    group by id_number
),
ever as (
    select person_id,
           bool_or(feed = 'household_registry') as ever_registered,
           bool_or(feed = 'civil_affairs') as ever_on_roster
    from int.household_member where person_id in (select person_id from scope) group by person_id
),
final as (
    select k.person_id, k.id_number, n.name,
           id_sex(k.id_number) as sex,
           id_birth_date(k.id_number) as birth_date,
           reg.code as hukou_number,
           reg.region_code as registry_region_code,
           reg.registry_status,
           ros.code as household_code,
           ros.region_code as roster_region_code,
           ros.category,
           coalesce(e.ever_registered, false) as ever_registered,
           coalesce(e.ever_on_roster, false) as ever_on_roster,
           -- where alerts about this person go: the roster household, the registry household,
           -- else the area code the ID number carries (county only)
           coalesce(ros.household_key, reg.household_key) as household_key,
           coalesce(ros.region_code, reg.region_code, substr(k.id_number, 1, 6)) as region_code,
           ros.township as roster_township,
           k.first_seen_on
    from scope k
    left join names n using (id_number)
    left join registry reg using (person_id)
    left join roster ros using (person_id)
    left join ever e using (person_id)
)
select * from final
