//! Internationalised domains: one stored form (A-labels), whatever spelling was given, and
//! stores made before that rule brought to it.

use tern_store::{AliasSource, Directory, RecipientPolicy, Resolution, StoreError};
use tern_store_sqlite::{SqliteOptions, SqliteStore};
use tern_types::{Address, Domain};

fn open(dir: &std::path::Path) -> SqliteStore {
    SqliteStore::open(
        dir,
        SqliteOptions {
            inline_blob_max: 1024,
            ..SqliteOptions::default()
        },
    )
    .expect("open")
}

async fn resolves_to(directory: &dyn Directory, address: &str) -> Vec<String> {
    let address = Address::parse(address).expect("address");
    match directory
        .resolve_recipient(&address, RecipientPolicy::default())
        .await
        .expect("resolve")
    {
        Resolution::Accounts(accounts) => accounts
            .into_iter()
            .map(|a| a.address.to_string())
            .collect(),
        other => panic!("{address} resolved to {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn u_label_and_a_label_name_one_stored_domain() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let d = store.stores().directory;
    d.add_domain(&Domain::parse("Bücher.example").unwrap())
        .await
        .unwrap();
    assert!(matches!(
        d.add_domain(&Domain::parse("xn--bcher-kva.example").unwrap())
            .await,
        Err(StoreError::AlreadyExists(_))
    ));
    assert_eq!(
        d.list_domains().await.unwrap(),
        vec![Domain::parse("xn--bcher-kva.example").unwrap()]
    );
    d.add_account(
        &Address::parse("bob@xn--bcher-kva.example").unwrap(),
        "h",
        0,
    )
    .await
    .unwrap();
    d.add_alias(
        &"info@bücher.example".parse::<AliasSource>().unwrap(),
        &[Address::parse("bob@bücher.example").unwrap()],
    )
    .await
    .unwrap();
    d.add_alias(
        &"@XN--BCHER-KVA.example".parse::<AliasSource>().unwrap(),
        &[Address::parse("bob@bücher.example").unwrap()],
    )
    .await
    .unwrap();
    let bob = vec!["bob@xn--bcher-kva.example".to_string()];
    for address in [
        "bob@bücher.example",
        "bob@xn--bcher-kva.example",
        "info@BÜCHER.example",
        "info@xn--bcher-kva.example",
        "anyone@bücher.example",
    ] {
        assert_eq!(resolves_to(&*d, address).await, bob, "{address}");
    }
}

/// A store from before canonical domain names: one domain stored as a U-label with an
/// account, and the same domain again as an A-label (a second row the old code allowed) with
/// an alias. The migration makes them one domain that both spellings reach.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn domains_stored_as_u_labels_are_migrated_and_merged() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path()));
    {
        let conn = rusqlite::Connection::open(dir.path().join("tern.db")).unwrap();
        conn.execute_batch(
            "INSERT INTO domains (id, name, created) VALUES (10, 'bücher.example', 0);
             INSERT INTO domains (id, name, created) VALUES (11, 'xn--bcher-kva.example', 0);
             INSERT INTO domains (id, name, created) VALUES (12, 'example.org', 0);
             INSERT INTO accounts (domain_id, local, local_key, password_hash, created)
                  VALUES (10, 'bob', 'bob', 'h', 0);
             INSERT INTO aliases (domain_id, local, local_key) VALUES (11, 'info', 'info');
             INSERT INTO alias_targets (alias_id, account_id)
                  SELECT last_insert_rowid(), id FROM accounts WHERE local = 'bob';
             DROP TABLE subscriptions;
             ALTER TABLE mailboxes DROP COLUMN recent_uid;
             ALTER TABLE mailboxes ADD COLUMN subscribed INTEGER NOT NULL DEFAULT 1;
             DROP TRIGGER blobs_forget_text;
             DROP TABLE text_dropped;
             ALTER TABLE blobs DROP COLUMN meta;
             ALTER TABLE queue_recipients DROP COLUMN warned;
             ALTER TABLE mailboxes DROP COLUMN expunge_floor;
             ALTER TABLE mailboxes DROP COLUMN expunge_log_len;
             PRAGMA user_version = 1;",
        )
        .unwrap();
    }
    let store = open(dir.path());
    let d = store.stores().directory;
    assert_eq!(
        d.list_domains().await.unwrap(),
        vec![
            Domain::parse("example.org").unwrap(),
            Domain::parse("xn--bcher-kva.example").unwrap()
        ]
    );
    let bob = vec!["bob@xn--bcher-kva.example".to_string()];
    for address in [
        "bob@bücher.example",
        "bob@xn--bcher-kva.example",
        "info@bücher.example",
        "info@xn--bcher-kva.example",
    ] {
        assert_eq!(resolves_to(&*d, address).await, bob, "{address}");
    }
}
