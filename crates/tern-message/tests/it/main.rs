//! The message layer against a corpus of real-world and malformed messages, and against
//! generated ones (property tests).

mod corpus;
mod properties;
