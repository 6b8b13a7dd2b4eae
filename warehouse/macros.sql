-- Normalisation macros shared by every staging model. The reference implementation the tests
-- compare these against is pipelines/core/idcard.py.

-- ISO 7064 MOD 11-2 check character of the first 17 digits of an ID (GB 11643).
create or replace temp macro id_check_char(b) as
    substr('10X98765432', (coalesce(7*try_cast(substr(b,1,1) as integer) + 9*try_cast(substr(b,2,1) as integer) + 10*try_cast(substr(b,3,1) as integer) + 5*try_cast(substr(b,4,1) as integer) + 8*try_cast(substr(b,5,1) as integer) + 4*try_cast(substr(b,6,1) as integer) + 2*try_cast(substr(b,7,1) as integer) + 1*try_cast(substr(b,8,1) as integer) + 6*try_cast(substr(b,9,1) as integer) + 3*try_cast(substr(b,10,1) as integer) + 7*try_cast(substr(b,11,1) as integer) + 9*try_cast(substr(b,12,1) as integer) + 10*try_cast(substr(b,13,1) as integer) + 5*try_cast(substr(b,14,1) as integer) + 8*try_cast(substr(b,15,1) as integer) + 4*try_cast(substr(b,16,1) as integer) + 2*try_cast(substr(b,17,1) as integer), 0) % 11) + 1, 1);

-- The same for 17 characters known to be digits (the callers below check): the digits taken from
-- one integer instead of 17 casts.
create or replace temp macro id_check_number(n) as
    substr('10X98765432', ((
        7 * ((n // 10000000000000000) % 10) + 9 * ((n // 1000000000000000) % 10) + 10 * ((n // 100000000000000) % 10)
        + 5 * ((n // 10000000000000) % 10) + 8 * ((n // 1000000000000) % 10) + 4 * ((n // 100000000000) % 10)
        + 2 * ((n // 10000000000) % 10) + 1 * ((n // 1000000000) % 10) + 6 * ((n // 100000000) % 10)
        + 3 * ((n // 10000000) % 10) + 7 * ((n // 1000000) % 10) + 9 * ((n // 100000) % 10)
        + 10 * ((n // 10000) % 10) + 5 * ((n // 1000) % 10) + 8 * ((n // 100) % 10)
        + 4 * ((n // 10) % 10) + 2 * ((n // 1) % 10)) % 11)::integer + 1, 1);
create or replace temp macro id_check_digits(b) as id_check_number(try_cast(b as bigint));

-- An ID as pipelines/core/idcard.py defines its normal form (that module's docstring is the spec;
-- tests/test_idcard.py holds this SQL to it on every code point): every control, format, space and
-- default-ignorable character stripped (Unicode 14.0 categories Cc, Cf, Zs, Zl, Zp and
-- Default_Ignorable_Code_Point: tab, U+3000, U+2003, NBSP, zero-width space, BOM, bidi marks, ...),
-- full-width ASCII folded to ASCII and a-z to A-Z; no other digit forms are folded.
-- (translate() costs about 20 us a value with this many characters: only a value holding one of
-- them pays it.)
create or replace temp macro id_fold(s) as
    case when regexp_matches(s, '[a-z\x{FF01}-\x{FF5E}]')
         then translate(s,
                  '！＂＃＄％＆＇（）＊＋，－．／０１２３４５６７８９：；＜＝＞？＠ＡＢＣＤＥＦＧＨＩＪＫＬＭＮＯＰＱＲＳＴＵＶＷＸＹＺ［＼］＾＿｀ａｂｃｄｅｆｇｈｉｊｋｌｍｎｏｐｑｒｓｔｕｖｗｘｙｚ｛｜｝～abcdefghijklmnopqrstuvwxyz',
                  '!"#$%&''()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\]^_`ABCDEFGHIJKLMNOPQRSTUVWXYZ{|}~ABCDEFGHIJKLMNOPQRSTUVWXYZ')
         else s end;
-- (An ID already in canonical form, nearly all of them, is returned as it is: no replacement needed.)
create or replace temp macro id_clean(s) as
    case when regexp_full_match(s, '[0-9]{17}[0-9X]') then s
         else nullif(id_fold(regexp_replace(s, '[\x{0000}-\x{0020}\x{007F}-\x{00A0}\x{00AD}\x{034F}\x{0600}-\x{0605}\x{061C}\x{06DD}\x{070F}\x{0890}-\x{0891}\x{08E2}\x{115F}-\x{1160}\x{1680}\x{17B4}-\x{17B5}\x{180B}-\x{180F}\x{2000}-\x{200F}\x{2028}-\x{202F}\x{205F}-\x{206F}\x{3000}\x{3164}\x{FE00}-\x{FE0F}\x{FEFF}\x{FFA0}\x{FFF0}-\x{FFFB}\x{110BD}\x{110CD}\x{13430}-\x{13438}\x{1BCA0}-\x{1BCA3}\x{1D173}-\x{1D17A}\x{E0000}-\x{E0FFF}]', '', 'g')), '') end;

-- A legacy 15-digit ID widened to 18 characters: '19' inserted after the area code and the
-- check character recomputed; anything else is returned cleaned but unchanged.
create or replace temp macro id_widen(c) as
    case when regexp_full_match(c, '[0-9]{15}')
         then substr(c, 1, 6) || '19' || substr(c, 7) || id_check_digits(substr(c, 1, 6) || '19' || substr(c, 7))
         else c end;

create or replace temp macro id_norm(s) as id_widen(id_clean(s));

-- An ID's birth date from its 8 digits, null when that day does not exist.
create or replace temp macro id_birth_date(n) as cast(try_strptime(substr(n, 7, 8), '%Y%m%d') as date);

-- Why an ID cannot be linked as it stands (null when it is a valid 18-character ID), as
-- pipelines.core.idcard.issue: the birth date must exist and fall from 1900-01-01 (idcard.EARLIEST_BIRTH)
-- to as_of, the delivery's date (today when not given).
create or replace temp macro id_issue(n, as_of := current_date) as
    case when n is null then 'id_missing'
         when not regexp_full_match(n, '[0-9]{17}[0-9X]') then 'id_malformed'
         when coalesce(id_birth_date(n) not between date '1900-01-01' and as_of, true) then 'id_bad_birth_date'
         when id_check_digits(substr(n, 1, 17)) <> substr(n, 18, 1) then 'id_bad_check_character'
         else null end;

create or replace temp macro id_sex(n) as case when try_cast(substr(n, 17, 1) as integer) % 2 = 1 then '男' else '女' end;

-- Delivered text: control characters (NUL, BEL, ...) removed, trimmed (incl. U+3000), empty as null.
create or replace temp macro txt(s) as nullif(regexp_replace(
    regexp_replace(s, '[\x00-\x08\x0B\x0C\x0E-\x1F\x7F]', '', 'g'),
    '^[\s\x{3000}\x{FEFF}]+|[\s\x{3000}]+$', '', 'g'), '');

-- The three date forms of FEEDS.md, the timestamp text a spreadsheet cell may carry, and the
-- forms people type anyway (2026年10月3日, 2026.10.03): parsed, never guessed beyond these.
-- The *_of_text forms take text already through txt() (staging reads each value once).
create or replace temp macro date_of_text(t) as cast(try_strptime(t,
    ['%Y-%m-%d', '%Y%m%d', '%Y/%m/%d', '%Y-%m-%d %H:%M:%S', '%Y/%m/%d %H:%M:%S', '%Y年%m月%d日',
     '%Y.%m.%d']) as date);
create or replace temp macro parse_date(s) as date_of_text(txt(s));

-- Yuan with up to 2 decimals; thousands separators tolerated.
create or replace temp macro amount_of_text(t) as try_cast(replace(replace(t, ',', ''), '，', '') as decimal(14, 2));
create or replace temp macro parse_amount(s) as amount_of_text(txt(s));

-- Names: all whitespace and control characters out, full-width letters folded (traditional/simplified folding is the
-- fuzzy matcher's business).
create or replace temp macro name_norm(s) as
    nullif(regexp_replace(nfc_normalize(s), '[\s\x{3000}·•\x00-\x1F\x7F]', '', 'g'), '');

-- 一级..四级 or 1..4 as an integer grade.
create or replace temp macro grade_num(s) as
    case txt(s) when '一级' then 1 when '二级' then 2 when '三级' then 3 when '四级' then 4
         else try_cast(txt(s) as integer) end;

-- Masking for screens and exports: first 6 and last 4 characters of an ID, first character of a name.
create or replace temp macro mask_id(s) as
    case when s is null then null
         -- the usual case, an 18-character ID, without counting and repeating
         when strlen(s) = 18 and length(s) = 18 then substr(s, 1, 6) || '********' || substr(s, 15)
         when length(s) <= 10 then repeat('*', length(s))
         else substr(s, 1, 6) || repeat('*', length(s) - 10) || substr(s, length(s) - 3) end;
-- every 18-character ID number inside a text (record keys, certificate numbers, evidence, raw lines)
create or replace temp macro mask_ids_in(s) as regexp_replace(s, '([0-9]{6})[0-9]{8}([0-9]{3}[0-9Xx])', '\1********\2', 'g');
create or replace temp macro mask_name(s) as
    case when s is null or s = '' then s else substr(s, 1, 1) || repeat('*', length(s) - 1) end;

-- The school year (学年) a day falls in: it starts on 1 September ('2026-2027').
create or replace temp macro school_year(d) as
    case when month(d) >= 9 then year(d)::varchar || '-' || (year(d) + 1)::varchar
         else (year(d) - 1)::varchar || '-' || year(d)::varchar end;

-- Age in whole years on a day: a birthday counts on the day itself.
create or replace temp macro age_years(birth, on_day) as date_part('year', age(on_day, birth));

-- A text cell for a CSV or XLSX export (OWASP CSV injection): a cell a spreadsheet would read as a
-- formula -- = + - @ first, also after leading whitespace and in full-width forms (＝ ＋ － ＠), or a
-- tab, carriage return or NUL first -- gets a single quote in front; a plain number (-12.5) stays as
-- it is. pipelines/outputs/exports.py neutralise() is the same definition in Python (tests/test_exports.py
-- holds them to agree). The first test is a cheap byte comparison that passes over most cells.
create or replace temp macro cell_text(s) as
    case when (s < '0' or s >= chr(160) or prefix(s, '=') or prefix(s, '@'))
              and regexp_matches(s, '^(?:[\x00\t\r]|[\t\n\x0B\f\r \x{00A0}\x{1680}\x{2000}-\x{200B}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}\x{FEFF}]*[=+\-@\x{FF1D}\x{FF0B}\x{FF0D}\x{FF20}])')
              and not regexp_full_match(s, '[+-]?[0-9]+(?:\.[0-9]+)?')
         then '''' || s else s end;

-- Urban or rural by the 12-digit statistical division code (统计用区划代码, GB/T 10114; DOMAIN.md
-- "Region policy"), for a township the county's region file does not list: township (digits 7–9)
-- 001–099 街道 urban, 200–399 乡 rural; in a 镇 (100–199) the village (digits 10–12) decides,
-- 001–199 居委会 urban, 200–399 村委会 rural; null when the code cannot say.
create or replace temp macro gbt_urban(code) as
    case when not coalesce(regexp_full_match(code, '[0-9]{9}([0-9]{3})?'), false) then null
         when substr(code, 7, 3) between '001' and '099' then true
         when substr(code, 7, 3) between '200' and '399' then false
         when substr(code, 7, 3) between '100' and '199' and length(code) = 12 then
             case when substr(code, 10, 3) between '001' and '199' then true
                  when substr(code, 10, 3) between '200' and '399' then false end end;
