//! The TPC-C tables as keys and values of a key-value store: the key of every row, the byte
//! layout of every row's value, and the cardinalities of a database of W warehouses.
//!
//! # Keys
//!
//! A key is one byte naming the table, then the row's ids, big-endian and of fixed width, so
//! that key order is id order: the order lines of one order sit together, in line order, after
//! the order lines of the order before it. Ids are 1-based, as in the specification.
//!
//! | table                   | tag | key after the tag                                | bytes |
//! |-------------------------|-----|--------------------------------------------------|-------|
//! | warehouse               |   1 | W_ID u16                                         |     3 |
//! | warehouse YTD           |   2 | W_ID u16                                         |     3 |
//! | district                |   3 | W_ID u16, D_ID u8                                |     4 |
//! | district YTD            |   4 | W_ID u16, D_ID u8                                |     4 |
//! | customer                |   5 | C_W_ID u16, C_D_ID u8, C_ID u32                  |     8 |
//! | customer by last name   |   6 | C_W_ID u16, C_D_ID u8, C_LAST (1 to 16 bytes)    | 5..20 |
//! | customer's newest order |   7 | C_W_ID u16, C_D_ID u8, C_ID u32                  |     8 |
//! | history                 |   8 | H_W_ID u16, H_D_ID u8, history number u64        |    12 |
//! | new-order               |   9 | NO_W_ID u16, NO_D_ID u8, NO_O_ID u32             |     8 |
//! | delivery cursor         |  10 | W_ID u16, D_ID u8                                |     4 |
//! | order                   |  11 | O_W_ID u16, O_D_ID u8, O_ID u32                  |     8 |
//! | order-line              |  12 | OL_W_ID u16, OL_D_ID u8, OL_O_ID u32, OL_NUMBER u8 |   9 |
//! | item                    |  13 | I_ID u32                                         |     5 |
//! | stock                   |  14 | S_W_ID u16, S_I_ID u32                           |     7 |
//!
//! Five tables are not TPC-C's own: two move a hot column out of its row, three stand in for
//! range reads, which the store's [`Transaction`] does not have (it has `get` and `put` only):
//! - **warehouse YTD** and **district YTD** hold W_YTD and D_YTD apart from the rest of their
//!   rows (vertical partitioning, which clause 1.6 allows, though there it must be hidden from
//!   the application and here the transactions read both rows). Under the engine's optimistic
//!   concurrency control a new-order, which reads W_TAX and D_TAX, would otherwise conflict
//!   with every payment of its warehouse that commits while it runs.
//! - **customer by last name** is the secondary index payment and order-status need: one row
//!   per (warehouse, district, last name) listing the customer ids sorted by C_FIRST, read with
//!   one `get` (there is no scan inside a transaction).
//! - **customer's newest order** holds the O_ID of the customer's latest order (order-status
//!   reads it instead of scanning the customer's orders); new-order rewrites it.
//! - **delivery cursor** holds the oldest undelivered NO_O_ID of a district (delivery reads it
//!   instead of scanning the new-order table). A district's new-order rows are the contiguous
//!   ids from the cursor to D_NEXT_O_ID - 1, because new-order takes its O_ID from D_NEXT_O_ID
//!   and writes the new-order row in one transaction.
//!
//! The history table has no primary key in TPC-C; its rows are keyed by the paying district and
//! a number: the customer's id in the load, then numbers from [`HISTORY_NUMBER_RUN_FIRST`] on.
//!
//! # Values
//!
//! Each row is a fixed layout of little-endian fields (the table at each row type), then, for
//! customer, item and stock, a variable tail (C_DATA, I_DATA, S_DATA: the rest of the value,
//! bounded). Money is in cents (`i64`), rates in ten-thousandths (`u16`: a tax of 0.1234 is
//! 1234), dates in seconds since the Unix epoch (`u64`, 0 for null), text in fixed-width fields
//! padded with zero bytes (TPC-C's text is ASCII, so byte order is text order). Decoding a value
//! of the wrong length, or with a field outside its domain, is a [`DecodeError`], never a panic.
//!
//! [`Transaction`]: crate::bench::kv::Transaction

use std::fmt;

/// A warehouse's id (`W_ID`), from 1.
pub(crate) type WarehouseId = u16;
/// A district's id within its warehouse (`D_ID`), from 1 to [`DISTRICTS_PER_WAREHOUSE`].
pub(crate) type DistrictId = u8;
/// A customer's id within its district (`C_ID`), from 1.
pub(crate) type CustomerId = u32;
/// An order's id within its district (`O_ID`), from 1.
pub(crate) type OrderId = u32;
/// An item's id (`I_ID`), from 1.
pub(crate) type ItemId = u32;

/// Districts per warehouse (clause 1.2.1; not scaled: the mix and the contention depend on it).
pub(crate) const DISTRICTS_PER_WAREHOUSE: DistrictId = 10;
/// Items at scale 1 (clause 4.3.3.1), and so stock rows per warehouse.
pub(crate) const ITEM_COUNT_FULL: u32 = 100_000;
/// Customers per district at scale 1, and so orders per district.
pub(crate) const CUSTOMERS_PER_DISTRICT_FULL: u32 = 3_000;
/// New-orders per district at scale 1: the orders from 2,101 to 3,000.
pub(crate) const NEW_ORDERS_PER_DISTRICT_FULL: u32 = 900;
/// Distinct last names (three syllables of ten, clause 4.3.2.3).
pub(crate) const LAST_NAME_COUNT_FULL: u32 = 1_000;
/// Most warehouses: ids are `u16`, and a load of 1,000 warehouses is about 100 GB.
pub(crate) const WAREHOUSE_COUNT_MAX: u16 = 1_000;
/// Largest `--scale`: a district then has 10 customers and orders and 3 new-orders, and 333
/// items remain; beyond it the workload is mostly conflicts on a handful of rows.
pub(crate) const SCALE_MAX: u32 = 300;
/// Order lines per order (O_OL_CNT, clause 2.4.1.3).
pub(crate) const ORDER_LINES_MIN: u8 = 5;
pub(crate) const ORDER_LINES_MAX: u8 = 15;
/// Carriers (O_CARRIER_ID, 1 to 10).
pub(crate) const CARRIER_ID_MAX: u8 = 10;
/// The first history number of the run: above every customer id the load numbers history
/// rows with.
pub(crate) const HISTORY_NUMBER_RUN_FIRST: u64 = 1 << 32;

/// Bytes of C_DATA at most (clause 1.3.1).
pub(crate) const CUSTOMER_DATA_BYTES_MAX: usize = 500;
/// Bytes of I_DATA and of S_DATA at most.
pub(crate) const ITEM_DATA_BYTES_MAX: usize = 50;
pub(crate) const STOCK_DATA_BYTES_MAX: usize = 50;
/// Customer ids one last-name row may list: every customer of a district, at most.
pub(crate) const NAME_INDEX_IDS_MAX: usize = CUSTOMERS_PER_DISTRICT_FULL as usize;

/// Fixed-width text, padded with zero bytes.
pub(crate) type Text<const N: usize> = [u8; N];

/// `bytes` as fixed-width text: truncated to `N` bytes, or padded with zero bytes.
pub(crate) fn text<const N: usize>(bytes: &[u8]) -> Text<N> {
    let mut out = [0; N];
    let length = bytes.len().min(N);
    out[..length].copy_from_slice(&bytes[..length]);
    out
}

/// Fixed-width text without its padding.
pub(crate) fn trimmed(text: &[u8]) -> &[u8] {
    let end = text.iter().rposition(|&byte| byte != 0).map_or(0, |last| last + 1);
    &text[..end]
}

// ---------------------------------------------------------------------------------------------
// Cardinalities

/// How many rows of each table a database of `warehouse_count` warehouses at `scale` has: the
/// per-warehouse cardinalities of clause 1.2.1 divided by the scale (districts are not divided).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Cardinalities {
    pub(crate) warehouse_count: u16,
    pub(crate) scale: u32,
    /// Items, and stock rows per warehouse.
    pub(crate) item_count: u32,
    /// Customers per district, and orders per district in the load.
    pub(crate) customers_per_district: u32,
    /// Undelivered orders per district in the load: the last ones.
    pub(crate) new_orders_per_district: u32,
    /// Distinct last names per district: the first this many customers take one each.
    pub(crate) last_name_count: u32,
}

impl Cardinalities {
    /// The cardinalities of `warehouse_count` warehouses at `scale`, or why they are refused.
    pub(crate) fn new(warehouse_count: u16, scale: u32) -> Result<Cardinalities, String> {
        if !(1..=WAREHOUSE_COUNT_MAX).contains(&warehouse_count) {
            return Err(format!(
                "--warehouses must be from 1 to {WAREHOUSE_COUNT_MAX}, not {warehouse_count}"
            ));
        }
        if !(1..=SCALE_MAX).contains(&scale) {
            return Err(format!("--scale must be from 1 to {SCALE_MAX}, not {scale}"));
        }
        let customers_per_district = CUSTOMERS_PER_DISTRICT_FULL / scale;
        Ok(Cardinalities {
            warehouse_count,
            scale,
            item_count: ITEM_COUNT_FULL / scale,
            customers_per_district,
            new_orders_per_district: NEW_ORDERS_PER_DISTRICT_FULL / scale,
            last_name_count: LAST_NAME_COUNT_FULL.min(customers_per_district),
        })
    }

    /// Orders per district in the load (one per customer).
    pub(crate) fn orders_per_district(&self) -> u32 {
        self.customers_per_district
    }

    /// The first undelivered order of a district in the load.
    pub(crate) fn first_new_order_id(&self) -> OrderId {
        self.orders_per_district() - self.new_orders_per_district + 1
    }

    /// Every district's (warehouse, district), in key order.
    pub(crate) fn districts(&self) -> impl Iterator<Item = (WarehouseId, DistrictId)> + use<> {
        let warehouse_count = self.warehouse_count;
        (1..=warehouse_count)
            .flat_map(|warehouse| (1..=DISTRICTS_PER_WAREHOUSE).map(move |d| (warehouse, d)))
    }
}

// ---------------------------------------------------------------------------------------------
// Tables and keys

/// A table, by the tag its keys start with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Table {
    Warehouse = 1,
    WarehouseYtd = 2,
    District = 3,
    DistrictYtd = 4,
    Customer = 5,
    CustomerByName = 6,
    CustomerNewestOrder = 7,
    History = 8,
    NewOrder = 9,
    DeliveryCursor = 10,
    Order = 11,
    OrderLine = 12,
    Item = 13,
    Stock = 14,
}

impl Table {
    /// Its name, for messages.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Table::Warehouse => "warehouse",
            Table::WarehouseYtd => "warehouse YTD",
            Table::District => "district",
            Table::DistrictYtd => "district YTD",
            Table::Customer => "customer",
            Table::CustomerByName => "customer by last name",
            Table::CustomerNewestOrder => "customer's newest order",
            Table::History => "history",
            Table::NewOrder => "new-order",
            Table::DeliveryCursor => "delivery cursor",
            Table::Order => "order",
            Table::OrderLine => "order-line",
            Table::Item => "item",
            Table::Stock => "stock",
        }
    }

    /// Its tag: the first byte of its keys.
    pub(crate) fn tag(self) -> u8 {
        self as u8
    }
}

/// Bytes of a key's fields.
const TAG_BYTES: usize = 1;
const WAREHOUSE_ID_BYTES: usize = 2;
const DISTRICT_ID_BYTES: usize = 1;
const ID_BYTES: usize = 4;
/// Bytes of a key that names a district, and so of the prefix of every per-district row.
pub(crate) const DISTRICT_KEY_BYTES: usize = TAG_BYTES + WAREHOUSE_ID_BYTES + DISTRICT_ID_BYTES;
/// Bytes of an order's key (order, new-order), and of a customer's.
const ORDER_KEY_BYTES: usize = DISTRICT_KEY_BYTES + ID_BYTES;
const ORDER_LINE_KEY_BYTES: usize = ORDER_KEY_BYTES + 1;
const _: () = assert!(DISTRICT_KEY_BYTES == 4 && ORDER_KEY_BYTES == 8);
const _: () = assert!(ORDER_LINE_KEY_BYTES == 9);

fn key_of(table: Table, capacity: usize) -> Vec<u8> {
    let mut key = Vec::with_capacity(capacity);
    key.push(table.tag());
    key
}

/// The key of a warehouse's row or of its YTD row.
pub(crate) fn warehouse_key(table: Table, warehouse: WarehouseId) -> Vec<u8> {
    assert!(matches!(table, Table::Warehouse | Table::WarehouseYtd), "{table:?}");
    let mut key = key_of(table, TAG_BYTES + WAREHOUSE_ID_BYTES);
    key.extend_from_slice(&warehouse.to_be_bytes());
    key
}

/// The key of a district's row, YTD row or delivery cursor; for the tables keyed by district
/// and more, the prefix of the district's rows.
pub(crate) fn district_key(table: Table, warehouse: WarehouseId, district: DistrictId) -> Vec<u8> {
    assert!(!matches!(table, Table::Warehouse | Table::WarehouseYtd | Table::Item), "{table:?}");
    assert!(table != Table::Stock, "stock is keyed by warehouse and item");
    let mut key = key_of(table, ORDER_LINE_KEY_BYTES);
    key.extend_from_slice(&warehouse.to_be_bytes());
    key.push(district);
    key
}

/// The key of a customer's row or of its newest order.
pub(crate) fn customer_key(
    table: Table,
    warehouse: WarehouseId,
    district: DistrictId,
    customer: CustomerId,
) -> Vec<u8> {
    assert!(matches!(table, Table::Customer | Table::CustomerNewestOrder), "{table:?}");
    let mut key = district_key(table, warehouse, district);
    key.extend_from_slice(&customer.to_be_bytes());
    key
}

/// The key of a district's index row of the customers named `last_name`.
pub(crate) fn name_key(warehouse: WarehouseId, district: DistrictId, last_name: &[u8]) -> Vec<u8> {
    let mut key = district_key(Table::CustomerByName, warehouse, district);
    key.extend_from_slice(trimmed(last_name));
    key
}

/// The key of a history row.
pub(crate) fn history_key(warehouse: WarehouseId, district: DistrictId, number: u64) -> Vec<u8> {
    let mut key = district_key(Table::History, warehouse, district);
    key.extend_from_slice(&number.to_be_bytes());
    key
}

/// The key of an order's row or of its new-order row.
pub(crate) fn order_key(
    table: Table,
    warehouse: WarehouseId,
    district: DistrictId,
    order: OrderId,
) -> Vec<u8> {
    assert!(matches!(table, Table::Order | Table::NewOrder), "{table:?}");
    let mut key = district_key(table, warehouse, district);
    key.extend_from_slice(&order.to_be_bytes());
    key
}

/// The key of an order line; `line` is OL_NUMBER, from 1.
pub(crate) fn order_line_key(
    warehouse: WarehouseId,
    district: DistrictId,
    order: OrderId,
    line: u8,
) -> Vec<u8> {
    let mut key = district_key(Table::OrderLine, warehouse, district);
    key.extend_from_slice(&order.to_be_bytes());
    key.push(line);
    key
}

/// The key of an item.
pub(crate) fn item_key(item: ItemId) -> Vec<u8> {
    let mut key = key_of(Table::Item, TAG_BYTES + ID_BYTES);
    key.extend_from_slice(&item.to_be_bytes());
    key
}

/// The key of a warehouse's stock of an item.
pub(crate) fn stock_key(warehouse: WarehouseId, item: ItemId) -> Vec<u8> {
    let mut key = key_of(Table::Stock, TAG_BYTES + WAREHOUSE_ID_BYTES + ID_BYTES);
    key.extend_from_slice(&warehouse.to_be_bytes());
    key.extend_from_slice(&item.to_be_bytes());
    key
}

/// The last id of a key of `table` that ends in a 4-byte id after its district (customer,
/// customer's newest order, order, new-order): C_ID or O_ID.
pub(crate) fn id_in_district_key(table: Table, key: &[u8]) -> Result<u32, DecodeError> {
    check_key(table, key, ORDER_KEY_BYTES)?;
    Ok(u32::from_be_bytes(array(&key[DISTRICT_KEY_BYTES..ORDER_KEY_BYTES])))
}

/// The order id and line number of an order line's key.
pub(crate) fn order_line_of_key(key: &[u8]) -> Result<(OrderId, u8), DecodeError> {
    check_key(Table::OrderLine, key, ORDER_LINE_KEY_BYTES)?;
    Ok((u32::from_be_bytes(array(&key[DISTRICT_KEY_BYTES..ORDER_KEY_BYTES])), key[ORDER_KEY_BYTES]))
}

fn check_key(table: Table, key: &[u8], length: usize) -> Result<(), DecodeError> {
    if key.len() != length || key[0] != table.tag() {
        return Err(DecodeError::Key { table, length: key.len() });
    }
    Ok(())
}

fn array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0; N];
    out.copy_from_slice(bytes);
    out
}

// ---------------------------------------------------------------------------------------------
// Errors

/// A key or value that is not a row of its table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum DecodeError {
    /// The value's length is outside its layout's.
    Length { table: Table, length: usize, min: usize, max: usize },
    /// A field holds a value outside its domain.
    Field { table: Table, field: &'static str, value: u64 },
    /// The key has the wrong tag or length for its table.
    Key { table: Table, length: usize },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            DecodeError::Length { table, length, min, max } => write!(
                formatter,
                "a {} row of {length} bytes (its layout has {min} to {max})",
                table.name()
            ),
            DecodeError::Field { table, field, value } => {
                write!(formatter, "a {} row with {field} = {value}", table.name())
            }
            DecodeError::Key { table, length } => {
                write!(formatter, "a {} key of {length} bytes or with another tag", table.name())
            }
        }
    }
}

impl From<DecodeError> for String {
    fn from(error: DecodeError) -> String {
        error.to_string()
    }
}

// ---------------------------------------------------------------------------------------------
// Layouts

/// A field of a fixed row layout: where it starts and how many bytes it has. Fields are chained
/// (`Field::first(8).then(2)`), so a layout's offsets cannot overlap or leave holes.
#[derive(Clone, Copy, Debug)]
struct Field {
    offset: usize,
    size: usize,
}

impl Field {
    const fn first(size: usize) -> Field {
        Field { offset: 0, size }
    }

    const fn then(self, size: usize) -> Field {
        Field { offset: self.end(), size }
    }

    const fn end(self) -> usize {
        self.offset + self.size
    }

    fn bytes(self, row: &[u8]) -> &[u8] {
        &row[self.offset..self.end()]
    }

    fn array<const N: usize>(self, row: &[u8]) -> [u8; N] {
        array(self.bytes(row))
    }

    fn u8(self, row: &[u8]) -> u8 {
        u8::from_le_bytes(self.array(row))
    }

    fn u16(self, row: &[u8]) -> u16 {
        u16::from_le_bytes(self.array(row))
    }

    fn u32(self, row: &[u8]) -> u32 {
        u32::from_le_bytes(self.array(row))
    }

    fn u64(self, row: &[u8]) -> u64 {
        u64::from_le_bytes(self.array(row))
    }

    fn i64(self, row: &[u8]) -> i64 {
        i64::from_le_bytes(self.array(row))
    }

    /// Writes `bytes`, which must be the field's size (a bug otherwise).
    fn put(self, row: &mut [u8], bytes: &[u8]) {
        assert_eq!(bytes.len(), self.size, "a field of {} bytes", self.size);
        row[self.offset..self.end()].copy_from_slice(bytes);
    }
}

/// A row's value: its fixed part, then a tail of at most `tail_max` bytes.
fn check_length(
    table: Table,
    row: &[u8],
    fixed_bytes: usize,
    tail_max: usize,
) -> Result<(), DecodeError> {
    let max = fixed_bytes + tail_max;
    if !(fixed_bytes..=max).contains(&row.len()) {
        return Err(DecodeError::Length { table, length: row.len(), min: fixed_bytes, max });
    }
    Ok(())
}

/// What every row type does.
pub(crate) trait Row: Sized {
    /// The table it is a row of.
    const TABLE: Table;
    /// Its value's bytes.
    fn encode(&self) -> Vec<u8>;
    /// The row a value holds, or why it holds none.
    fn decode(row: &[u8]) -> Result<Self, DecodeError>;
}

/// An address: street 1 and 2, city, state and zip (W_, D_ and C_STREET_1 and so on).
///
/// | offset | size | field     |
/// |--------|------|-----------|
/// |      0 |   20 | STREET_1  |
/// |     20 |   20 | STREET_2  |
/// |     40 |   20 | CITY      |
/// |     60 |    2 | STATE     |
/// |     62 |    9 | ZIP       |
/// |     71 |      | (end)     |
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Address {
    pub(crate) street_1: Text<20>,
    pub(crate) street_2: Text<20>,
    pub(crate) city: Text<20>,
    pub(crate) state: Text<2>,
    pub(crate) zip: Text<9>,
}

const ADDRESS_BYTES: usize = 71;

impl Address {
    fn put(&self, row: &mut [u8], field: Field) {
        assert_eq!(field.size, ADDRESS_BYTES);
        let mut bytes = [0; ADDRESS_BYTES];
        bytes[..20].copy_from_slice(&self.street_1);
        bytes[20..40].copy_from_slice(&self.street_2);
        bytes[40..60].copy_from_slice(&self.city);
        bytes[60..62].copy_from_slice(&self.state);
        bytes[62..].copy_from_slice(&self.zip);
        field.put(row, &bytes);
    }

    fn get(row: &[u8], field: Field) -> Address {
        let bytes = field.bytes(row);
        Address {
            street_1: array(&bytes[..20]),
            street_2: array(&bytes[20..40]),
            city: array(&bytes[40..60]),
            state: array(&bytes[60..62]),
            zip: array(&bytes[62..ADDRESS_BYTES]),
        }
    }
}

/// A warehouse (W_YTD is in its own row, [`Ytd`]).
///
/// | offset | size | field   |
/// |--------|------|---------|
/// |      0 |    2 | W_TAX   |
/// |      2 |   10 | W_NAME  |
/// |     12 |   71 | address |
/// |     83 |      | (end)   |
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Warehouse {
    pub(crate) tax_per_10000: u16,
    pub(crate) name: Text<10>,
    pub(crate) address: Address,
}

const W_TAX: Field = Field::first(2);
const W_NAME: Field = W_TAX.then(10);
const W_ADDRESS: Field = W_NAME.then(ADDRESS_BYTES);
const WAREHOUSE_BYTES: usize = W_ADDRESS.end();
const _: () = assert!(WAREHOUSE_BYTES == 83);

impl Row for Warehouse {
    const TABLE: Table = Table::Warehouse;

    fn encode(&self) -> Vec<u8> {
        let mut row = vec![0; WAREHOUSE_BYTES];
        W_TAX.put(&mut row, &self.tax_per_10000.to_le_bytes());
        W_NAME.put(&mut row, &self.name);
        self.address.put(&mut row, W_ADDRESS);
        row
    }

    fn decode(row: &[u8]) -> Result<Warehouse, DecodeError> {
        check_length(Self::TABLE, row, WAREHOUSE_BYTES, 0)?;
        check_rate(Self::TABLE, "W_TAX", W_TAX.u16(row))?;
        Ok(Warehouse {
            tax_per_10000: W_TAX.u16(row),
            name: W_NAME.array(row),
            address: Address::get(row, W_ADDRESS),
        })
    }
}

/// A rate above 1 (10,000 ten-thousandths) is no tax or discount TPC-C has.
fn check_rate(table: Table, field: &'static str, rate: u16) -> Result<(), DecodeError> {
    if rate > 10_000 {
        return Err(DecodeError::Field { table, field, value: u64::from(rate) });
    }
    Ok(())
}

/// W_YTD or D_YTD, in a row of its own (see the module's documentation).
///
/// | offset | size | field          |
/// |--------|------|----------------|
/// |      0 |    8 | W_YTD or D_YTD |
/// |      8 |      | (end)          |
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Ytd {
    pub(crate) cents: i64,
}

const YTD_BYTES: usize = 8;

impl Ytd {
    /// The row's bytes.
    pub(crate) fn encode(&self) -> Vec<u8> {
        self.cents.to_le_bytes().to_vec()
    }

    /// The row in `row`, a row of `table` (warehouse YTD or district YTD).
    pub(crate) fn decode(table: Table, row: &[u8]) -> Result<Ytd, DecodeError> {
        check_length(table, row, YTD_BYTES, 0)?;
        Ok(Ytd { cents: i64::from_le_bytes(array(row)) })
    }
}

/// A district (D_YTD is in its own row, [`Ytd`]).
///
/// | offset | size | field       |
/// |--------|------|-------------|
/// |      0 |    2 | D_TAX       |
/// |      2 |    4 | D_NEXT_O_ID |
/// |      6 |   10 | D_NAME      |
/// |     16 |   71 | address     |
/// |     87 |      | (end)       |
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct District {
    pub(crate) tax_per_10000: u16,
    pub(crate) next_order_id: OrderId,
    pub(crate) name: Text<10>,
    pub(crate) address: Address,
}

const D_TAX: Field = Field::first(2);
const D_NEXT_O_ID: Field = D_TAX.then(4);
const D_NAME: Field = D_NEXT_O_ID.then(10);
const D_ADDRESS: Field = D_NAME.then(ADDRESS_BYTES);
const DISTRICT_BYTES: usize = D_ADDRESS.end();
const _: () = assert!(DISTRICT_BYTES == 87);

impl Row for District {
    const TABLE: Table = Table::District;

    fn encode(&self) -> Vec<u8> {
        let mut row = vec![0; DISTRICT_BYTES];
        D_TAX.put(&mut row, &self.tax_per_10000.to_le_bytes());
        D_NEXT_O_ID.put(&mut row, &self.next_order_id.to_le_bytes());
        D_NAME.put(&mut row, &self.name);
        self.address.put(&mut row, D_ADDRESS);
        row
    }

    fn decode(row: &[u8]) -> Result<District, DecodeError> {
        check_length(Self::TABLE, row, DISTRICT_BYTES, 0)?;
        check_rate(Self::TABLE, "D_TAX", D_TAX.u16(row))?;
        let next_order_id = D_NEXT_O_ID.u32(row);
        if next_order_id == 0 {
            return Err(DecodeError::Field { table: Self::TABLE, field: "D_NEXT_O_ID", value: 0 });
        }
        Ok(District {
            tax_per_10000: D_TAX.u16(row),
            next_order_id,
            name: D_NAME.array(row),
            address: Address::get(row, D_ADDRESS),
        })
    }
}

/// C_CREDIT.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Credit {
    /// "GC".
    #[default]
    Good,
    /// "BC": payment prepends to C_DATA.
    Bad,
}

/// A customer.
///
/// | offset | size  | field          |
/// |--------|-------|----------------|
/// |      0 |     8 | C_BALANCE      |
/// |      8 |     8 | C_YTD_PAYMENT  |
/// |     16 |     4 | C_PAYMENT_CNT  |
/// |     20 |     4 | C_DELIVERY_CNT |
/// |     24 |     8 | C_CREDIT_LIM   |
/// |     32 |     2 | C_DISCOUNT     |
/// |     34 |     2 | C_CREDIT ("GC" or "BC") |
/// |     36 |     8 | C_SINCE        |
/// |     44 |    16 | C_FIRST        |
/// |     60 |     2 | C_MIDDLE       |
/// |     62 |    16 | C_LAST         |
/// |     78 |    71 | address        |
/// |    149 |    16 | C_PHONE        |
/// |    165 | 0-500 | C_DATA (the rest of the value) |
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Customer {
    pub(crate) balance_cents: i64,
    pub(crate) ytd_payment_cents: i64,
    pub(crate) payment_count: u32,
    pub(crate) delivery_count: u32,
    pub(crate) credit_limit_cents: i64,
    pub(crate) discount_per_10000: u16,
    pub(crate) credit: Credit,
    pub(crate) since_seconds: u64,
    pub(crate) first: Text<16>,
    pub(crate) middle: Text<2>,
    pub(crate) last: Text<16>,
    pub(crate) address: Address,
    pub(crate) phone: Text<16>,
    pub(crate) data: Vec<u8>,
}

const C_BALANCE: Field = Field::first(8);
const C_YTD_PAYMENT: Field = C_BALANCE.then(8);
const C_PAYMENT_CNT: Field = C_YTD_PAYMENT.then(4);
const C_DELIVERY_CNT: Field = C_PAYMENT_CNT.then(4);
const C_CREDIT_LIM: Field = C_DELIVERY_CNT.then(8);
const C_DISCOUNT: Field = C_CREDIT_LIM.then(2);
const C_CREDIT: Field = C_DISCOUNT.then(2);
const C_SINCE: Field = C_CREDIT.then(8);
const C_FIRST: Field = C_SINCE.then(16);
const C_MIDDLE: Field = C_FIRST.then(2);
const C_LAST: Field = C_MIDDLE.then(16);
const C_ADDRESS: Field = C_LAST.then(ADDRESS_BYTES);
const C_PHONE: Field = C_ADDRESS.then(16);
const CUSTOMER_FIXED_BYTES: usize = C_PHONE.end();
const _: () = assert!(CUSTOMER_FIXED_BYTES == 165);

impl Row for Customer {
    const TABLE: Table = Table::Customer;

    fn encode(&self) -> Vec<u8> {
        assert!(self.data.len() <= CUSTOMER_DATA_BYTES_MAX, "{} bytes of C_DATA", self.data.len());
        let mut row = vec![0; CUSTOMER_FIXED_BYTES];
        C_BALANCE.put(&mut row, &self.balance_cents.to_le_bytes());
        C_YTD_PAYMENT.put(&mut row, &self.ytd_payment_cents.to_le_bytes());
        C_PAYMENT_CNT.put(&mut row, &self.payment_count.to_le_bytes());
        C_DELIVERY_CNT.put(&mut row, &self.delivery_count.to_le_bytes());
        C_CREDIT_LIM.put(&mut row, &self.credit_limit_cents.to_le_bytes());
        C_DISCOUNT.put(&mut row, &self.discount_per_10000.to_le_bytes());
        C_CREDIT.put(&mut row, if self.credit == Credit::Bad { b"BC" } else { b"GC" });
        C_SINCE.put(&mut row, &self.since_seconds.to_le_bytes());
        C_FIRST.put(&mut row, &self.first);
        C_MIDDLE.put(&mut row, &self.middle);
        C_LAST.put(&mut row, &self.last);
        self.address.put(&mut row, C_ADDRESS);
        C_PHONE.put(&mut row, &self.phone);
        row.extend_from_slice(&self.data);
        row
    }

    fn decode(row: &[u8]) -> Result<Customer, DecodeError> {
        check_length(Self::TABLE, row, CUSTOMER_FIXED_BYTES, CUSTOMER_DATA_BYTES_MAX)?;
        check_rate(Self::TABLE, "C_DISCOUNT", C_DISCOUNT.u16(row))?;
        let credit = match C_CREDIT.bytes(row) {
            b"GC" => Credit::Good,
            b"BC" => Credit::Bad,
            _ => {
                let value = u64::from(C_CREDIT.u16(row));
                return Err(DecodeError::Field { table: Self::TABLE, field: "C_CREDIT", value });
            }
        };
        Ok(Customer {
            balance_cents: C_BALANCE.i64(row),
            ytd_payment_cents: C_YTD_PAYMENT.i64(row),
            payment_count: C_PAYMENT_CNT.u32(row),
            delivery_count: C_DELIVERY_CNT.u32(row),
            credit_limit_cents: C_CREDIT_LIM.i64(row),
            discount_per_10000: C_DISCOUNT.u16(row),
            credit,
            since_seconds: C_SINCE.u64(row),
            first: C_FIRST.array(row),
            middle: C_MIDDLE.array(row),
            last: C_LAST.array(row),
            address: Address::get(row, C_ADDRESS),
            phone: C_PHONE.array(row),
            data: row[CUSTOMER_FIXED_BYTES..].to_vec(),
        })
    }
}

/// The customers of a district with one last name, sorted by C_FIRST: what payment and
/// order-status look a customer up by (they take the one at position n / 2 rounded up).
///
/// | offset | size | field                            |
/// |--------|------|----------------------------------|
/// |      0 |  4 n | C_ID u32, n of them (1 to 3,000) |
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct NameIndex {
    pub(crate) customer_ids: Vec<CustomerId>,
}

impl Row for NameIndex {
    const TABLE: Table = Table::CustomerByName;

    fn encode(&self) -> Vec<u8> {
        assert!((1..=NAME_INDEX_IDS_MAX).contains(&self.customer_ids.len()));
        self.customer_ids.iter().flat_map(|id| id.to_le_bytes()).collect()
    }

    fn decode(row: &[u8]) -> Result<NameIndex, DecodeError> {
        check_length(Self::TABLE, row, ID_BYTES, (NAME_INDEX_IDS_MAX - 1) * ID_BYTES)?;
        if row.len() % ID_BYTES != 0 {
            return Err(DecodeError::Length {
                table: Self::TABLE,
                length: row.len(),
                min: ID_BYTES,
                max: NAME_INDEX_IDS_MAX * ID_BYTES,
            });
        }
        let customer_ids = row.chunks_exact(ID_BYTES).map(|id| u32::from_le_bytes(array(id)));
        Ok(NameIndex { customer_ids: customer_ids.collect() })
    }
}

impl NameIndex {
    /// The customer payment and order-status choose: the one at position n / 2 rounded up
    /// (from 1) in C_FIRST order (clause 2.5.2.2).
    pub(crate) fn middle(&self) -> CustomerId {
        self.customer_ids[(self.customer_ids.len() - 1) / 2]
    }
}

/// An order id in a row of its own: a customer's newest order, or a district's delivery cursor
/// (its oldest undelivered order).
///
/// | offset | size | field |
/// |--------|------|-------|
/// |      0 |    4 | O_ID  |
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct OrderPointer {
    pub(crate) order_id: OrderId,
}

impl OrderPointer {
    /// The row's bytes.
    pub(crate) fn encode(&self) -> Vec<u8> {
        self.order_id.to_le_bytes().to_vec()
    }

    /// The row in `row`, a row of `table` (customer's newest order or delivery cursor).
    pub(crate) fn decode(table: Table, row: &[u8]) -> Result<OrderPointer, DecodeError> {
        check_length(table, row, ID_BYTES, 0)?;
        Ok(OrderPointer { order_id: u32::from_le_bytes(array(row)) })
    }
}

/// A history row (H_W_ID and H_D_ID are in its key).
///
/// | offset | size | field    |
/// |--------|------|----------|
/// |      0 |    4 | H_C_ID   |
/// |      4 |    1 | H_C_D_ID |
/// |      5 |    2 | H_C_W_ID |
/// |      7 |    8 | H_DATE   |
/// |     15 |    8 | H_AMOUNT |
/// |     23 |   24 | H_DATA   |
/// |     47 |      | (end)    |
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct History {
    pub(crate) customer_id: CustomerId,
    pub(crate) customer_district_id: DistrictId,
    pub(crate) customer_warehouse_id: WarehouseId,
    pub(crate) date_seconds: u64,
    pub(crate) amount_cents: i64,
    pub(crate) data: Text<24>,
}

const H_C_ID: Field = Field::first(4);
const H_C_D_ID: Field = H_C_ID.then(1);
const H_C_W_ID: Field = H_C_D_ID.then(2);
const H_DATE: Field = H_C_W_ID.then(8);
const H_AMOUNT: Field = H_DATE.then(8);
const H_DATA: Field = H_AMOUNT.then(24);
const HISTORY_BYTES: usize = H_DATA.end();
const _: () = assert!(HISTORY_BYTES == 47);

impl Row for History {
    const TABLE: Table = Table::History;

    fn encode(&self) -> Vec<u8> {
        let mut row = vec![0; HISTORY_BYTES];
        H_C_ID.put(&mut row, &self.customer_id.to_le_bytes());
        H_C_D_ID.put(&mut row, &[self.customer_district_id]);
        H_C_W_ID.put(&mut row, &self.customer_warehouse_id.to_le_bytes());
        H_DATE.put(&mut row, &self.date_seconds.to_le_bytes());
        H_AMOUNT.put(&mut row, &self.amount_cents.to_le_bytes());
        H_DATA.put(&mut row, &self.data);
        row
    }

    fn decode(row: &[u8]) -> Result<History, DecodeError> {
        check_length(Self::TABLE, row, HISTORY_BYTES, 0)?;
        Ok(History {
            customer_id: H_C_ID.u32(row),
            customer_district_id: H_C_D_ID.u8(row),
            customer_warehouse_id: H_C_W_ID.u16(row),
            date_seconds: H_DATE.u64(row),
            amount_cents: H_AMOUNT.i64(row),
            data: H_DATA.array(row),
        })
    }
}

/// A new-order row. TPC-C's has no column but its key; delivery deletes it. The store has no
/// delete, so delivery marks it delivered instead, and every reader treats a delivered row as
/// absent.
///
/// | offset | size | field                              |
/// |--------|------|------------------------------------|
/// |      0 |    1 | state: 1 undelivered, 0 delivered  |
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NewOrder {
    Undelivered,
    Delivered,
}

impl Row for NewOrder {
    const TABLE: Table = Table::NewOrder;

    fn encode(&self) -> Vec<u8> {
        vec![u8::from(*self == NewOrder::Undelivered)]
    }

    fn decode(row: &[u8]) -> Result<NewOrder, DecodeError> {
        check_length(Self::TABLE, row, 1, 0)?;
        match row[0] {
            1 => Ok(NewOrder::Undelivered),
            0 => Ok(NewOrder::Delivered),
            value => Err(DecodeError::Field {
                table: Self::TABLE,
                field: "state",
                value: u64::from(value),
            }),
        }
    }
}

/// An order.
///
/// | offset | size | field                     |
/// |--------|------|---------------------------|
/// |      0 |    4 | O_C_ID                    |
/// |      4 |    8 | O_ENTRY_D                 |
/// |     12 |    1 | O_CARRIER_ID (0 for null) |
/// |     13 |    1 | O_OL_CNT (5 to 15)        |
/// |     14 |    1 | O_ALL_LOCAL (0 or 1)      |
/// |     15 |      | (end)                     |
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Order {
    pub(crate) customer_id: CustomerId,
    pub(crate) entry_seconds: u64,
    pub(crate) carrier_id: Option<u8>,
    pub(crate) line_count: u8,
    pub(crate) all_local: bool,
}

const O_C_ID: Field = Field::first(4);
const O_ENTRY_D: Field = O_C_ID.then(8);
const O_CARRIER_ID: Field = O_ENTRY_D.then(1);
const O_OL_CNT: Field = O_CARRIER_ID.then(1);
const O_ALL_LOCAL: Field = O_OL_CNT.then(1);
const ORDER_BYTES: usize = O_ALL_LOCAL.end();
const _: () = assert!(ORDER_BYTES == 15);

impl Row for Order {
    const TABLE: Table = Table::Order;

    fn encode(&self) -> Vec<u8> {
        assert!((ORDER_LINES_MIN..=ORDER_LINES_MAX).contains(&self.line_count));
        assert!(self.carrier_id.is_none_or(|id| (1..=CARRIER_ID_MAX).contains(&id)));
        let mut row = vec![0; ORDER_BYTES];
        O_C_ID.put(&mut row, &self.customer_id.to_le_bytes());
        O_ENTRY_D.put(&mut row, &self.entry_seconds.to_le_bytes());
        O_CARRIER_ID.put(&mut row, &[self.carrier_id.unwrap_or(0)]);
        O_OL_CNT.put(&mut row, &[self.line_count]);
        O_ALL_LOCAL.put(&mut row, &[u8::from(self.all_local)]);
        row
    }

    fn decode(row: &[u8]) -> Result<Order, DecodeError> {
        check_length(Self::TABLE, row, ORDER_BYTES, 0)?;
        let field = |field: &'static str, value: u8| DecodeError::Field {
            table: Self::TABLE,
            field,
            value: u64::from(value),
        };
        let (carrier, line_count, all_local) =
            (O_CARRIER_ID.u8(row), O_OL_CNT.u8(row), O_ALL_LOCAL.u8(row));
        if carrier > CARRIER_ID_MAX {
            return Err(field("O_CARRIER_ID", carrier));
        }
        if !(ORDER_LINES_MIN..=ORDER_LINES_MAX).contains(&line_count) {
            return Err(field("O_OL_CNT", line_count));
        }
        if all_local > 1 {
            return Err(field("O_ALL_LOCAL", all_local));
        }
        Ok(Order {
            customer_id: O_C_ID.u32(row),
            entry_seconds: O_ENTRY_D.u64(row),
            carrier_id: (carrier != 0).then_some(carrier),
            line_count,
            all_local: all_local == 1,
        })
    }
}

/// An order line.
///
/// | offset | size | field                      |
/// |--------|------|----------------------------|
/// |      0 |    4 | OL_I_ID                    |
/// |      4 |    2 | OL_SUPPLY_W_ID             |
/// |      6 |    8 | OL_DELIVERY_D (0 for null) |
/// |     14 |    1 | OL_QUANTITY                |
/// |     15 |    8 | OL_AMOUNT                  |
/// |     23 |   24 | OL_DIST_INFO               |
/// |     47 |      | (end)                      |
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct OrderLine {
    pub(crate) item_id: ItemId,
    pub(crate) supply_warehouse_id: WarehouseId,
    pub(crate) delivery_seconds: Option<u64>,
    pub(crate) quantity: u8,
    pub(crate) amount_cents: i64,
    pub(crate) district_info: Text<24>,
}

const OL_I_ID: Field = Field::first(4);
const OL_SUPPLY_W_ID: Field = OL_I_ID.then(2);
const OL_DELIVERY_D: Field = OL_SUPPLY_W_ID.then(8);
const OL_QUANTITY: Field = OL_DELIVERY_D.then(1);
const OL_AMOUNT: Field = OL_QUANTITY.then(8);
const OL_DIST_INFO: Field = OL_AMOUNT.then(24);
const ORDER_LINE_BYTES: usize = OL_DIST_INFO.end();
const _: () = assert!(ORDER_LINE_BYTES == 47);

impl Row for OrderLine {
    const TABLE: Table = Table::OrderLine;

    fn encode(&self) -> Vec<u8> {
        assert!(self.delivery_seconds != Some(0), "0 is the null date");
        let mut row = vec![0; ORDER_LINE_BYTES];
        OL_I_ID.put(&mut row, &self.item_id.to_le_bytes());
        OL_SUPPLY_W_ID.put(&mut row, &self.supply_warehouse_id.to_le_bytes());
        OL_DELIVERY_D.put(&mut row, &self.delivery_seconds.unwrap_or(0).to_le_bytes());
        OL_QUANTITY.put(&mut row, &[self.quantity]);
        OL_AMOUNT.put(&mut row, &self.amount_cents.to_le_bytes());
        OL_DIST_INFO.put(&mut row, &self.district_info);
        row
    }

    fn decode(row: &[u8]) -> Result<OrderLine, DecodeError> {
        check_length(Self::TABLE, row, ORDER_LINE_BYTES, 0)?;
        let delivery = OL_DELIVERY_D.u64(row);
        Ok(OrderLine {
            item_id: OL_I_ID.u32(row),
            supply_warehouse_id: OL_SUPPLY_W_ID.u16(row),
            delivery_seconds: (delivery != 0).then_some(delivery),
            quantity: OL_QUANTITY.u8(row),
            amount_cents: OL_AMOUNT.i64(row),
            district_info: OL_DIST_INFO.array(row),
        })
    }
}

/// An item.
///
/// | offset | size | field                          |
/// |--------|------|--------------------------------|
/// |      0 |    4 | I_IM_ID                        |
/// |      4 |    8 | I_PRICE                        |
/// |     12 |   24 | I_NAME                         |
/// |     36 | 0-50 | I_DATA (the rest of the value) |
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Item {
    pub(crate) image_id: u32,
    pub(crate) price_cents: i64,
    pub(crate) name: Text<24>,
    pub(crate) data: Vec<u8>,
}

const I_IM_ID: Field = Field::first(4);
const I_PRICE: Field = I_IM_ID.then(8);
const I_NAME: Field = I_PRICE.then(24);
const ITEM_FIXED_BYTES: usize = I_NAME.end();
const _: () = assert!(ITEM_FIXED_BYTES == 36);

impl Row for Item {
    const TABLE: Table = Table::Item;

    fn encode(&self) -> Vec<u8> {
        assert!(self.data.len() <= ITEM_DATA_BYTES_MAX);
        let mut row = vec![0; ITEM_FIXED_BYTES];
        I_IM_ID.put(&mut row, &self.image_id.to_le_bytes());
        I_PRICE.put(&mut row, &self.price_cents.to_le_bytes());
        I_NAME.put(&mut row, &self.name);
        row.extend_from_slice(&self.data);
        row
    }

    fn decode(row: &[u8]) -> Result<Item, DecodeError> {
        check_length(Self::TABLE, row, ITEM_FIXED_BYTES, ITEM_DATA_BYTES_MAX)?;
        Ok(Item {
            image_id: I_IM_ID.u32(row),
            price_cents: I_PRICE.i64(row),
            name: I_NAME.array(row),
            data: row[ITEM_FIXED_BYTES..].to_vec(),
        })
    }
}

/// A warehouse's stock of an item.
///
/// | offset | size | field                          |
/// |--------|------|--------------------------------|
/// |      0 |    2 | S_QUANTITY                     |
/// |      2 |    4 | S_YTD                          |
/// |      6 |    4 | S_ORDER_CNT                    |
/// |     10 |    4 | S_REMOTE_CNT                   |
/// |     14 |  240 | S_DIST_01 to S_DIST_10, 24 each |
/// |    254 | 0-50 | S_DATA (the rest of the value) |
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Stock {
    pub(crate) quantity: u16,
    pub(crate) ytd: u32,
    pub(crate) order_count: u32,
    pub(crate) remote_count: u32,
    pub(crate) district_infos: [Text<24>; DISTRICTS_PER_WAREHOUSE as usize],
    pub(crate) data: Vec<u8>,
}

const S_QUANTITY: Field = Field::first(2);
const S_YTD: Field = S_QUANTITY.then(4);
const S_ORDER_CNT: Field = S_YTD.then(4);
const S_REMOTE_CNT: Field = S_ORDER_CNT.then(4);
const S_DIST: Field = S_REMOTE_CNT.then(24 * DISTRICTS_PER_WAREHOUSE as usize);
const STOCK_FIXED_BYTES: usize = S_DIST.end();
const _: () = assert!(STOCK_FIXED_BYTES == 254);

impl Row for Stock {
    const TABLE: Table = Table::Stock;

    fn encode(&self) -> Vec<u8> {
        assert!(self.data.len() <= STOCK_DATA_BYTES_MAX);
        let mut row = vec![0; STOCK_FIXED_BYTES];
        S_QUANTITY.put(&mut row, &self.quantity.to_le_bytes());
        S_YTD.put(&mut row, &self.ytd.to_le_bytes());
        S_ORDER_CNT.put(&mut row, &self.order_count.to_le_bytes());
        S_REMOTE_CNT.put(&mut row, &self.remote_count.to_le_bytes());
        S_DIST.put(&mut row, self.district_infos.as_flattened());
        row.extend_from_slice(&self.data);
        row
    }

    fn decode(row: &[u8]) -> Result<Stock, DecodeError> {
        check_length(Self::TABLE, row, STOCK_FIXED_BYTES, STOCK_DATA_BYTES_MAX)?;
        let mut district_infos = [[0; 24]; DISTRICTS_PER_WAREHOUSE as usize];
        for (info, bytes) in district_infos.iter_mut().zip(S_DIST.bytes(row).chunks_exact(24)) {
            info.copy_from_slice(bytes);
        }
        Ok(Stock {
            quantity: S_QUANTITY.u16(row),
            ytd: S_YTD.u32(row),
            order_count: S_ORDER_CNT.u32(row),
            remote_count: S_REMOTE_CNT.u32(row),
            district_infos,
            data: row[STOCK_FIXED_BYTES..].to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address() -> Address {
        Address {
            street_1: text(b"1 Main Street"),
            street_2: text(b"Suite 2"),
            city: text(b"Springfield"),
            state: text(b"XY"),
            zip: text(b"123411111"),
        }
    }

    fn customer() -> Customer {
        Customer {
            balance_cents: -1_000,
            ytd_payment_cents: 1_000,
            payment_count: 1,
            delivery_count: 7,
            credit_limit_cents: 5_000_000,
            discount_per_10000: 4_321,
            credit: Credit::Bad,
            since_seconds: 1_700_000_000,
            first: text(b"Alexandra"),
            middle: text(b"OE"),
            last: text(b"BARBARBAR"),
            address: address(),
            phone: text(b"0123456789012345"),
            data: vec![b'x'; CUSTOMER_DATA_BYTES_MAX],
        }
    }

    fn stock() -> Stock {
        let mut district_infos = [[0; 24]; 10];
        for (info, letter) in district_infos.iter_mut().zip(b'a'..) {
            *info = [letter; 24];
        }
        Stock {
            quantity: 91,
            ytd: 12,
            order_count: 3,
            remote_count: 1,
            district_infos,
            data: b"abcORIGINALdefghijklmnopqrstuvwxyz".to_vec(),
        }
    }

    fn round_trip<R: Row + PartialEq + fmt::Debug>(row: &R) {
        let bytes = row.encode();
        assert_eq!(&R::decode(&bytes).unwrap(), row);
    }

    /// Every row type decodes to what was encoded.
    #[test]
    fn every_row_round_trips() {
        let warehouse =
            Warehouse { tax_per_10000: 2_000, name: text(b"W-one"), address: address() };
        round_trip(&warehouse);
        round_trip(&District {
            tax_per_10000: 0,
            next_order_id: 3_001,
            name: text(b"D-two"),
            address: address(),
        });
        round_trip(&customer());
        round_trip(&Customer { data: Vec::new(), credit: Credit::Good, ..customer() });
        round_trip(&NameIndex { customer_ids: vec![7, 3, 2_999] });
        round_trip(&History {
            customer_id: 42,
            customer_district_id: 3,
            customer_warehouse_id: 2,
            date_seconds: 5,
            amount_cents: 1_000,
            data: text(b"W-one    D-two"),
        });
        round_trip(&NewOrder::Undelivered);
        round_trip(&NewOrder::Delivered);
        let order = Order {
            customer_id: 9,
            entry_seconds: 8,
            carrier_id: None,
            line_count: 15,
            all_local: true,
        };
        round_trip(&order);
        round_trip(&Order { carrier_id: Some(10), line_count: 5, all_local: false, ..order });
        let line = OrderLine {
            item_id: 100_000,
            supply_warehouse_id: 1_000,
            delivery_seconds: Some(1),
            quantity: 10,
            amount_cents: 999_999,
            district_info: [b'z'; 24],
        };
        round_trip(&line);
        round_trip(&OrderLine { delivery_seconds: None, ..line });
        round_trip(&Item {
            image_id: 10_000,
            price_cents: 10_000,
            name: text(b"an item"),
            data: vec![b'd'; ITEM_DATA_BYTES_MAX],
        });
        round_trip(&stock());
        for table in [Table::WarehouseYtd, Table::DistrictYtd] {
            let ytd = Ytd { cents: -3 };
            assert_eq!(Ytd::decode(table, &ytd.encode()), Ok(ytd));
        }
        let pointer = OrderPointer { order_id: 3_001 };
        assert_eq!(OrderPointer::decode(Table::DeliveryCursor, &pointer.encode()), Ok(pointer));
    }

    /// A district row built by hand from the layout table at [`District`]: the comment and the
    /// code describe the same bytes.
    #[test]
    fn a_district_row_has_the_documented_layout() {
        let mut image = vec![0u8; 87];
        image[0..2].copy_from_slice(&1_234u16.to_le_bytes()); // D_TAX 0.1234
        image[2..6].copy_from_slice(&3_001u32.to_le_bytes()); // D_NEXT_O_ID
        image[6..11].copy_from_slice(b"north"); // D_NAME
        image[16..21].copy_from_slice(b"Elm 1"); // D_STREET_1
        image[56..60].copy_from_slice(b"Oslo"); // D_CITY
        image[76..78].copy_from_slice(b"NY"); // D_STATE
        image[78..87].copy_from_slice(b"987611111"); // D_ZIP
        let district = District::decode(&image).unwrap();
        assert_eq!(district.tax_per_10000, 1_234);
        assert_eq!(district.next_order_id, 3_001);
        assert_eq!(trimmed(&district.name), b"north");
        assert_eq!(trimmed(&district.address.street_1), b"Elm 1");
        assert_eq!(trimmed(&district.address.city), b"Oslo");
        assert_eq!(&district.address.state, b"NY");
        assert_eq!(&district.address.zip, b"987611111");
        assert_eq!(district.encode(), image);
    }

    /// Where the fields a transaction updates sit in a customer row, by hand.
    #[test]
    fn a_customer_row_has_the_documented_layout() {
        let bytes = customer().encode();
        assert_eq!(bytes.len(), 165 + CUSTOMER_DATA_BYTES_MAX);
        assert_eq!(&bytes[0..8], &(-1_000i64).to_le_bytes()); // C_BALANCE
        assert_eq!(&bytes[20..24], &7u32.to_le_bytes()); // C_DELIVERY_CNT
        assert_eq!(&bytes[32..34], &4_321u16.to_le_bytes()); // C_DISCOUNT
        assert_eq!(&bytes[34..36], b"BC"); // C_CREDIT
        assert_eq!(&bytes[44..53], b"Alexandra"); // C_FIRST
        assert_eq!(&bytes[62..71], b"BARBARBAR"); // C_LAST
        assert_eq!(&bytes[149..165], b"0123456789012345"); // C_PHONE
        assert_eq!(bytes[165], b'x'); // C_DATA
    }

    fn assert_refused<R: Row + fmt::Debug>(bytes: &[u8]) {
        let error = R::decode(bytes).expect_err("not a row");
        assert!(error.to_string().contains(R::TABLE.name()), "{error}");
    }

    /// Every row type refuses a value of any wrong length, and fields outside their domain:
    /// errors, not panics.
    #[test]
    fn bad_bytes_are_errors() {
        fn every_wrong_length<R: Row + fmt::Debug>(fixed_bytes: usize, tail_max: usize) {
            for length in (0..fixed_bytes).chain([fixed_bytes + tail_max + 1, 4096]) {
                assert_refused::<R>(&vec![0; length]);
            }
        }
        every_wrong_length::<Warehouse>(83, 0);
        every_wrong_length::<District>(87, 0);
        every_wrong_length::<Customer>(165, CUSTOMER_DATA_BYTES_MAX);
        every_wrong_length::<History>(47, 0);
        every_wrong_length::<NewOrder>(1, 0);
        every_wrong_length::<Order>(15, 0);
        every_wrong_length::<OrderLine>(47, 0);
        every_wrong_length::<Item>(36, ITEM_DATA_BYTES_MAX);
        every_wrong_length::<Stock>(254, STOCK_DATA_BYTES_MAX);
        assert_refused::<NameIndex>(&[]);
        assert_refused::<NameIndex>(&[1, 0, 0, 0, 2]);
        assert!(Ytd::decode(Table::WarehouseYtd, &[0; 7]).is_err());
        assert!(OrderPointer::decode(Table::DeliveryCursor, &[0; 5]).is_err());

        let mut bad_credit = customer().encode();
        bad_credit[34..36].copy_from_slice(b"XC");
        assert_refused::<Customer>(&bad_credit);
        let mut bad_discount = customer().encode();
        bad_discount[32..34].copy_from_slice(&10_001u16.to_le_bytes());
        assert_refused::<Customer>(&bad_discount);
        assert_refused::<NewOrder>(&[2]);
        let order = Order { line_count: 5, ..Order::default() }.encode();
        for (offset, value) in [(12, 11), (13, 4), (13, 16), (14, 2)] {
            let mut bad = order.clone();
            bad[offset] = value;
            assert_refused::<Order>(&bad);
        }
        let district = District { next_order_id: 1, ..District::default() }.encode();
        let mut bad_next = district.clone();
        bad_next[2..6].copy_from_slice(&0u32.to_le_bytes());
        assert_refused::<District>(&bad_next);
    }

    /// Key order is id order: big-endian ids of fixed width.
    #[test]
    fn keys_sort_in_id_order() {
        let mut ids = Vec::new();
        for warehouse in [1u16, 2, 256, 300] {
            for district in [1u8, 2, 10] {
                for order in [1u32, 255, 256, 3_000, 70_000] {
                    for line in [1u8, 2, 15] {
                        ids.push((warehouse, district, order, line));
                    }
                }
            }
        }
        let mut by_key = ids.clone();
        by_key.sort_by_key(|&(w, d, o, l)| order_line_key(w, d, o, l));
        assert_eq!(by_key, ids, "the ids were generated in order");
        let stock: Vec<Vec<u8>> = [(1u16, 65_536u32), (1, 65_537), (2, 1)]
            .iter()
            .map(|&(warehouse, item)| stock_key(warehouse, item))
            .collect();
        assert!(stock.is_sorted());
    }

    #[test]
    fn keys_decode_back_to_their_ids() {
        assert_eq!(order_line_of_key(&order_line_key(3, 4, 70_000, 15)), Ok((70_000, 15)));
        let key = order_key(Table::NewOrder, 3, 4, 2_101);
        assert_eq!(id_in_district_key(Table::NewOrder, &key), Ok(2_101));
        assert!(id_in_district_key(Table::Order, &key).is_err(), "the wrong table's tag");
        assert!(order_line_of_key(&key).is_err(), "the wrong length");
        assert_eq!(district_key(Table::District, 1, 2), [3, 0, 1, 2]);
        assert_eq!(name_key(1, 2, &text::<16>(b"BAR")), [6, 0, 1, 2, b'B', b'A', b'R']);
        assert_eq!(history_key(1, 2, 3).len(), 12);
    }

    #[test]
    fn cardinalities_divide_by_the_scale() {
        let full = Cardinalities::new(2, 1).unwrap();
        assert_eq!(full.item_count, 100_000);
        assert_eq!(full.customers_per_district, 3_000);
        assert_eq!(full.first_new_order_id(), 2_101);
        assert_eq!(full.last_name_count, 1_000);
        assert_eq!(full.districts().count(), 20);
        let small = Cardinalities::new(1, 100).unwrap();
        assert_eq!((small.item_count, small.customers_per_district), (1_000, 30));
        assert_eq!((small.new_orders_per_district, small.first_new_order_id()), (9, 22));
        assert_eq!(small.last_name_count, 30);
        assert!(Cardinalities::new(0, 1).unwrap_err().contains("--warehouses"));
        assert!(Cardinalities::new(1, SCALE_MAX + 1).unwrap_err().contains("--scale"));
    }
}
