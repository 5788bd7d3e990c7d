//! The Grafana dashboard and the Prometheus alerting rules in `docker/` name only metrics the
//! server exports.
