//! Embedding directdb: open a database, write in a transaction, read, scan, take a snapshot,
//! checkpoint, check. Run with `cargo run --release --example embed [DIRECTORY]` (a temporary
//! directory by default).

use directdb::{Db, Options};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let temporary = tempfile::tempdir()?;
    let directory =
        std::env::args().nth(1).map_or_else(|| temporary.path().to_path_buf(), Into::into);
    let db = Db::open(&directory, Options { pool_size: 16 << 20, ..Options::default() })?;

    let mut transaction = db.begin()?;
    for (name, balance) in [("alice", 100u64), ("bob", 50), ("carol", 75)] {
        transaction.put(format!("account/{name}").as_bytes(), &balance.to_le_bytes())?;
    }
    transaction.commit()?; // durable on return with the default Durability::Immediate

    let before = db.snapshot()?;
    let mut transfer = db.begin()?;
    let alice = u64::from_le_bytes(
        transfer.get(b"account/alice")?.ok_or("no alice")?.try_into().map_err(|_| "8 bytes")?,
    );
    let bob = u64::from_le_bytes(
        transfer.get(b"account/bob")?.ok_or("no bob")?.try_into().map_err(|_| "8 bytes")?,
    );
    transfer.put(b"account/alice", &(alice - 30).to_le_bytes())?;
    transfer.put(b"account/bob", &(bob + 30).to_le_bytes())?;
    transfer.commit()?;

    for entry in db.snapshot()?.range(&b"account/"[..]..&b"account0"[..])? {
        let (key, value) = entry?;
        let balance = u64::from_le_bytes(value.try_into().map_err(|_| "8 bytes")?);
        println!("{} = {balance}", String::from_utf8_lossy(&key));
    }
    let alice_before = before.get(b"account/alice")?.ok_or("no alice")?;
    let alice_before = u64::from_le_bytes(alice_before.try_into().map_err(|_| "8 bytes")?);
    println!("the snapshot taken before the transfer still sees alice = {alice_before}");

    db.checkpoint()?;
    let report = db.check()?;
    println!(
        "check: {} keys in {} tree pages, database at {}",
        report.key_count,
        report.tree_pages,
        directory.display()
    );
    Ok(())
}
