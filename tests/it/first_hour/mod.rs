//! The first hour of a new user (issue #20): the command line (`cli`), logs (`logs`), pages
//! and the API (`pages`, `search`), each rough edge with its test.

mod cli;
mod logs;
mod pages;
