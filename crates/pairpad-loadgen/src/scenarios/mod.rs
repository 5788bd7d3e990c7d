//! The scenarios, one module each. Every `run` sets up what it needs through the REST API,
//! measures a window, checks correctness and returns a [`crate::stats::Report`].

pub mod churn;
pub mod fanout;
pub mod idle;
pub mod join;
pub mod trace;
pub mod typing;

use crate::rest::Rest;
use crate::stats::Report;

/// Starts a report with what every scenario records: the server and its store.
pub(crate) async fn begin(name: &'static str, target: &crate::Target) -> anyhow::Result<(Rest, Report)> {
    let rest = Rest::new(&target.url)?;
    let health = rest.health().await?;
    let mut report = Report::new(name);
    report.set("url", target.url.clone());
    report.set("store", health.store.clone());
    report.line(format!("server {} ({} store)", target.url, health.store));
    Ok((rest, report))
}
