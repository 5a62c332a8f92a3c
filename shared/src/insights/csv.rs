//! Insights as CSV (RFC 4180: CRLF line ends, fields quoted when they hold a comma, a
//! quote or a line break), one row per day or per media, with a header row. Missing data
//! is an empty cell, never a zero, as in the JSON.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::records::{AccountDay, MediaInsights};

/// Builds one CSV document.
pub struct Table {
    writer: csv::Writer<Vec<u8>>,
}

fn rfc3339(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

fn cell(value: Option<&i64>) -> String {
    value.map(i64::to_string).unwrap_or_default()
}

impl Table {
    fn new(header: Vec<String>) -> Result<Self, csv::Error> {
        let mut writer = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(Vec::new());
        writer.write_record(&header)?;
        Ok(Self { writer })
    }

    /// `date, <metric>..., fetched_at`.
    pub fn days(metrics: &[&str]) -> Result<Self, csv::Error> {
        let mut header = vec!["date".to_owned()];
        header.extend(metrics.iter().map(|m| (*m).to_owned()));
        header.push("fetched_at".into());
        Self::new(header)
    }

    /// A day's row; `record` is `None` when Relay has no data for the day yet.
    pub fn day(
        &mut self,
        date: &str,
        record: Option<&AccountDay>,
        metrics: &[&str],
    ) -> Result<(), csv::Error> {
        let mut row = vec![date.to_owned()];
        row.extend(
            metrics
                .iter()
                .map(|m| cell(record.and_then(|r| r.metrics.get(*m)))),
        );
        row.push(record.map(|r| rfc3339(r.fetched_at)).unwrap_or_default());
        self.writer.write_record(&row)
    }

    /// `media_id, kind, published_at, permalink, post_id, <metric>..., fetched_at`.
    pub fn media(metrics: &[&str]) -> Result<Self, csv::Error> {
        let mut header: Vec<String> = ["media_id", "kind", "published_at", "permalink", "post_id"]
            .map(str::to_owned)
            .to_vec();
        header.extend(metrics.iter().map(|m| (*m).to_owned()));
        header.push("fetched_at".into());
        Self::new(header)
    }

    pub fn media_row(&mut self, media: &MediaInsights, metrics: &[&str]) -> Result<(), csv::Error> {
        let mut row = vec![
            media.media_id.to_string(),
            media.kind.as_str().to_owned(),
            media.published_at.map(rfc3339).unwrap_or_default(),
            media.permalink.clone().unwrap_or_default(),
            media
                .post_id
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
        ];
        row.extend(metrics.iter().map(|m| cell(media.metrics.get(*m))));
        row.push(rfc3339(media.fetched_at));
        self.writer.write_record(&row)
    }

    pub fn finish(self) -> Result<Vec<u8>, csv::Error> {
        self.writer
            .into_inner()
            .map_err(|e| csv::Error::from(e.into_error()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{AccountId, MediaId, TenantId};
    use crate::insights::MediaKind;

    #[test]
    fn rows_are_crlf_quoted_and_missing_data_is_empty() {
        let day = AccountDay {
            tenant_id: TenantId::parse("t1").unwrap(),
            account_id: AccountId::parse("1784").unwrap(),
            day: "2026-03-01".into(),
            metrics: [("reach".to_owned(), 12)].into(),
            fetched_at: 0,
        };
        let mut table = Table::days(&["reach", "views"]).unwrap();
        table
            .day("2026-03-01", Some(&day), &["reach", "views"])
            .unwrap();
        table.day("2026-03-02", None, &["reach", "views"]).unwrap();
        let text = String::from_utf8(table.finish().unwrap()).unwrap();
        assert_eq!(
            text,
            "date,reach,views,fetched_at\r\n2026-03-01,12,,1970-01-01T00:00:00Z\r\n2026-03-02,,,\r\n"
        );
        let media = MediaInsights {
            tenant_id: TenantId::parse("t1").unwrap(),
            account_id: AccountId::parse("1784").unwrap(),
            media_id: MediaId::parse("1790").unwrap(),
            kind: MediaKind::Reel,
            published_at: None,
            permalink: Some("https://www.instagram.com/p/a,\"b\"/".into()),
            post_id: None,
            metrics: Default::default(),
            fetched_at: 0,
        };
        let mut table = Table::media(&["views"]).unwrap();
        table.media_row(&media, &["views"]).unwrap();
        let text = String::from_utf8(table.finish().unwrap()).unwrap();
        assert!(
            text.contains("\"https://www.instagram.com/p/a,\"\"b\"\"/\""),
            "{text}"
        );
    }
}
