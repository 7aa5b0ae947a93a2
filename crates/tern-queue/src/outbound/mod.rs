//! Delivery to other mail servers: where a domain's mail goes (DNS) and the SMTP client that
//! takes it there.

pub mod client;
pub mod dns;
