//! Integration tests: one test binary, one module per area (each file under `tests/`
//! would link its own binary, which is slow to build).

mod advisories;
mod api;
mod browser;
mod cli;
mod closing;
pub mod correlation;
mod docs;
pub mod drift;
mod faults;
mod fuzz;
mod helm;
pub mod inactivity;
mod inputs;
mod kafka;
pub mod ldap;
mod ops;
pub mod peers;
pub mod purity;
mod reference;
pub mod reports;
mod review;
mod schema;
pub mod scim;
mod sponsored;
mod store_roles;
mod work_items;
