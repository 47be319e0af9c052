//! The draw server: its HTTP surface with a fake model, abuse by slow, malformed and huge
//! requests, and the page in a real browser.

mod abuse;
mod browser;
mod endpoint;
mod fixture;
mod webdriver;
