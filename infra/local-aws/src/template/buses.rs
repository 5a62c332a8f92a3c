//! `AWS::Events::EventBus`: the buses to create (their names and tags only matter
//! for a real deployment).

use super::{Template, TemplateError};

/// An `AWS::Events::EventBus`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventBusSpec {
    pub logical_id: String,
}

impl Template {
    /// Every `AWS::Events::EventBus`.
    pub fn event_buses(&self) -> Result<Vec<EventBusSpec>, TemplateError> {
        self.of_type("AWS::Events::EventBus")
            .map(|props| {
                let p = props?;
                p.only(&[], &["Name", "Tags", "Description"])?;
                Ok(EventBusSpec {
                    logical_id: p.id.to_owned(),
                })
            })
            .collect()
    }
}
