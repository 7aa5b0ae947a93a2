/*
 * SPDX-FileCopyrightText: 2020 Stalwart Labs LLC <hello@stalw.art>
 *
 * SPDX-License-Identifier: Apache-2.0 OR MIT
 */

//! Readers for mailbox files: mbox and Maildir.

pub mod maildir;
pub mod mbox;
