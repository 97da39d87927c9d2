//! Prometheus metrics: request counts and latency histograms by method, route and status.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RequestLabels {
    pub method: String,
    /// The route pattern (`/api/app/projects/{id}`), never the raw path, so that ids do
    /// not explode the number of series.
    pub route: String,
    pub status: u16,
}

type HistogramMaker = fn() -> Histogram;

#[derive(Clone)]
pub(crate) struct Metrics {
    registry: Arc<Registry>,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RequestLabels, Histogram, HistogramMaker>,
    in_flight: Gauge,
}

fn latency_histogram() -> Histogram {
    // 0.5 ms to about 16 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RequestLabels, Histogram, HistogramMaker>::new_with_constructor(latency_histogram);
        let in_flight = Gauge::default();
        registry.register("tally_http_requests", "HTTP requests answered", requests.clone());
        registry.register("tally_http_request_duration_seconds", "HTTP request latency", latency.clone());
        registry.register("tally_http_requests_in_flight", "HTTP requests being handled", in_flight.clone());
        Metrics { registry: Arc::new(registry), requests, latency, in_flight }
    }

    pub(crate) fn started(&self) {
        self.in_flight.inc();
    }

    pub(crate) fn finished(&self, labels: RequestLabels, seconds: f64) {
        self.in_flight.dec();
        self.latency.get_or_create(&labels).observe(seconds);
        self.requests.get_or_create(&labels).inc();
    }

    /// The Prometheus text exposition.
    pub(crate) fn render(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}
