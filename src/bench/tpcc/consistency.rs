//! TPC-C's consistency conditions (clause 3.3.2), checked by reading every table back through
//! [`Store::scan`], after the load and after a run, while no transaction runs.
//!
//! | condition | rule                                                                  | per      |
//! |-----------|-----------------------------------------------------------------------|----------|
//! | 1         | W_YTD = sum(D_YTD)                                                    | warehouse|
//! | 2         | D_NEXT_O_ID - 1 = max(O_ID) = max(NO_O_ID)                            | district |
//! | 3         | max(NO_O_ID) - min(NO_O_ID) + 1 = the district's new-order rows       | district |
//! | 4         | sum(O_OL_CNT) = the district's order-line rows                        | district |
//! | 5         | O_CARRIER_ID is null exactly when the order has a new-order row       | order    |
//! | 6         | O_OL_CNT = the order's order-line rows                                | order    |
//! | 7         | OL_DELIVERY_D is null exactly when the order's O_CARRIER_ID is        | order    |
//! | 8         | W_YTD = sum(H_AMOUNT) of the warehouse's history rows                 | warehouse|
//! | 9         | D_YTD = sum(H_AMOUNT) of the district's history rows                  | district |
//! | 10        | C_BALANCE = sum(delivered OL_AMOUNT) - sum(H_AMOUNT) of the customer  | customer |
//! | 12        | C_BALANCE + C_YTD_PAYMENT = sum(delivered OL_AMOUNT) of the customer  | customer |
//! | rows      | the delivery cursor is the oldest new-order (D_NEXT_O_ID when none);  | district |
//! |           | a customer's newest-order row names its largest O_ID                  |          |
//!
//! Condition 11 (orders minus new-orders = 2,100 per district) holds only before the first
//! delivery at scale 1, and is not checked. A new-order row marked delivered counts as absent
//! (the store has no delete; see [`super::schema`]). The scans are many, each of one consistent
//! view, not one view of the whole database: the check is only meaningful with no transaction
//! running, which is when the benchmark runs it.

use std::collections::{BTreeMap, HashMap};

use crate::bench::kv::{Store, Visit};

use super::schema::{
    self, Cardinalities, Customer, CustomerId, DistrictId, History, NewOrder, Order, OrderId,
    OrderLine, OrderPointer, Row, Table, WarehouseId, Ytd,
};

/// Records per [`Store::scan`] call of a table scan; a scan that reaches past the table reads
/// up to this many records of the next one for nothing.
const SCAN_CHUNK_RECORDS: usize = 1024;
/// Violations of one condition quoted in the report (the rest are counted).
const EXAMPLES_MAX: usize = 5;

/// One condition's result.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct ConditionReport {
    /// The clause 3.3.2 number, or "rows" for the rows of directdb's own (cursor, newest order).
    /// Owned, not the `&'static str` of [`CONDITIONS`], so that a report read back from a child
    /// process's JSON has a place to keep it.
    pub(crate) condition: String,
    pub(crate) rule: String,
    /// Warehouses, districts, orders or customers checked.
    pub(crate) checked: u64,
    pub(crate) violation_count: u64,
    /// The first violations, described.
    pub(crate) examples: Vec<String>,
}

/// Every condition's result.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct ConsistencyReport {
    /// No condition has a violation.
    pub(crate) consistent: bool,
    pub(crate) conditions: Vec<ConditionReport>,
}

/// The conditions, in report order: (condition, rule).
const CONDITIONS: [(&str, &str); 12] = [
    ("1", "W_YTD = sum(D_YTD)"),
    ("2", "D_NEXT_O_ID - 1 = max(O_ID) = max(NO_O_ID)"),
    ("3", "max(NO_O_ID) - min(NO_O_ID) + 1 = count of new-order rows"),
    ("4", "sum(O_OL_CNT) = count of order-line rows"),
    ("5", "O_CARRIER_ID null iff a new-order row exists"),
    ("6", "O_OL_CNT = the order's order-line rows"),
    ("7", "OL_DELIVERY_D null iff O_CARRIER_ID null"),
    ("8", "W_YTD = sum(H_AMOUNT) of the warehouse"),
    ("9", "D_YTD = sum(H_AMOUNT) of the district"),
    ("10", "C_BALANCE = sum(delivered OL_AMOUNT) - sum(H_AMOUNT)"),
    ("12", "C_BALANCE + C_YTD_PAYMENT = sum(delivered OL_AMOUNT)"),
    ("rows", "delivery cursor = min(NO_O_ID); newest-order row = max(O_ID) of the customer"),
];

/// Where each condition sits in [`CONDITIONS`].
#[derive(Clone, Copy)]
enum Condition {
    WarehouseYtd = 0,
    NextOrderId,
    NewOrderSpan,
    LineCount,
    CarrierNewOrder,
    OrderLines,
    DeliveryDates,
    WarehouseHistory,
    DistrictHistory,
    Balance,
    BalanceAndPayments,
    OwnRows,
}

/// What one order looks like once its lines are read.
#[derive(Clone, Copy, Debug, Default)]
struct OrderFacts {
    customer_id: CustomerId,
    carrier_id: Option<u8>,
    line_count: u8,
    lines_seen: u32,
    lines_with_delivery_date: u32,
    delivered_amount_cents: i64,
}

/// A customer's identity across the database: (warehouse, district, customer).
type CustomerKey = (WarehouseId, DistrictId, CustomerId);

/// The results being gathered.
struct Checker {
    conditions: Vec<ConditionReport>,
}

impl Checker {
    fn new() -> Checker {
        let conditions = CONDITIONS
            .iter()
            .map(|&(condition, rule)| ConditionReport {
                condition: condition.into(),
                rule: rule.into(),
                checked: 0,
                violation_count: 0,
                examples: Vec::new(),
            })
            .collect();
        Checker { conditions }
    }

    /// Counts one check of `condition`; a violation when `holds` is false, described by
    /// `describe`.
    fn check(&mut self, condition: Condition, holds: bool, describe: impl FnOnce() -> String) {
        let report = &mut self.conditions[condition as usize];
        report.checked += 1;
        if !holds {
            report.violation_count += 1;
            if report.examples.len() < EXAMPLES_MAX {
                report.examples.push(describe());
            }
        }
    }

    fn finish(self) -> ConsistencyReport {
        let consistent = self.conditions.iter().all(|report| report.violation_count == 0);
        ConsistencyReport { consistent, conditions: self.conditions }
    }
}

/// Visits every record whose key starts with `prefix`, in key order, in scans of
/// [`SCAN_CHUNK_RECORDS`]; returns how many it visited.
pub(crate) fn scan_prefix(
    store: &dyn Store,
    prefix: &[u8],
    visit: &mut Visit<'_>,
) -> Result<u64, String> {
    let mut start = prefix.to_vec();
    let mut visited = 0;
    loop {
        let mut last_key: Option<Vec<u8>> = None;
        let mut past_prefix = false;
        let returned = store.scan(&start, SCAN_CHUNK_RECORDS, &mut |key, value| {
            if past_prefix || !key.starts_with(prefix) {
                past_prefix = true;
                return Ok(());
            }
            visit(key, value)?;
            visited += 1;
            last_key = Some(key.to_vec());
            Ok(())
        })?;
        match last_key {
            Some(mut key) if !past_prefix && returned == SCAN_CHUNK_RECORDS => {
                // The smallest key after `key`.
                key.push(0);
                start = key;
            }
            _ => return Ok(visited),
        }
    }
}

/// Decodes `value` as a row of `R`, naming the key on failure.
fn decode<R: Row>(key: &[u8], value: &[u8]) -> Result<R, String> {
    R::decode(value).map_err(|error| format!("{error} (key {key:02x?})"))
}

/// Reads the row of a YTD or pointer table at `key`, which must exist.
fn read_value(store: &dyn Store, table: Table, key: &[u8]) -> Result<Vec<u8>, String> {
    store.get(key)?.ok_or_else(|| format!("no {} row (key {key:02x?})", table.name()))
}

/// Checks every condition on the database `store` holds, loaded at `cardinalities`.
pub(crate) fn check(
    store: &dyn Store,
    cardinalities: &Cardinalities,
) -> Result<ConsistencyReport, String> {
    let mut checker = Checker::new();
    let customer_payments = history_by_customer(store, cardinalities)?;
    for warehouse_id in 1..=cardinalities.warehouse_count {
        let warehouse_key = schema::warehouse_key(Table::WarehouseYtd, warehouse_id);
        let warehouse_bytes = read_value(store, Table::WarehouseYtd, &warehouse_key)?;
        let warehouse_ytd = Ytd::decode(Table::WarehouseYtd, &warehouse_bytes)?.cents;
        let (mut district_ytd_sum, mut history_sum) = (0, 0);
        for district_id in 1..=schema::DISTRICTS_PER_WAREHOUSE {
            let district = (warehouse_id, district_id);
            let (district_ytd, district_history) =
                check_district(store, &mut checker, district, &customer_payments)?;
            district_ytd_sum += district_ytd;
            history_sum += district_history;
        }
        checker.check(Condition::WarehouseYtd, warehouse_ytd == district_ytd_sum, || {
            format!(
                "warehouse {warehouse_id}: W_YTD {warehouse_ytd}, sum(D_YTD) {district_ytd_sum}"
            )
        });
        checker.check(Condition::WarehouseHistory, warehouse_ytd == history_sum, || {
            format!("warehouse {warehouse_id}: W_YTD {warehouse_ytd}, sum(H_AMOUNT) {history_sum}")
        });
    }
    Ok(checker.finish())
}

/// The sum of H_AMOUNT per paying customer, over every history row.
fn history_by_customer(
    store: &dyn Store,
    cardinalities: &Cardinalities,
) -> Result<HashMap<CustomerKey, i64>, String> {
    let mut sums = HashMap::new();
    for (warehouse_id, district_id) in cardinalities.districts() {
        let prefix = schema::district_key(Table::History, warehouse_id, district_id);
        scan_prefix(store, &prefix, &mut |key, value| {
            let row: History = decode(key, value)?;
            let customer = (row.customer_warehouse_id, row.customer_district_id, row.customer_id);
            *sums.entry(customer).or_insert(0) += row.amount_cents;
            Ok(())
        })?;
    }
    Ok(sums)
}

/// Checks one district's conditions; returns its D_YTD and the sum of its history rows'
/// H_AMOUNT, for its warehouse's conditions.
fn check_district(
    store: &dyn Store,
    checker: &mut Checker,
    (warehouse_id, district_id): (WarehouseId, DistrictId),
    customer_payments: &HashMap<CustomerKey, i64>,
) -> Result<(i64, i64), String> {
    let name = format!("district ({warehouse_id}, {district_id})");
    let district_key = schema::district_key(Table::District, warehouse_id, district_id);
    let district_bytes = read_value(store, Table::District, &district_key)?;
    let next_order_id = decode::<schema::District>(&district_key, &district_bytes)?.next_order_id;
    let ytd_key = schema::district_key(Table::DistrictYtd, warehouse_id, district_id);
    let district_ytd =
        Ytd::decode(Table::DistrictYtd, &read_value(store, Table::DistrictYtd, &ytd_key)?)?.cents;
    let mut history_sum = 0;
    let history_prefix = schema::district_key(Table::History, warehouse_id, district_id);
    scan_prefix(store, &history_prefix, &mut |key, value| {
        history_sum += decode::<History>(key, value)?.amount_cents;
        Ok(())
    })?;
    checker.check(Condition::DistrictHistory, district_ytd == history_sum, || {
        format!("{name}: D_YTD {district_ytd}, sum(H_AMOUNT) {history_sum}")
    });
    let orders = read_orders(store, warehouse_id, district_id)?;
    let new_orders = read_new_orders(store, warehouse_id, district_id)?;
    check_order_ids(checker, &name, next_order_id, &orders, &new_orders);
    check_orders(checker, &name, &orders, &new_orders);
    let cursor_key = schema::district_key(Table::DeliveryCursor, warehouse_id, district_id);
    let cursor_bytes = read_value(store, Table::DeliveryCursor, &cursor_key)?;
    let cursor = OrderPointer::decode(Table::DeliveryCursor, &cursor_bytes)?.order_id;
    let oldest = new_orders.first().copied().unwrap_or(next_order_id);
    checker.check(Condition::OwnRows, cursor == oldest, || {
        format!("{name}: delivery cursor {cursor}, oldest new-order {oldest}")
    });
    check_customers(store, checker, (warehouse_id, district_id), &orders, customer_payments)?;
    Ok((district_ytd, history_sum))
}

/// The district's orders, with what their order lines hold.
fn read_orders(
    store: &dyn Store,
    warehouse_id: WarehouseId,
    district_id: DistrictId,
) -> Result<BTreeMap<OrderId, OrderFacts>, String> {
    let mut orders = BTreeMap::new();
    let prefix = schema::district_key(Table::Order, warehouse_id, district_id);
    scan_prefix(store, &prefix, &mut |key, value| {
        let order: Order = decode(key, value)?;
        let facts = OrderFacts {
            customer_id: order.customer_id,
            carrier_id: order.carrier_id,
            line_count: order.line_count,
            ..OrderFacts::default()
        };
        orders.insert(schema::id_in_district_key(Table::Order, key)?, facts);
        Ok(())
    })?;
    let prefix = schema::district_key(Table::OrderLine, warehouse_id, district_id);
    let mut orphan = None;
    scan_prefix(store, &prefix, &mut |key, value| {
        let line: OrderLine = decode(key, value)?;
        let (order_id, _) = schema::order_line_of_key(key)?;
        let Some(facts) = orders.get_mut(&order_id) else {
            orphan = Some(order_id);
            return Ok(());
        };
        facts.lines_seen += 1;
        if line.delivery_seconds.is_some() {
            facts.lines_with_delivery_date += 1;
            facts.delivered_amount_cents += line.amount_cents;
        }
        Ok(())
    })?;
    if let Some(order_id) = orphan {
        return Err(format!(
            "district ({warehouse_id}, {district_id}): order lines of order {order_id}, which has \
             no order row"
        ));
    }
    Ok(orders)
}

/// The district's undelivered new-orders' ids, in order.
fn read_new_orders(
    store: &dyn Store,
    warehouse_id: WarehouseId,
    district_id: DistrictId,
) -> Result<Vec<OrderId>, String> {
    let mut ids = Vec::new();
    let prefix = schema::district_key(Table::NewOrder, warehouse_id, district_id);
    scan_prefix(store, &prefix, &mut |key, value| {
        if decode::<NewOrder>(key, value)? == NewOrder::Undelivered {
            ids.push(schema::id_in_district_key(Table::NewOrder, key)?);
        }
        Ok(())
    })?;
    Ok(ids)
}

/// Conditions 2, 3 and 4.
fn check_order_ids(
    checker: &mut Checker,
    name: &str,
    next_order_id: OrderId,
    orders: &BTreeMap<OrderId, OrderFacts>,
    new_orders: &[OrderId],
) {
    let max_order_id = orders.keys().next_back().copied().unwrap_or(0);
    let newest = next_order_id - 1;
    checker.check(Condition::NextOrderId, max_order_id == newest, || {
        format!("{name}: D_NEXT_O_ID - 1 = {newest}, max(O_ID) = {max_order_id}")
    });
    if let (Some(&min), Some(&max)) = (new_orders.first(), new_orders.last()) {
        checker.check(Condition::NextOrderId, max == newest, || {
            format!("{name}: D_NEXT_O_ID - 1 = {newest}, max(NO_O_ID) = {max}")
        });
        let count = new_orders.len() as u64;
        checker.check(Condition::NewOrderSpan, u64::from(max - min) + 1 == count, || {
            format!("{name}: NO_O_ID from {min} to {max}, {count} new-order rows")
        });
    }
    let line_count_sum: u64 = orders.values().map(|order| u64::from(order.line_count)).sum();
    let lines: u64 = orders.values().map(|order| u64::from(order.lines_seen)).sum();
    checker.check(Condition::LineCount, line_count_sum == lines, || {
        format!("{name}: sum(O_OL_CNT) = {line_count_sum}, {lines} order-line rows")
    });
}

/// Conditions 5, 6 and 7, order by order.
fn check_orders(
    checker: &mut Checker,
    name: &str,
    orders: &BTreeMap<OrderId, OrderFacts>,
    new_orders: &[OrderId],
) {
    for (&order_id, order) in orders {
        let has_new_order = new_orders.binary_search(&order_id).is_ok();
        checker.check(
            Condition::CarrierNewOrder,
            order.carrier_id.is_none() == has_new_order,
            || {
                format!(
                    "{name} order {order_id}: O_CARRIER_ID {:?}, new-order row {has_new_order}",
                    order.carrier_id
                )
            },
        );
        checker.check(
            Condition::OrderLines,
            u32::from(order.line_count) == order.lines_seen,
            || {
                format!(
                    "{name} order {order_id}: O_OL_CNT {}, {} lines",
                    order.line_count, order.lines_seen
                )
            },
        );
        let expected_dated = if order.carrier_id.is_some() { order.lines_seen } else { 0 };
        checker.check(
            Condition::DeliveryDates,
            order.lines_with_delivery_date == expected_dated,
            || {
                format!(
                    "{name} order {order_id}: O_CARRIER_ID {:?}, {} of {} lines with OL_DELIVERY_D",
                    order.carrier_id, order.lines_with_delivery_date, order.lines_seen
                )
            },
        );
    }
}

/// Conditions 10 and 12 and the newest-order rows, customer by customer.
fn check_customers(
    store: &dyn Store,
    checker: &mut Checker,
    (warehouse_id, district_id): (WarehouseId, DistrictId),
    orders: &BTreeMap<OrderId, OrderFacts>,
    customer_payments: &HashMap<CustomerKey, i64>,
) -> Result<(), String> {
    let mut delivered_cents: HashMap<CustomerId, i64> = HashMap::new();
    let mut newest_order: HashMap<CustomerId, OrderId> = HashMap::new();
    for (&order_id, order) in orders {
        *delivered_cents.entry(order.customer_id).or_insert(0) += order.delivered_amount_cents;
        newest_order.insert(order.customer_id, order_id);
    }
    let prefix = schema::district_key(Table::Customer, warehouse_id, district_id);
    scan_prefix(store, &prefix, &mut |key, value| {
        let customer_id = schema::id_in_district_key(Table::Customer, key)?;
        let customer: Customer = decode(key, value)?;
        let delivered = delivered_cents.get(&customer_id).copied().unwrap_or(0);
        let paid = customer_payments.get(&(warehouse_id, district_id, customer_id)).copied();
        let paid = paid.unwrap_or(0);
        let name = format!("customer ({warehouse_id}, {district_id}, {customer_id})");
        let balance = customer.balance_cents;
        checker.check(Condition::Balance, balance == delivered - paid, || {
            format!("{name}: C_BALANCE {balance}, delivered {delivered} - paid {paid}")
        });
        let ytd = customer.ytd_payment_cents;
        checker.check(Condition::BalanceAndPayments, balance + ytd == delivered, || {
            format!("{name}: C_BALANCE {balance} + C_YTD_PAYMENT {ytd}, delivered {delivered}")
        });
        Ok(())
    })?;
    let prefix = schema::district_key(Table::CustomerNewestOrder, warehouse_id, district_id);
    let mut rows = 0;
    scan_prefix(store, &prefix, &mut |key, value| {
        rows += 1;
        let customer_id = schema::id_in_district_key(Table::CustomerNewestOrder, key)?;
        let pointer = OrderPointer::decode(Table::CustomerNewestOrder, value)?.order_id;
        let newest = newest_order.get(&customer_id).copied();
        checker.check(Condition::OwnRows, newest == Some(pointer), || {
            format!(
                "customer ({warehouse_id}, {district_id}, {customer_id}): newest-order row \
                 {pointer}, largest O_ID {newest:?}"
            )
        });
        Ok(())
    })?;
    checker.check(Condition::OwnRows, rows == newest_order.len(), || {
        format!(
            "district ({warehouse_id}, {district_id}): {rows} newest-order rows, {} customers \
             with orders",
            newest_order.len()
        )
    });
    Ok(())
}
