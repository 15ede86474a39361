use std::collections::HashMap;

pub fn total_by_region(rows: &[(String, f64)]) -> HashMap<String, f64> {
    let mut totals = HashMap::new();
    for (region, amount) in rows {
        *totals.entry(region.clone()).or_insert(0.0) += amount;
    }
    totals
}

pub fn count_rows(rows: &[(String, f64)]) -> usize {
    rows.iter().filter(|(_, amount)| *amount > 0.0).count()
}
