//! The five TPC-C transactions (clauses 2.4 to 2.8) on the [`Store`] trait: their inputs, drawn
//! by a [`Terminal`], and what each reads and writes.
//!
//! - **new-order** (2.4) reads the warehouse, the district (taking D_NEXT_O_ID and moving it on),
//!   the customer; writes the order, its new-order row and the customer's newest order; then per
//!   line reads the item and the supplying warehouse's stock, updates the stock and writes the
//!   order line. 1% of new-orders name an unused item id in their last line: the body then
//!   returns [`ROLLBACK`], the store rolls everything back, and the transaction is counted as a
//!   rollback, not a failure.
//! - **payment** (2.5) adds the amount to W_YTD and D_YTD, finds the customer by id (40%) or by
//!   last name (60%, through the last-name index row), updates the customer (and C_DATA of a
//!   bad-credit customer), and writes a history row. 15% pay through a remote warehouse when
//!   there are several.
//! - **order-status** (2.6) reads the customer (by id or last name), its newest order and that
//!   order's lines, in a read-only transaction.
//! - **delivery** (2.7) delivers, in each of the warehouse's ten districts, the oldest
//!   undelivered order (found through the district's delivery cursor): marks its new-order row
//!   delivered, sets the carrier and the lines' delivery date, and adds the lines' amounts to the
//!   customer's balance. The ten districts are one transaction (the specification allows up to
//!   ten); a district without an undelivered order is skipped and counted. It runs in the
//!   terminal's thread, not deferred to a queue as clause 2.7.2 has it.
//! - **stock-level** (2.8) reads D_NEXT_O_ID, then the order lines of the district's last 20
//!   orders with [`Store::scan`], then the stock of each distinct item. The store has no scan
//!   inside a transaction, so these reads are not one transaction: each sees the committed state
//!   of its moment, which is the read-committed isolation clause 3.4.1 requires of stock-level.
//!
//! Every transaction runs without keying or think time: a terminal starts its next transaction
//! as soon as the last one ends.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use rand::Rng;
use rand::rngs::SmallRng;

use crate::bench::kv::{Store, Transaction};

use super::random::{self, A_CUSTOMER_ID, A_ITEM_ID, A_LAST_NAME, NurandConstants};
use super::schema::{
    self, CARRIER_ID_MAX, Cardinalities, Credit, Customer, CustomerId, DISTRICTS_PER_WAREHOUSE,
    District, DistrictId, History, Item, ItemId, NameIndex, NewOrder, ORDER_LINES_MAX,
    ORDER_LINES_MIN, Order, OrderId, OrderLine, OrderPointer, Row, Stock, Table, Text, Warehouse,
    WarehouseId, Ytd,
};

/// What a new-order's body returns on its unused item id, for the store to roll back; the
/// caller counts it as a rollback. The trait's errors are strings, so the sentinel is one.
pub(crate) const ROLLBACK: &str = "tpc-c new-order rollback: an unused item id (clause 2.4.2.3)";
/// Orders whose lines stock-level reads (clause 2.8.2.2).
const STOCK_LEVEL_ORDERS: u32 = 20;

/// One of the five transactions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum TransactionKind {
    NewOrder,
    Payment,
    OrderStatus,
    Delivery,
    StockLevel,
}

impl TransactionKind {
    /// Every kind, in report order.
    pub(crate) const ALL: [TransactionKind; 5] = [
        TransactionKind::NewOrder,
        TransactionKind::Payment,
        TransactionKind::OrderStatus,
        TransactionKind::Delivery,
        TransactionKind::StockLevel,
    ];

    /// Its position in [`TransactionKind::ALL`].
    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// Its name, as the report prints it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            TransactionKind::NewOrder => "new-order",
            TransactionKind::Payment => "payment",
            TransactionKind::OrderStatus => "order-status",
            TransactionKind::Delivery => "delivery",
            TransactionKind::StockLevel => "stock-level",
        }
    }

    /// Its weight in the mix: the standard 45/43/4/4/4 (clause 5.2.3 sets the minimum shares
    /// of the last four; new-order takes the rest).
    pub(crate) fn weight(self) -> u32 {
        match self {
            TransactionKind::NewOrder => 45,
            TransactionKind::Payment => 43,
            _ => 4,
        }
    }

    /// One kind, drawn by weight. Each transaction is drawn on its own, rather than dealt from
    /// the shuffled deck of clause 5.2.4.2, so the shares hold on average, not exactly.
    pub(crate) fn choose(rng: &mut impl Rng) -> TransactionKind {
        let total: u32 = TransactionKind::ALL.iter().map(|kind| kind.weight()).sum();
        let mut draw = rng.random_range(0..total);
        for kind in TransactionKind::ALL {
            if draw < kind.weight() {
                return kind;
            }
            draw -= kind.weight();
        }
        unreachable!("the draw is below the sum of the weights")
    }
}

/// How a transaction ended (one that failed is an `Err` instead).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Outcome {
    /// Rolled back on purpose (the 1% of new-orders).
    pub(crate) rolled_back: bool,
    /// Times the body ran again after losing to a concurrent transaction.
    pub(crate) conflict_retries: u32,
    /// Districts a delivery found no undelivered order in.
    pub(crate) skipped_districts: u32,
}

/// How payment and order-status name their customer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum CustomerSelector {
    Id(CustomerId),
    LastName(Text<16>),
}

/// One line of a new-order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LineInput {
    pub(crate) item_id: ItemId,
    pub(crate) supply_warehouse_id: WarehouseId,
    pub(crate) quantity: u8,
}

/// The input of a new-order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NewOrderInput {
    pub(crate) warehouse_id: WarehouseId,
    pub(crate) district_id: DistrictId,
    pub(crate) customer_id: CustomerId,
    pub(crate) lines: Vec<LineInput>,
    pub(crate) entry_seconds: u64,
    /// Items above this id are unused: a line naming one rolls the transaction back.
    pub(crate) item_count: u32,
}

/// The input of a payment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PaymentInput {
    pub(crate) warehouse_id: WarehouseId,
    pub(crate) district_id: DistrictId,
    pub(crate) customer_warehouse_id: WarehouseId,
    pub(crate) customer_district_id: DistrictId,
    pub(crate) customer: CustomerSelector,
    pub(crate) amount_cents: i64,
    /// The history row's number (its key), unique in the run.
    pub(crate) history_number: u64,
    pub(crate) date_seconds: u64,
}

/// The input of an order-status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct OrderStatusInput {
    pub(crate) warehouse_id: WarehouseId,
    pub(crate) district_id: DistrictId,
    pub(crate) customer: CustomerSelector,
}

/// The input of a delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DeliveryInput {
    pub(crate) warehouse_id: WarehouseId,
    pub(crate) carrier_id: u8,
    pub(crate) delivery_seconds: u64,
}

/// The input of a stock-level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StockLevelInput {
    pub(crate) warehouse_id: WarehouseId,
    pub(crate) district_id: DistrictId,
    pub(crate) threshold: u16,
}

/// One emulated terminal: it draws the inputs of the transactions of one home warehouse
/// (clause 2.1 and the input clauses of each transaction).
#[derive(Debug)]
pub(crate) struct Terminal<'a> {
    pub(crate) rng: SmallRng,
    pub(crate) home_warehouse_id: WarehouseId,
    pub(crate) cardinalities: Cardinalities,
    /// The run's NURand constants.
    pub(crate) constants: NurandConstants,
    /// The next history number, shared by every terminal.
    pub(crate) history_numbers: &'a AtomicU64,
}

impl Terminal<'_> {
    fn percent(&mut self) -> u32 {
        self.rng.random_range(1..=100)
    }

    fn district_id(&mut self) -> DistrictId {
        self.rng.random_range(1..=DISTRICTS_PER_WAREHOUSE)
    }

    fn customer_id(&mut self) -> CustomerId {
        let count = self.cardinalities.customers_per_district;
        random::nurand(&mut self.rng, A_CUSTOMER_ID, 1, count, self.constants.customer_id)
    }

    /// 60% by last name, 40% by id (clauses 2.5.1.2 and 2.6.1.2).
    fn customer_selector(&mut self) -> CustomerSelector {
        if self.percent() <= 60 {
            let last = self.cardinalities.last_name_count - 1;
            let number =
                random::nurand(&mut self.rng, A_LAST_NAME, 0, last, self.constants.last_name);
            CustomerSelector::LastName(schema::text(&random::last_name(number)))
        } else {
            CustomerSelector::Id(self.customer_id())
        }
    }

    /// A warehouse other than the home one, uniformly; the home one when it is the only one.
    fn other_warehouse_id(&mut self) -> WarehouseId {
        let count = self.cardinalities.warehouse_count;
        if count == 1 {
            return self.home_warehouse_id;
        }
        let drawn = self.rng.random_range(1..count);
        if drawn >= self.home_warehouse_id { drawn + 1 } else { drawn }
    }

    pub(crate) fn new_order(&mut self) -> NewOrderInput {
        let district_id = self.district_id();
        let customer_id = self.customer_id();
        let line_count = self.rng.random_range(ORDER_LINES_MIN..=ORDER_LINES_MAX);
        let rolls_back = self.percent() == 1;
        let item_count = self.cardinalities.item_count;
        let lines = (1..=line_count)
            .map(|number| {
                let item_id = if rolls_back && number == line_count {
                    item_count + 1
                } else {
                    random::nurand(&mut self.rng, A_ITEM_ID, 1, item_count, self.constants.item_id)
                };
                let supply_warehouse_id = if self.percent() == 1 {
                    self.other_warehouse_id()
                } else {
                    self.home_warehouse_id
                };
                LineInput { item_id, supply_warehouse_id, quantity: self.rng.random_range(1..=10) }
            })
            .collect();
        NewOrderInput {
            warehouse_id: self.home_warehouse_id,
            district_id,
            customer_id,
            lines,
            entry_seconds: now_seconds(),
            item_count,
        }
    }

    pub(crate) fn payment(&mut self) -> PaymentInput {
        let district_id = self.district_id();
        let remote = self.percent() > 85 && self.cardinalities.warehouse_count > 1;
        let (customer_warehouse_id, customer_district_id) = if remote {
            (self.other_warehouse_id(), self.district_id())
        } else {
            (self.home_warehouse_id, district_id)
        };
        PaymentInput {
            warehouse_id: self.home_warehouse_id,
            district_id,
            customer_warehouse_id,
            customer_district_id,
            customer: self.customer_selector(),
            amount_cents: self.rng.random_range(100..=500_000),
            history_number: self.history_numbers.fetch_add(1, Relaxed),
            date_seconds: now_seconds(),
        }
    }

    pub(crate) fn order_status(&mut self) -> OrderStatusInput {
        OrderStatusInput {
            warehouse_id: self.home_warehouse_id,
            district_id: self.district_id(),
            customer: self.customer_selector(),
        }
    }

    pub(crate) fn delivery(&mut self) -> DeliveryInput {
        DeliveryInput {
            warehouse_id: self.home_warehouse_id,
            carrier_id: self.rng.random_range(1..=CARRIER_ID_MAX),
            delivery_seconds: now_seconds(),
        }
    }

    pub(crate) fn stock_level(&mut self) -> StockLevelInput {
        StockLevelInput {
            warehouse_id: self.home_warehouse_id,
            district_id: self.district_id(),
            threshold: self.rng.random_range(10..=20),
        }
    }
}

/// Seconds since the Unix epoch (0 on a clock set before it, which only dates rows).
pub(crate) fn now_seconds() -> u64 {
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    // Zero is a null date in the rows, so the earliest date is 1.
    since_epoch.map_or(1, |elapsed| elapsed.as_secs().max(1))
}

/// A key in hexadecimal, for messages.
fn hex(key: &[u8]) -> String {
    key.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The row at `key`, if any.
fn read<R: Row>(transaction: &mut dyn Transaction, key: &[u8]) -> Result<Option<R>, String> {
    match transaction.get(key)? {
        None => Ok(None),
        Some(bytes) => {
            R::decode(&bytes).map(Some).map_err(|error| format!("{error} at {}", hex(key)))
        }
    }
}

/// The row at `key`, which the database must have.
fn read_existing<R: Row>(transaction: &mut dyn Transaction, key: &[u8]) -> Result<R, String> {
    read(transaction, key)?.ok_or_else(|| format!("no {} row at {}", R::TABLE.name(), hex(key)))
}

fn write<R: Row>(transaction: &mut dyn Transaction, key: &[u8], row: &R) -> Result<(), String> {
    transaction.put(key, &row.encode())
}

/// Adds `amount_cents` to the YTD row at `key` (of `table`).
fn add_to_ytd(
    transaction: &mut dyn Transaction,
    table: Table,
    key: &[u8],
    amount_cents: i64,
) -> Result<(), String> {
    let bytes =
        transaction.get(key)?.ok_or_else(|| format!("no {} row at {}", table.name(), hex(key)))?;
    let ytd = Ytd::decode(table, &bytes).map_err(String::from)?;
    transaction.put(key, &Ytd { cents: ytd.cents + amount_cents }.encode())
}

/// The order id in the row at `key` (of `table`), if any.
fn read_pointer(
    transaction: &mut dyn Transaction,
    table: Table,
    key: &[u8],
) -> Result<Option<OrderId>, String> {
    let Some(bytes) = transaction.get(key)? else { return Ok(None) };
    Ok(Some(OrderPointer::decode(table, &bytes).map_err(String::from)?.order_id))
}

/// Runs `body` as one transaction of the store: its outcome, with the retries counted from the
/// times the body ran (so a rolled-back transaction's retries count too).
fn run_transaction(
    store: &dyn Store,
    body: &mut dyn FnMut(&mut dyn Transaction) -> Result<(), String>,
) -> Result<Outcome, String> {
    let mut runs = 0u32;
    let result = store.transaction(&mut |transaction| {
        runs += 1;
        body(transaction)
    });
    let conflict_retries = runs.saturating_sub(1);
    match result {
        Ok(_) => Ok(Outcome { conflict_retries, ..Outcome::default() }),
        Err(error) if error == ROLLBACK => {
            Ok(Outcome { rolled_back: true, conflict_retries, ..Outcome::default() })
        }
        Err(error) => Err(error),
    }
}

/// Runs a new-order.
pub(crate) fn new_order(store: &dyn Store, input: &NewOrderInput) -> Result<Outcome, String> {
    run_transaction(store, &mut |transaction| new_order_body(transaction, input))
        .map_err(|error| format!("new-order: {error}"))
}

fn new_order_body(transaction: &mut dyn Transaction, input: &NewOrderInput) -> Result<(), String> {
    let (warehouse_id, district_id) = (input.warehouse_id, input.district_id);
    let warehouse_key = schema::warehouse_key(Table::Warehouse, warehouse_id);
    let _warehouse: Warehouse = read_existing(transaction, &warehouse_key)?;
    let district_key = schema::district_key(Table::District, warehouse_id, district_id);
    let mut district: District = read_existing(transaction, &district_key)?;
    let order_id = district.next_order_id;
    district.next_order_id += 1;
    write(transaction, &district_key, &district)?;
    let customer_key =
        schema::customer_key(Table::Customer, warehouse_id, district_id, input.customer_id);
    let _customer: Customer = read_existing(transaction, &customer_key)?;
    let order = Order {
        customer_id: input.customer_id,
        entry_seconds: input.entry_seconds,
        carrier_id: None,
        line_count: u8::try_from(input.lines.len()).expect("at most 15 lines"),
        all_local: input.lines.iter().all(|line| line.supply_warehouse_id == warehouse_id),
    };
    write(
        transaction,
        &schema::order_key(Table::Order, warehouse_id, district_id, order_id),
        &order,
    )?;
    let new_order_key = schema::order_key(Table::NewOrder, warehouse_id, district_id, order_id);
    write(transaction, &new_order_key, &NewOrder::Undelivered)?;
    let newest_key = schema::customer_key(
        Table::CustomerNewestOrder,
        warehouse_id,
        district_id,
        input.customer_id,
    );
    transaction.put(&newest_key, &OrderPointer { order_id }.encode())?;
    for (number, line) in (1..).zip(&input.lines) {
        new_order_line(transaction, input, order_id, number, line)?;
    }
    Ok(())
}

/// One line of a new-order: the item, the stock update, the order line.
fn new_order_line(
    transaction: &mut dyn Transaction,
    input: &NewOrderInput,
    order_id: OrderId,
    number: u8,
    line: &LineInput,
) -> Result<(), String> {
    let Some(item) = read::<Item>(transaction, &schema::item_key(line.item_id))? else {
        if line.item_id > input.item_count {
            return Err(ROLLBACK.into());
        }
        return Err(format!("no item {} (of {})", line.item_id, input.item_count));
    };
    let stock_key = schema::stock_key(line.supply_warehouse_id, line.item_id);
    let mut stock: Stock = read_existing(transaction, &stock_key)?;
    let quantity = u16::from(line.quantity);
    // Clause 2.4.2.2: restock by 91 when fewer than 10 would be left.
    stock.quantity = if stock.quantity >= quantity + 10 {
        stock.quantity - quantity
    } else {
        stock.quantity + 91 - quantity
    };
    stock.ytd += u32::from(line.quantity);
    stock.order_count += 1;
    if line.supply_warehouse_id != input.warehouse_id {
        stock.remote_count += 1;
    }
    write(transaction, &stock_key, &stock)?;
    let order_line = OrderLine {
        item_id: line.item_id,
        supply_warehouse_id: line.supply_warehouse_id,
        delivery_seconds: None,
        quantity: line.quantity,
        amount_cents: i64::from(line.quantity) * item.price_cents,
        district_info: stock.district_infos[usize::from(input.district_id - 1)],
    };
    let key = schema::order_line_key(input.warehouse_id, input.district_id, order_id, number);
    write(transaction, &key, &order_line)
}

/// The id of the customer `selector` names in a district: by id, or the middle one of the
/// customers with the last name, in first-name order.
fn find_customer(
    transaction: &mut dyn Transaction,
    warehouse_id: WarehouseId,
    district_id: DistrictId,
    selector: &CustomerSelector,
) -> Result<CustomerId, String> {
    match selector {
        CustomerSelector::Id(id) => Ok(*id),
        CustomerSelector::LastName(last) => {
            let key = schema::name_key(warehouse_id, district_id, last);
            let index: NameIndex = read_existing(transaction, &key)?;
            Ok(index.middle())
        }
    }
}

/// Runs a payment.
pub(crate) fn payment(store: &dyn Store, input: &PaymentInput) -> Result<Outcome, String> {
    run_transaction(store, &mut |transaction| payment_body(transaction, input))
        .map_err(|error| format!("payment: {error}"))
}

fn payment_body(transaction: &mut dyn Transaction, input: &PaymentInput) -> Result<(), String> {
    let (warehouse_id, district_id) = (input.warehouse_id, input.district_id);
    let warehouse: Warehouse =
        read_existing(transaction, &schema::warehouse_key(Table::Warehouse, warehouse_id))?;
    let warehouse_ytd_key = schema::warehouse_key(Table::WarehouseYtd, warehouse_id);
    add_to_ytd(transaction, Table::WarehouseYtd, &warehouse_ytd_key, input.amount_cents)?;
    let district: District = read_existing(
        transaction,
        &schema::district_key(Table::District, warehouse_id, district_id),
    )?;
    let district_ytd_key = schema::district_key(Table::DistrictYtd, warehouse_id, district_id);
    add_to_ytd(transaction, Table::DistrictYtd, &district_ytd_key, input.amount_cents)?;
    let (customer_warehouse_id, customer_district_id) =
        (input.customer_warehouse_id, input.customer_district_id);
    let customer_id =
        find_customer(transaction, customer_warehouse_id, customer_district_id, &input.customer)?;
    let customer_key = schema::customer_key(
        Table::Customer,
        customer_warehouse_id,
        customer_district_id,
        customer_id,
    );
    let mut customer: Customer = read_existing(transaction, &customer_key)?;
    customer.balance_cents -= input.amount_cents;
    customer.ytd_payment_cents += input.amount_cents;
    customer.payment_count += 1;
    if customer.credit == Credit::Bad {
        // Clause 2.5.2.2: the payment's ids and amount go in front of C_DATA, which keeps its
        // first 500 characters.
        let mut data = format!(
            "{customer_id} {customer_district_id} {customer_warehouse_id} {district_id} \
             {warehouse_id} {}.{:02} ",
            input.amount_cents / 100,
            input.amount_cents % 100
        )
        .into_bytes();
        data.extend_from_slice(&customer.data);
        data.truncate(schema::CUSTOMER_DATA_BYTES_MAX);
        customer.data = data;
    }
    write(transaction, &customer_key, &customer)?;
    let mut history_data = schema::trimmed(&warehouse.name).to_vec();
    history_data.extend_from_slice(b"    ");
    history_data.extend_from_slice(schema::trimmed(&district.name));
    let history = History {
        customer_id,
        customer_district_id,
        customer_warehouse_id,
        date_seconds: input.date_seconds,
        amount_cents: input.amount_cents,
        data: schema::text(&history_data),
    };
    write(
        transaction,
        &schema::history_key(warehouse_id, district_id, input.history_number),
        &history,
    )
}

/// Runs an order-status.
pub(crate) fn order_status(store: &dyn Store, input: &OrderStatusInput) -> Result<Outcome, String> {
    run_transaction(store, &mut |transaction| order_status_body(transaction, input))
        .map_err(|error| format!("order-status: {error}"))
}

fn order_status_body(
    transaction: &mut dyn Transaction,
    input: &OrderStatusInput,
) -> Result<(), String> {
    let (warehouse_id, district_id) = (input.warehouse_id, input.district_id);
    let customer_id = find_customer(transaction, warehouse_id, district_id, &input.customer)?;
    let customer_key =
        schema::customer_key(Table::Customer, warehouse_id, district_id, customer_id);
    let _customer: Customer = read_existing(transaction, &customer_key)?;
    let newest_key =
        schema::customer_key(Table::CustomerNewestOrder, warehouse_id, district_id, customer_id);
    let order_id = read_pointer(transaction, Table::CustomerNewestOrder, &newest_key)?
        .ok_or_else(|| format!("customer {customer_id} has no order"))?;
    let order: Order = read_existing(
        transaction,
        &schema::order_key(Table::Order, warehouse_id, district_id, order_id),
    )?;
    for number in 1..=order.line_count {
        let key = schema::order_line_key(warehouse_id, district_id, order_id, number);
        let _line: OrderLine = read_existing(transaction, &key)?;
    }
    Ok(())
}

/// Runs a delivery.
pub(crate) fn delivery(store: &dyn Store, input: &DeliveryInput) -> Result<Outcome, String> {
    let mut skipped_districts = 0;
    let outcome = run_transaction(store, &mut |transaction| {
        skipped_districts = 0;
        for district_id in 1..=DISTRICTS_PER_WAREHOUSE {
            if !deliver_one(transaction, input, district_id)? {
                skipped_districts += 1;
            }
        }
        Ok(())
    })
    .map_err(|error| format!("delivery: {error}"))?;
    Ok(Outcome { skipped_districts, ..outcome })
}

/// Delivers the oldest undelivered order of a district; false when it has none.
fn deliver_one(
    transaction: &mut dyn Transaction,
    input: &DeliveryInput,
    district_id: DistrictId,
) -> Result<bool, String> {
    let warehouse_id = input.warehouse_id;
    let cursor_key = schema::district_key(Table::DeliveryCursor, warehouse_id, district_id);
    let order_id = read_pointer(transaction, Table::DeliveryCursor, &cursor_key)?
        .ok_or_else(|| format!("no delivery cursor at {}", hex(&cursor_key)))?;
    let new_order_key = schema::order_key(Table::NewOrder, warehouse_id, district_id, order_id);
    match read::<NewOrder>(transaction, &new_order_key)? {
        None => return Ok(false),
        Some(NewOrder::Delivered) => {
            return Err(format!("the delivery cursor points at delivered order {order_id}"));
        }
        Some(NewOrder::Undelivered) => {}
    }
    write(transaction, &new_order_key, &NewOrder::Delivered)?;
    transaction.put(&cursor_key, &OrderPointer { order_id: order_id + 1 }.encode())?;
    let order_key = schema::order_key(Table::Order, warehouse_id, district_id, order_id);
    let mut order: Order = read_existing(transaction, &order_key)?;
    order.carrier_id = Some(input.carrier_id);
    write(transaction, &order_key, &order)?;
    let mut amount_cents = 0;
    for number in 1..=order.line_count {
        let key = schema::order_line_key(warehouse_id, district_id, order_id, number);
        let mut line: OrderLine = read_existing(transaction, &key)?;
        line.delivery_seconds = Some(input.delivery_seconds);
        amount_cents += line.amount_cents;
        write(transaction, &key, &line)?;
    }
    let customer_key =
        schema::customer_key(Table::Customer, warehouse_id, district_id, order.customer_id);
    let mut customer: Customer = read_existing(transaction, &customer_key)?;
    customer.balance_cents += amount_cents;
    customer.delivery_count += 1;
    write(transaction, &customer_key, &customer)?;
    Ok(true)
}

/// Runs a stock-level: its reads are not one transaction (see the module's documentation).
/// Returns the outcome and the count of low-stock items it found.
pub(crate) fn stock_level(
    store: &dyn Store,
    input: &StockLevelInput,
) -> Result<(Outcome, usize), String> {
    stock_level_reads(store, input).map_err(|error| format!("stock-level: {error}"))
}

fn stock_level_reads(
    store: &dyn Store,
    input: &StockLevelInput,
) -> Result<(Outcome, usize), String> {
    let (warehouse_id, district_id) = (input.warehouse_id, input.district_id);
    let district_key = schema::district_key(Table::District, warehouse_id, district_id);
    let bytes = store.get(&district_key)?.ok_or("no district row")?;
    let next_order_id = District::decode(&bytes).map_err(String::from)?.next_order_id;
    let first_order_id = next_order_id.saturating_sub(STOCK_LEVEL_ORDERS).max(1);
    // Line 0 sorts before every line of its order.
    let start = schema::order_line_key(warehouse_id, district_id, first_order_id, 0);
    let end = schema::order_line_key(warehouse_id, district_id, next_order_id, 0);
    let mut item_ids = Vec::new();
    let line_count_max = (STOCK_LEVEL_ORDERS * u32::from(ORDER_LINES_MAX)) as usize;
    store.scan(&start, line_count_max, &mut |key, value| {
        if key < &end[..] {
            item_ids.push(OrderLine::decode(value).map_err(String::from)?.item_id);
        }
        Ok(())
    })?;
    item_ids.sort_unstable();
    item_ids.dedup();
    let mut low_count = 0;
    for item_id in item_ids {
        let key = schema::stock_key(warehouse_id, item_id);
        let bytes = store.get(&key)?.ok_or_else(|| format!("no stock of item {item_id}"))?;
        low_count +=
            usize::from(Stock::decode(&bytes).map_err(String::from)?.quantity < input.threshold);
    }
    Ok((Outcome::default(), low_count))
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    fn terminal(history_numbers: &AtomicU64, warehouse_count: u16) -> Terminal<'_> {
        let mut rng = SmallRng::seed_from_u64(21);
        let load = NurandConstants::for_load(&mut rng);
        Terminal {
            constants: NurandConstants::for_run(&load, &mut rng),
            rng,
            home_warehouse_id: 2,
            cardinalities: Cardinalities::new(warehouse_count, 1).unwrap(),
            history_numbers,
        }
    }

    /// The mix, drawn 200,000 times with a fixed seed, is 45/43/4/4/4 within half a point.
    #[test]
    fn the_mix_has_the_standard_shares() {
        let mut rng = SmallRng::seed_from_u64(22);
        let draws = 200_000;
        let mut counts = [0u32; 5];
        for _ in 0..draws {
            counts[TransactionKind::choose(&mut rng).index()] += 1;
        }
        for kind in TransactionKind::ALL {
            let share = f64::from(counts[kind.index()]) / f64::from(draws);
            let expected = f64::from(kind.weight()) / 100.0;
            assert!((share - expected).abs() < 0.005, "{kind:?}: {share:.4}, not {expected}");
        }
    }

    /// The inputs' shares: 1% of new-orders end in an unused item, about 1% of lines come from
    /// a remote warehouse, 15% of payments are remote, 60% of payments name a last name.
    #[test]
    fn inputs_have_the_specified_shares() {
        let history_numbers = AtomicU64::new(7);
        let mut terminal = terminal(&history_numbers, 3);
        let draws = 20_000;
        let (mut rollbacks, mut lines, mut remote_lines) = (0, 0, 0);
        for _ in 0..draws {
            let input = terminal.new_order();
            assert!((5..=15).contains(&input.lines.len()));
            rollbacks += usize::from(input.lines.last().unwrap().item_id > input.item_count);
            for line in &input.lines {
                assert!((1..=input.item_count + 1).contains(&line.item_id));
                assert!((1..=10).contains(&line.quantity));
                lines += 1;
                remote_lines += usize::from(line.supply_warehouse_id != 2);
            }
        }
        assert!((100..300).contains(&rollbacks), "{rollbacks} rollbacks of {draws}");
        let remote_share = remote_lines as f64 / lines as f64;
        assert!((0.005..0.015).contains(&remote_share), "{remote_share}");
        let (mut remote, mut by_name) = (0, 0);
        for index in 0..draws {
            let input = terminal.payment();
            assert_eq!(input.history_number, 7 + index as u64);
            assert!((100..=500_000).contains(&input.amount_cents));
            remote += usize::from(input.customer_warehouse_id != 2);
            by_name += usize::from(matches!(input.customer, CustomerSelector::LastName(_)));
        }
        assert!((2_600..3_400).contains(&remote), "{remote} remote payments of {draws}");
        assert!((11_400..12_600).contains(&by_name), "{by_name} by name of {draws}");
    }

    #[test]
    fn one_warehouse_has_no_remote_work() {
        let history_numbers = AtomicU64::new(0);
        let mut terminal = terminal(&history_numbers, 1);
        terminal.home_warehouse_id = 1;
        for _ in 0..2_000 {
            let payment = terminal.payment();
            assert_eq!(payment.customer_warehouse_id, 1);
            assert_eq!(payment.customer_district_id, payment.district_id);
            assert!(terminal.new_order().lines.iter().all(|line| line.supply_warehouse_id == 1));
        }
    }
}
