//! A small Prometheus registry: requests by route and status, a latency histogram per route,
//! and mail delivery counters. Written by hand to keep the dependency tree lean.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

const BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

#[derive(Default)]
struct Inner {
    requests: BTreeMap<(String, String, u16), u64>,
    latency: BTreeMap<String, Histogram>,
    mail: BTreeMap<&'static str, u64>,
}

/// Process-wide counters, shared by every worker.
#[derive(Default)]
pub struct Metrics(Mutex<Inner>);

impl Metrics {
    /// Records one finished request.
    pub fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let mut inner = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *inner
            .requests
            .entry((method.to_string(), route.to_string(), status))
            .or_default() += 1;
        let h = inner.latency.entry(route.to_string()).or_default();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                h.counts[i] += 1;
            }
        }
        h.sum += seconds;
        h.count += 1;
    }

    /// Counts one mail delivery outcome (`sent`, `retry`, `dead`).
    pub fn mail(&self, outcome: &'static str) {
        let mut inner = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *inner.mail.entry(outcome).or_default() += 1;
    }

    /// Prometheus text exposition; the outbox depths (account emails, notifications) are read
    /// from the database by the caller.
    pub fn render(&self, outbox_depth: Option<(i64, i64)>) -> String {
        let inner = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        out.push_str("# HELP http_requests_total HTTP requests by method, route and status.\n");
        out.push_str("# TYPE http_requests_total counter\n");
        for ((method, route, status), n) in &inner.requests {
            let _ = writeln!(
                out,
                "http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {n}",
                escape(route)
            );
        }
        out.push_str("# HELP http_request_duration_seconds Request latency by route.\n");
        out.push_str("# TYPE http_request_duration_seconds histogram\n");
        for (route, h) in &inner.latency {
            let route = escape(route);
            for (i, bound) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {}",
                    h.counts[i]
                );
            }
            let _ = writeln!(
                out,
                "http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(out, "http_request_duration_seconds_sum{{route=\"{route}\"}} {}", h.sum);
            let _ = writeln!(
                out,
                "http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                h.count
            );
        }
        out.push_str(
            "# HELP mail_deliveries_total Delivery attempts of account emails and notifications by outcome.\n",
        );
        out.push_str("# TYPE mail_deliveries_total counter\n");
        for outcome in ["sent", "retry", "dead"] {
            let _ = writeln!(
                out,
                "mail_deliveries_total{{outcome=\"{outcome}\"}} {}",
                inner.mail.get(outcome).copied().unwrap_or(0)
            );
        }
        if let Some((mail, notifications)) = outbox_depth {
            out.push_str("# HELP mail_outbox_depth Account emails waiting to be delivered.\n");
            out.push_str("# TYPE mail_outbox_depth gauge\n");
            let _ = writeln!(out, "mail_outbox_depth {mail}");
            out.push_str(
                "# HELP notification_outbox_depth Notifications due or in flight (pending, failed, sending).\n",
            );
            out.push_str("# TYPE notification_outbox_depth gauge\n");
            let _ = writeln!(out, "notification_outbox_depth {notifications}");
        }
        out
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}
