//! Reports: pure views of a [`Results`](crate::results::Results). Untrusted text and numbers are
//! printed through [`crate::support::text`] and [`crate::support::fmt`], the same way in every view.

pub mod cases;
pub mod junit;
pub mod markdown;
pub mod terminal;

#[cfg(test)]
pub(crate) mod xml_tree;
