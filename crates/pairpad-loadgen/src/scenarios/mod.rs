//! The scenarios, one module each. Every `run` sets up what it needs through the REST API,
//! measures a window, checks correctness and returns a [`crate::stats::Report`].

pub mod authors;
pub mod churn;
pub mod fanout;
pub mod history;
pub mod idle;
pub mod join;
pub mod trace;
pub mod typing;

use crate::rest::Rest;
use crate::stats::Report;

/// Starts a report with what every scenario records: the server and its store. For the
/// scenarios that drive a single server: several `--url`s or `--server-pid`s are refused.
pub(crate) async fn begin(name: &'static str, target: &crate::Target) -> anyhow::Result<(Rest, Report)> {
    anyhow::ensure!(
        target.urls.len() == 1 && target.server_pid.len() <= 1,
        "the {name} scenario drives a single server: give one --url and at most one --server-pid"
    );
    let (mut rests, report) = begin_spread(name, target).await?;
    Ok((rests.remove(0), report))
}

/// Starts a report for a scenario that spreads its clients over every `--url`: one [`Rest`]
/// per server, in the order given, each checked to be up.
pub(crate) async fn begin_spread(name: &'static str, target: &crate::Target) -> anyhow::Result<(Vec<Rest>, Report)> {
    anyhow::ensure!(!target.urls.is_empty(), "--url: no server given");
    anyhow::ensure!(
        target.server_pid.len() <= target.urls.len(),
        "--server-pid: {} pids for {} servers",
        target.server_pid.len(),
        target.urls.len()
    );
    let mut report = Report::new(name);
    let mut rests = Vec::with_capacity(target.urls.len());
    let mut stores = Vec::with_capacity(target.urls.len());
    for url in &target.urls {
        let rest = Rest::new(url)?;
        let health = rest.health().await?;
        report.line(format!("server {url} ({} store)", health.store));
        stores.push(health.store);
        rests.push(rest);
    }
    report.set("url", target.urls[0].clone());
    record_conditions(&mut report);
    report.set("store", stores[0].clone());
    if target.urls.len() > 1 {
        report.set("urls", target.urls.clone());
        if stores.iter().any(|s| *s != stores[0]) {
            report.line(format!("warning: the servers report different stores: {stores:?}"));
        }
    }
    Ok((rests, report))
}

/// When and on what: so a result file read later says under which conditions it was taken.
pub(crate) fn record_conditions(report: &mut Report) {
    report.set("started_at", humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string());
    report.set("cores", crate::procfs::cores());
    report.set("load_average_start", crate::procfs::load_average().map(Vec::from));
}
