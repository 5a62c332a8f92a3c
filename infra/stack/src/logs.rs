//! One log stream for every part of the stack, each line prefixed by its part
//! (`[moto]`, `[meta-sim]`, `[lambda]`, `[router]`, `[sqs]`, `[cron]`, `[stack]`).
//!
//! Functions log JSON (as in Lambda); those lines are shown as `LEVEL message k=v`, and
//! metric (EMF) lines as `metrics Function: Name=value`, so the stream stays readable.
//! The last lines of each part are kept, so a part that fails to start can be reported
//! with what it said.

use std::collections::{BTreeMap, VecDeque};
use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::Value;

const KEPT_LINES: usize = 40;

/// Where every part writes. Cheap to clone.
#[derive(Clone, Default)]
pub struct Logs {
    recent: Arc<Mutex<BTreeMap<String, VecDeque<String>>>>,
}

impl Logs {
    /// Prints one line of `part`, prettifying JSON log lines.
    pub fn line(&self, part: &str, text: &str) {
        let text = strip_ansi(text.trim_end());
        if text.is_empty() || is_noise(part, &text) {
            return;
        }
        let shown = pretty(&text).unwrap_or(text);
        {
            let mut recent = self
                .recent
                .lock()
                .expect("log buffer lock is never poisoned");
            let lines = recent.entry(part.to_owned()).or_default();
            if lines.len() == KEPT_LINES {
                lines.pop_front();
            }
            lines.push_back(shown.clone());
        }
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{:<10} {shown}", format!("[{part}]"));
        let _ = out.flush();
    }

    /// The last lines `part` printed, oldest first.
    pub fn recent(&self, part: &str) -> Vec<String> {
        self.recent
            .lock()
            .expect("log buffer lock is never poisoned")
            .get(part)
            .map(|lines| lines.iter().cloned().collect())
            .unwrap_or_default()
    }
}

/// Removes terminal colour codes (`ESC [ ... m`): the stream may go to a file.
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// Lines that say nothing useful: moto's access log of successful calls (the SQS
/// pollers alone make one per second) and its development-server banner.
fn is_noise(part: &str, text: &str) -> bool {
    if part != "moto" {
        return false;
    }
    if let Some(rest) = text.split("\" ").nth(1) {
        // `127.0.0.1 - - [date] "POST / HTTP/1.1" 200 -`: keep 4xx and 5xx.
        return rest.split_whitespace().next().is_some_and(|status| {
            status.len() == 3 && (status.starts_with('2') || status.starts_with('3'))
        });
    }
    text.contains("This is a development server") || text.contains("Press CTRL+C to quit")
}

/// A function's JSON log line (tracing-subscriber's JSON format) or EMF metrics line as
/// one readable line; `None` for anything else.
pub fn pretty(text: &str) -> Option<String> {
    if !text.starts_with('{') {
        return None;
    }
    let value: Value = serde_json::from_str(text).ok()?;
    let object = value.as_object()?;
    if let Some(aws) = object.get("_aws") {
        let metrics: Vec<&str> = aws
            .get("CloudWatchMetrics")?
            .as_array()?
            .iter()
            .filter_map(|m| m.get("Metrics")?.as_array())
            .flatten()
            .filter_map(|m| m.get("Name")?.as_str())
            .collect();
        let function = object
            .get("Function")
            .or_else(|| object.get("function"))
            .and_then(Value::as_str)
            .unwrap_or("function");
        let values: Vec<String> = metrics
            .iter()
            .filter_map(|name| Some(format!("{name}={}", object.get(*name)?)))
            .collect();
        return Some(format!("metrics {function}: {}", values.join(" ")));
    }
    let level = object.get("level")?.as_str()?;
    let fields = object.get("fields").and_then(Value::as_object);
    let message = fields
        .and_then(|f| f.get("message"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut line = format!("{level:<5} {message}");
    let extra = fields
        .into_iter()
        .flatten()
        .filter(|(k, _)| k.as_str() != "message")
        .chain(
            object
                .get("span")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .filter(|(k, _)| k.as_str() != "name"),
        );
    for (key, value) in extra {
        match value {
            Value::String(s) => line.push_str(&format!(" {key}={s}")),
            other => line.push_str(&format!(" {key}={other}")),
        }
    }
    Some(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_json_lines_become_readable() {
        let line = r#"{"level":"WARN","fields":{"message":"webhook signature rejected","error":"mismatch","n":2},"span":{"name":"handle","request_id":"r1"}}"#;
        assert_eq!(
            pretty(line).unwrap(),
            "WARN  webhook signature rejected error=mismatch n=2 request_id=r1"
        );
        let emf = r#"{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"Relay","Dimensions":[["Function"]],"Metrics":[{"Name":"WebhooksAccepted","Unit":"Count"}]}]},"Function":"webhook","WebhooksAccepted":3.0}"#;
        assert_eq!(
            pretty(emf).unwrap(),
            "metrics webhook: WebhooksAccepted=3.0"
        );
        assert_eq!(pretty("plain text"), None);
        assert_eq!(pretty("{not json"), None);
    }

    #[test]
    fn colours_and_moto_access_lines_are_dropped() {
        assert_eq!(
            strip_ansi("\u{1b}[2m2026\u{1b}[0m \u{1b}[32m INFO\u{1b}[0m x"),
            "2026  INFO x"
        );
        assert!(is_noise(
            "moto",
            r#"127.0.0.1 - - [22/Nov/2026 00:10:40] "POST / HTTP/1.1" 200 -"#
        ));
        assert!(!is_noise(
            "moto",
            r#"127.0.0.1 - - [22/Nov/2026 00:10:40] "POST / HTTP/1.1" 400 -"#
        ));
        assert!(!is_noise("meta-sim", r#"x "POST / HTTP/1.1" 200 -"#));
        assert!(!is_noise("moto", " * Running on http://127.0.0.1:5050"));
    }

    #[test]
    fn recent_lines_are_kept_per_part() {
        let logs = Logs::default();
        for i in 0..(KEPT_LINES + 5) {
            logs.line("moto", &format!("line {i}"));
        }
        logs.line("sqs", "other");
        let recent = logs.recent("moto");
        assert_eq!(recent.len(), KEPT_LINES);
        assert_eq!(recent.last().unwrap(), &format!("line {}", KEPT_LINES + 4));
        assert_eq!(logs.recent("sqs"), vec!["other".to_owned()]);
    }
}
