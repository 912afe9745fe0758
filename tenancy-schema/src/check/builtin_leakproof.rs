//! The functions PostgreSQL 15 ships marked LEAKPROOF, by oid (a fresh `initdb` of 15.20:
//! `SELECT oid FROM pg_proc WHERE proleakproof`). A built-in function marked LEAKPROOF later
//! (only a superuser can) runs ahead of the policies on every tenant's rows, and the cast and
//! parsing functions a saboteur would pick (`regclass(text)`, `to_tsquery(text)`) quote the
//! value in their errors. Oids of built-in functions do not change between versions, but which
//! are LEAKPROOF may: the list is used on a PostgreSQL 15 server only.

/// The major version the list is of.
pub(super) const MAJOR: u32 = 15;

/// The oids, ascending.
pub(super) const OIDS: &[u32] = &[
    56, 57, 60, 61, 62, 63, 64, 65, 66, 67, 68, 69, 70, 72, 73, 74, 84, 144, 145, 146, 147, 148,
    149, 150, 151, 157, 158, 159, 160, 161, 162, 163, 164, 165, 166, 167, 168, 169, 184, 185, 235,
    236, 240, 241, 242, 243, 244, 245, 246, 247, 248, 249, 250, 251, 252, 253, 287, 288, 289, 290,
    291, 292, 293, 294, 295, 296, 297, 298, 299, 300, 301, 302, 303, 304, 305, 306, 307, 308, 309,
    310, 311, 313, 316, 318, 350, 351, 354, 355, 356, 358, 359, 360, 377, 404, 406, 407, 409, 458,
    459, 467, 468, 469, 470, 471, 472, 474, 475, 476, 477, 478, 479, 481, 482, 619, 652, 655, 656,
    657, 658, 659, 677, 678, 679, 680, 681, 716, 717, 740, 741, 742, 743, 754, 830, 831, 832, 833,
    834, 835, 836, 842, 852, 853, 854, 855, 856, 857, 888, 889, 890, 891, 892, 893, 920, 921, 922,
    923, 924, 925, 926, 999, 1048, 1049, 1050, 1051, 1052, 1053, 1063, 1064, 1078, 1086, 1087,
    1088, 1089, 1090, 1091, 1092, 1102, 1103, 1104, 1105, 1106, 1107, 1145, 1152, 1153, 1154, 1155,
    1156, 1157, 1162, 1163, 1164, 1165, 1166, 1167, 1246, 1265, 1288, 1292, 1314, 1315, 1319, 1352,
    1353, 1354, 1355, 1356, 1357, 1358, 1370, 1400, 1401, 1462, 1463, 1464, 1465, 1466, 1467, 1482,
    1483, 1484, 1485, 1486, 1581, 1582, 1592, 1593, 1594, 1595, 1596, 1638, 1639, 1666, 1667, 1668,
    1669, 1670, 1671, 1672, 1691, 1692, 1693, 1740, 1742, 1743, 1781, 1782, 1850, 1851, 1852, 1853,
    1854, 1855, 1856, 1857, 1858, 1859, 1860, 1861, 1948, 1949, 1950, 1951, 1952, 1953, 1954, 2045,
    2052, 2053, 2054, 2055, 2056, 2057, 2160, 2161, 2163, 2164, 2166, 2174, 2175, 2177, 2178, 2180,
    2188, 2189, 2190, 2191, 2192, 2193, 2194, 2195, 2311, 2321, 2557, 2558, 2790, 2791, 2792, 2793,
    2794, 2954, 2955, 2956, 2957, 2958, 2959, 2960, 3231, 3232, 3233, 3234, 3235, 3236, 3251, 3308,
    3309, 3419, 3420, 3421, 3422, 3432, 3696, 4113, 4114, 4115, 4116, 4117, 4118, 4119, 4123, 5034,
    5035, 5036, 5037, 5084, 5085, 5096,
];

/// `'{oid,..}'`: the list as an `oid[]` literal for SQL.
pub(super) fn as_sql_array() -> String {
    let list: Vec<String> = OIDS.iter().map(u32::to_string).collect();
    format!("'{{{}}}'::oid[]", list.join(","))
}

#[cfg(test)]
mod tests {
    use super::{OIDS, as_sql_array};

    #[test]
    fn the_list_is_ascending_and_renders_as_an_array() {
        assert!(OIDS.windows(2).all(|w| w[0] < w[1]));
        let sql = as_sql_array();
        assert!(sql.starts_with("'{") && sql.ends_with("}'::oid[]"));
        assert_eq!(sql.matches(',').count(), OIDS.len() - 1);
    }
}
