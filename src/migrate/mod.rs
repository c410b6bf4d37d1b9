//! Converting an impl dir written for the original make + gomplate betterform: its templates
//! (`gomplate`) and its DAG file (`dag`).

pub(crate) mod dag;
pub(crate) mod gomplate;
