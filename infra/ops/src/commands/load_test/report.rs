//! The load test's latency report: per endpoint, the requests, nearest-rank percentiles and
//! errors, and the errors counted by status.

use std::collections::BTreeMap;

use crate::player::PlayedCall;

/// Milliseconds as the latency table shows them.
pub fn ms(v: f64) -> String {
    format!("{v:.1}")
}

/// One endpoint's requests: how many, how many failed, and their latency in ms.
#[derive(Default)]
pub struct EndpointFigures {
    pub count: usize,
    pub errors: usize,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

/// Every request of the played calls, by endpoint and by error.
pub struct Report {
    pub requests: usize,
    pub endpoints: BTreeMap<String, EndpointFigures>,
    /// (endpoint, status or error) → count.
    pub errors: BTreeMap<(String, String), usize>,
}

impl Report {
    pub fn of(played: &[PlayedCall]) -> Self {
        let mut latencies: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        let mut errors = BTreeMap::new();
        let mut failed: BTreeMap<String, usize> = BTreeMap::new();
        let mut requests = 0;
        for a in played.iter().flat_map(|p| &p.attempts) {
            requests += 1;
            latencies
                .entry(a.endpoint.clone())
                .or_default()
                .push(a.latency.as_secs_f64() * 1000.0);
            if !a.ok() {
                let status = match &a.status {
                    Ok(s) => s.to_string(),
                    Err(e) => e.clone(),
                };
                *errors.entry((a.endpoint.clone(), status)).or_default() += 1;
                *failed.entry(a.endpoint.clone()).or_default() += 1;
            }
        }
        let endpoints = latencies
            .into_iter()
            .map(|(name, mut v)| {
                v.sort_by(f64::total_cmp);
                let figures = EndpointFigures {
                    count: v.len(),
                    errors: failed.get(&name).copied().unwrap_or(0),
                    p50: percentile(&v, 50.0),
                    p90: percentile(&v, 90.0),
                    p99: percentile(&v, 99.0),
                    max: v.last().copied().unwrap_or(0.0),
                };
                (name, figures)
            })
            .collect();
        Self {
            requests,
            endpoints,
            errors,
        }
    }
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 90.0), 90.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&v, 100.0), 100.0);
        assert_eq!(percentile(&[7.0], 50.0), 7.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
    }
}
