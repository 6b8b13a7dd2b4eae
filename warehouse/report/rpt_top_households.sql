-- The households with the highest risk score (marts.household_profile: the caseworkers' queue order),
-- as the last night left it; the head's ID and name masked.
with head as (
    select household_key, arg_max(person_id, (relation = '户主', -person_id)) as person_id
    from int.household_member
    where valid_to is null
    group by household_key
),
final as (
    select left(hp.region_code, 6) as county_code, left(hp.region_code, 9) as township_code,
           coalesce(hp.township, '(未知乡镇)') as township,
           coalesce(hp.household_code, substr(hp.household_key, 4)) as household_code,
           nullif(hp.category, 'none') as category, mask_id(p.id_number) as head_id_number, mask_name(p.name) as head_name,
           hp.members, hp.live_alerts,
           array_to_string(list_sort(list_distinct(
               list_transform(hp.signals, lambda s: s.rule_id))), ', ') as rules,
           hp.oldest_raised_on, hp.score
    from marts.household_profile hp
    left join head h using (household_key)
    left join int.person p on p.person_id = h.person_id
    where getvariable('rpt_county') = '' or left(hp.region_code, 6) = getvariable('rpt_county')
)
-- a household code built from the head's ID is masked like the ID (ordered by the code itself)
select * replace (mask_ids_in(household_code) as household_code) from final
order by score desc, final.household_code
limit getvariable('rpt_top_households')
