-- Low-income person (低收入人口), the one definition every rule that needs it reads (DOMAIN.md
-- "Early-warning rules"): on the civil-affairs roster as a low-income category on the day, on the
-- rural-monitoring list, or so flagged by the medical-insurance feed's own identity field (参保身份).
-- Any one source is enough (an alert is a prompt to verify); a rule takes the lower line when any
-- source holds and names the sources that disagree in its evidence.
--
-- low_income_spell(categories, identity_values): one row per source and span of days it holds,
-- [valid_from, valid_to) (valid_to null: still holds), with the row that says so where there is one:
--  * roster: the spells of int.household_member (纳入日期 or first snapshot listing the person, until
--    the first snapshot without them), and the roster in force (dim_roster_member: any matcher, so a
--    roster row with a mistyped ID linked by the probabilistic matcher counts too), cited by its row;
--  * insured_identity: a settlement whose 参保身份 is one of `identity_values` holds on its settlement day;
--  * rural_monitoring: the feed does not exist yet; its rows (risk 未消除, or category 脱贫户) are one
--    more `union all` here, and every rule reading this macro takes them in.
-- Used by MED_OOP_SINGLE, MED_OOP_ANNUAL and INS_NOT_ENROLLED. (SINGLE_PERSON_DIBAO means a household
-- whose roster income is in the band, EDU_* and HOUSING_UNSAFE roster categories: not this definition.)
create or replace temp macro low_income_spell(categories, identity_values) as table
select person_id, 'roster' as source, category, status_from as valid_from, valid_to,
       'civil_affairs' as feed, null::varchar as source_file, null::bigint as row_number,
       null::varchar as record_key, null::varchar as method, null::double as score
from int.household_member
where feed = 'civil_affairs' and list_contains(categories, category)
union all
select person_id, 'roster', category, coalesce(enrolled_on, snapshot_on), null::date,
       'civil_affairs', source_file, row_number::bigint, record_key, method::varchar, score::double
from dim_roster_member
where list_contains(categories, category)
union all
select person_id, 'insured_identity', insured_identity, settled_on, settled_on + 1,
       'medical_settlements', source_file, row_number::bigint, settlement_id, link_method::varchar, link_score::double
from fct_settlement
where person_id is not null and list_contains(identity_values, insured_identity);
