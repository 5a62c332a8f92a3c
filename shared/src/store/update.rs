//! One UpdateItem on one item of the main table: the update expression, the names and
//! values its placeholders stand for and, for a conditional update, its condition.
//!
//! How the write ends says what a lost condition means: [`ItemUpdate::apply`] makes it
//! an error like any other, [`ItemUpdate::apply_if`] answers false (the usual "only if
//! newer" or "only if it exists" write).

use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use serde::Serialize;

use super::{Item, Key, Store, StoreError, conditional};

/// A string attribute value.
pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// A number attribute value.
pub(crate) fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// A value as serde writes it in an item (an enum as its stored name, a struct as a map),
/// so an update compares and writes exactly what [`Store::item`] would.
pub(crate) fn encoded<T: Serialize + ?Sized>(
    what: &'static str,
    value: &T,
) -> Result<AttributeValue, StoreError> {
    serde_dynamo::to_attribute_value(value).map_err(|e| StoreError::Decode {
        what,
        reason: e.to_string(),
    })
}

/// An UpdateItem being written; see [`Store::update`].
#[must_use = "an update does nothing until it is applied"]
pub(crate) struct ItemUpdate {
    request: UpdateItemFluentBuilder,
}

impl Store {
    /// An update of the item at `key` by `expression` (`SET …`, `ADD …`, `REMOVE …`).
    pub(crate) fn update(&self, key: &Key, expression: impl Into<String>) -> ItemUpdate {
        ItemUpdate {
            request: self
                .client()
                .update_item()
                .table_name(self.table())
                .set_key(Some(Self::key_attrs(key)))
                .update_expression(expression),
        }
    }
}

impl ItemUpdate {
    /// Apply only if `condition` holds for the stored item.
    pub(crate) fn condition(self, condition: impl Into<String>) -> Self {
        Self {
            request: self.request.condition_expression(condition),
        }
    }

    /// The attribute a `#name` placeholder stands for.
    pub(crate) fn name(self, placeholder: impl Into<String>, attribute: impl Into<String>) -> Self {
        Self {
            request: self
                .request
                .expression_attribute_names(placeholder, attribute),
        }
    }

    /// The value a `:value` placeholder stands for.
    pub(crate) fn value(self, placeholder: impl Into<String>, value: AttributeValue) -> Self {
        Self {
            request: self.request.expression_attribute_values(placeholder, value),
        }
    }

    /// Write; any failure, a condition that did not hold included, is an error.
    pub(crate) async fn apply(self) -> Result<(), StoreError> {
        self.request
            .send()
            .await
            .map_err(|e| StoreError::dynamo("UpdateItem", e))?;
        Ok(())
    }

    /// Write if the condition holds: true when it did, false when it did not.
    pub(crate) async fn apply_if(self) -> Result<bool, StoreError> {
        conditional(self.request.send().await, "UpdateItem")
    }

    /// Write if the condition holds and return the item as it is now; None when the
    /// condition did not hold.
    pub(crate) async fn apply_returning_new(self) -> Result<Option<Item>, StoreError> {
        let result = self.request.return_values(ReturnValue::AllNew).send().await;
        match result {
            Ok(out) => Ok(Some(out.attributes.unwrap_or_default())),
            Err(e) if super::is_condition_failure(&e) => Ok(None),
            Err(e) => Err(StoreError::dynamo("UpdateItem", e)),
        }
    }
}
