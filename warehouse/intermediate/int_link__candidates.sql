-- Index (blocking) for the probabilistic matcher: candidate persons for each row the deterministic
-- pass did not settle. Input: temp table link_probe (feed, delivery_id, row_number, id_c, birth);
-- id_c is the cleaned, widened delivered ID (invalid). Output: temp table link_candidate
-- (feed, delivery_id, row_number, person_id, block), the fixed contract of the compare step.
--  * substitution: the IDs one character apart (a mistyped digit; ISO 7064 MOD 11-2 says the
--    delivered one is wrong, so the true one is among its valid neighbours);
--  * transposition: two adjacent characters swapped;
--  * birth_area: rows with no such neighbour (several errors, garbage): same birth date and area.
create or replace temp table link_candidate as
with probe as (
    select * from link_probe where regexp_full_match(id_c, '[0-9]{17}[0-9X]')
),
substitution as (
    select p.feed, p.delivery_id, p.row_number,
           substr(p.id_c, 1, pos - 1) || ch || substr(p.id_c, pos + 1) as candidate_id,
           'substitution' as block
    from probe p
    cross join range(1, 19) t(pos)
    cross join (select unnest(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'X']) as ch) c
    where ch <> substr(p.id_c, pos, 1) and (ch <> 'X' or pos = 18)
),
transposition as (
    select p.feed, p.delivery_id, p.row_number,
           substr(p.id_c, 1, pos - 1) || substr(p.id_c, pos + 1, 1) || substr(p.id_c, pos, 1)
               || substr(p.id_c, pos + 2) as candidate_id,
           'transposition' as block
    from probe p
    cross join range(1, 18) t(pos)
    where substr(p.id_c, pos, 1) <> substr(p.id_c, pos + 1, 1)
),
by_id as (
    select c.feed, c.delivery_id, c.row_number, k.person_id, c.block
    from (select * from substitution union all select * from transposition) c
    join int.person_key k on k.id_number = c.candidate_id
),
by_birth as (
    select l.feed, l.delivery_id, l.row_number, p.person_id, 'birth_area' as block
    from link_probe l
    join int.person p
      on p.birth_date = l.birth and substr(p.id_number, 1, 6) = substr(l.id_c, 1, 6)
    where l.birth is not null
      and not exists (
          select 1 from by_id b
          where b.feed = l.feed and b.delivery_id = l.delivery_id and b.row_number = l.row_number
      )
),
final as (
    select * from by_id
    union all
    select * from by_birth
)
-- one pair per row and person (a pair found by both swaps and substitutions keeps its first block)
select * from final
qualify row_number() over (partition by feed, delivery_id, row_number, person_id order by block) = 1;
