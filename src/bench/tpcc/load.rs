//! The initial database of clause 4.3.3.1, scaled by [`Cardinalities`]: items, then per
//! warehouse its row, its districts, its stock, and per district its customers (with their
//! history rows and the last-name index) and its orders (with their order lines, the newest
//! order of each customer, the new-orders and the delivery cursor).
//!
//! The load is cut into tasks (a range of items or stock, a district's customers, a district's
//! orders) that the threads take from one counter. Each task draws its rows from a generator
//! seeded by the task's position, so a load is the same whatever the threads' timing, and
//! writes them [`LoadSettings::batch_rows`] rows per transaction (one commit each).
//!
//! At a `--scale` above 1, a district's D_YTD is 10.00 times its customers (each customer's
//! history row pays 10.00) and W_YTD ten times that, rather than the specification's 30,000.00
//! and 300,000.00, so that W_YTD = sum(H_AMOUNT) holds at every scale, as it does at scale 1.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use crate::bench::kv::Store;
use crate::bench::measure;

use super::random::{self, A_LAST_NAME, NurandConstants};
use super::schema::{
    self, Address, CARRIER_ID_MAX, Cardinalities, Credit, Customer, CustomerId,
    DISTRICTS_PER_WAREHOUSE, District, DistrictId, History, Item, ItemId, NameIndex, NewOrder,
    ORDER_LINES_MAX, ORDER_LINES_MIN, Order, OrderId, OrderLine, OrderPointer, Row, Stock, Table,
    Warehouse, WarehouseId, Ytd,
};

/// Items or stock rows per load task: ten tasks per table at scale 1, so two threads or eight
/// have work to share.
const RANGE_TASK_ROWS: u32 = 10_000;
/// H_AMOUNT of each history row of the load, and C_YTD_PAYMENT of each customer: 10.00.
pub(crate) const LOAD_PAYMENT_CENTS: i64 = 1_000;
/// C_CREDIT_LIM: 50,000.00.
const CREDIT_LIMIT_CENTS: i64 = 5_000_000;
/// How often the progress callback runs.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(100);

/// How the load runs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LoadSettings {
    pub(crate) cardinalities: Cardinalities,
    pub(crate) constants: NurandConstants,
    pub(crate) thread_count: usize,
    /// Rows written per transaction.
    pub(crate) batch_rows: usize,
    pub(crate) seed: u64,
    /// C_SINCE, H_DATE and O_ENTRY_D of every row: seconds since the Unix epoch.
    pub(crate) now_seconds: u64,
}

/// What the load did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct LoadCounts {
    /// Rows written, in every table.
    pub(crate) row_count: u64,
    /// Transactions committed.
    pub(crate) commit_count: u64,
    /// Transactions run again after a conflict (none are expected: tasks write disjoint rows).
    pub(crate) conflict_retries: u64,
}

/// One unit of work of the load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Task {
    /// Items `first..end`.
    Items { first: ItemId, end: ItemId },
    /// The warehouse's row, YTD row, and its districts' rows, YTD rows and delivery cursors.
    Warehouse(WarehouseId),
    /// The warehouse's stock of items `first..end`.
    Stock { warehouse: WarehouseId, first: ItemId, end: ItemId },
    /// A district's customers, their history rows and the district's last-name index.
    Customers(WarehouseId, DistrictId),
    /// A district's orders, order lines, new-orders, customers' newest orders.
    Orders(WarehouseId, DistrictId),
}

impl Task {
    /// The progress it is worth: one per item, stock row, customer and order.
    fn units(self, cardinalities: &Cardinalities) -> u64 {
        match self {
            Task::Items { first, end } | Task::Stock { first, end, .. } => u64::from(end - first),
            Task::Warehouse(_) => 0,
            Task::Customers(..) | Task::Orders(..) => {
                u64::from(cardinalities.customers_per_district)
            }
        }
    }
}

/// Every task of the load, in the order threads take them.
fn tasks(cardinalities: &Cardinalities) -> Vec<Task> {
    let ranges = |count: u32| {
        (1..=count)
            .step_by(RANGE_TASK_ROWS as usize)
            .map(move |first| (first, (first + RANGE_TASK_ROWS).min(count + 1)))
    };
    let mut tasks: Vec<Task> =
        ranges(cardinalities.item_count).map(|(first, end)| Task::Items { first, end }).collect();
    for warehouse in 1..=cardinalities.warehouse_count {
        tasks.push(Task::Warehouse(warehouse));
        tasks.extend(ranges(cardinalities.item_count).map(|(first, end)| Task::Stock {
            warehouse,
            first,
            end,
        }));
    }
    for (warehouse, district) in cardinalities.districts() {
        tasks.push(Task::Customers(warehouse, district));
        tasks.push(Task::Orders(warehouse, district));
    }
    tasks
}

/// The progress units of the whole load: items, stock rows, customers and orders.
pub(crate) fn unit_count(cardinalities: &Cardinalities) -> u64 {
    tasks(cardinalities).iter().map(|task| task.units(cardinalities)).sum()
}

/// Counters every loading thread adds to.
#[derive(Debug, Default)]
struct Counters {
    rows: AtomicU64,
    commits: AtomicU64,
    conflict_retries: AtomicU64,
    units: AtomicU64,
}

/// Rows waiting for their transaction.
struct Batch<'a> {
    store: &'a dyn Store,
    rows: Vec<(Vec<u8>, Vec<u8>)>,
    batch_rows: usize,
    counters: &'a Counters,
}

impl Batch<'_> {
    fn put(&mut self, key: Vec<u8>, value: Vec<u8>) -> Result<(), String> {
        self.rows.push((key, value));
        if self.rows.len() >= self.batch_rows { self.commit() } else { Ok(()) }
    }

    fn put_row<R: Row>(&mut self, key: Vec<u8>, row: &R) -> Result<(), String> {
        self.put(key, row.encode())
    }

    /// Writes the rows waiting in one transaction.
    fn commit(&mut self) -> Result<(), String> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let rows = &self.rows;
        let retries = self.store.transaction(&mut |transaction| {
            rows.iter().try_for_each(|(key, value)| transaction.put(key, value))
        })?;
        self.counters.rows.fetch_add(rows.len() as u64, Relaxed);
        self.counters.commits.fetch_add(1, Relaxed);
        self.counters.conflict_retries.fetch_add(u64::from(retries), Relaxed);
        self.rows.clear();
        Ok(())
    }
}

/// Loads the database; `tick` sees the progress units done (of [`unit_count`]).
pub(crate) fn load(
    store: &dyn Store,
    settings: &LoadSettings,
    tick: impl Fn(u64),
) -> Result<LoadCounts, String> {
    assert!(settings.batch_rows > 0 && settings.thread_count > 0);
    let tasks = tasks(&settings.cardinalities);
    let next = AtomicUsize::new(0);
    let counters = Counters::default();
    let errors = Mutex::new(Vec::<String>::new());
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..settings.thread_count)
            .map(|_| {
                scope.spawn(|| {
                    if let Err(error) = run_tasks(store, settings, &tasks, &next, &counters) {
                        // Stop the other threads at their next task.
                        next.store(tasks.len(), Relaxed);
                        errors.lock().unwrap_or_else(PoisonError::into_inner).push(error);
                    }
                })
            })
            .collect();
        while !workers.iter().all(|worker| worker.is_finished()) {
            std::thread::sleep(PROGRESS_INTERVAL);
            tick(counters.units.load(Relaxed));
        }
        for worker in workers {
            if let Err(payload) = worker.join() {
                let message = measure::panic_message(&*payload);
                errors.lock().unwrap_or_else(PoisonError::into_inner).push(message);
            }
        }
    });
    let errors = errors.into_inner().unwrap_or_else(PoisonError::into_inner);
    if !errors.is_empty() {
        return Err(format!("load: {}", errors.join("; ")));
    }
    Ok(LoadCounts {
        row_count: counters.rows.into_inner(),
        commit_count: counters.commits.into_inner(),
        conflict_retries: counters.conflict_retries.into_inner(),
    })
}

/// Takes tasks until there are none left.
fn run_tasks(
    store: &dyn Store,
    settings: &LoadSettings,
    tasks: &[Task],
    next: &AtomicUsize,
    counters: &Counters,
) -> Result<(), String> {
    loop {
        let index = next.fetch_add(1, Relaxed);
        let Some(&task) = tasks.get(index) else { return Ok(()) };
        let mut rng = SmallRng::seed_from_u64(
            settings.seed ^ (index as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
        );
        let mut batch = Batch {
            store,
            rows: Vec::with_capacity(settings.batch_rows),
            batch_rows: settings.batch_rows,
            counters,
        };
        let mut loader = Loader { settings, rng: &mut rng };
        loader.run(task, &mut batch).map_err(|error| format!("{task:?}: {error}"))?;
        batch.commit().map_err(|error| format!("{task:?}: {error}"))?;
        counters.units.fetch_add(task.units(&settings.cardinalities), Relaxed);
    }
}

/// Makes the rows of one task.
struct Loader<'a> {
    settings: &'a LoadSettings,
    rng: &'a mut SmallRng,
}

impl Loader<'_> {
    fn run(&mut self, task: Task, batch: &mut Batch<'_>) -> Result<(), String> {
        match task {
            Task::Items { first, end } => self.items(first, end, batch),
            Task::Warehouse(warehouse) => self.warehouse(warehouse, batch),
            Task::Stock { warehouse, first, end } => self.stock(warehouse, first, end, batch),
            Task::Customers(warehouse, district) => self.customers(warehouse, district, batch),
            Task::Orders(warehouse, district) => self.orders(warehouse, district, batch),
        }
    }

    fn text<const N: usize>(&mut self, min: usize, max: usize) -> schema::Text<N> {
        schema::text(&random::alphanumeric(self.rng, min, max))
    }

    fn address(&mut self) -> Address {
        Address {
            street_1: self.text(10, 20),
            street_2: self.text(10, 20),
            city: self.text(10, 20),
            state: self.text(2, 2),
            zip: schema::text(&random::zip(self.rng)),
        }
    }

    fn items(&mut self, first: ItemId, end: ItemId, batch: &mut Batch<'_>) -> Result<(), String> {
        for item in first..end {
            let row = Item {
                image_id: self.rng.random_range(1..=10_000),
                price_cents: self.rng.random_range(100..=10_000),
                name: schema::text(&random::alphanumeric(self.rng, 14, 24)),
                data: random::data_with_original(self.rng),
            };
            batch.put_row(schema::item_key(item), &row)?;
        }
        Ok(())
    }

    fn warehouse(&mut self, warehouse: WarehouseId, batch: &mut Batch<'_>) -> Result<(), String> {
        let cardinalities = self.settings.cardinalities;
        let district_ytd =
            Ytd { cents: LOAD_PAYMENT_CENTS * i64::from(cardinalities.customers_per_district) };
        let warehouse_ytd = Ytd { cents: district_ytd.cents * i64::from(DISTRICTS_PER_WAREHOUSE) };
        let row = Warehouse {
            tax_per_10000: self.rng.random_range(0..=2_000),
            name: self.text(6, 10),
            address: self.address(),
        };
        batch.put_row(schema::warehouse_key(Table::Warehouse, warehouse), &row)?;
        batch.put(schema::warehouse_key(Table::WarehouseYtd, warehouse), warehouse_ytd.encode())?;
        let cursor = OrderPointer { order_id: cardinalities.first_new_order_id() };
        for district in 1..=DISTRICTS_PER_WAREHOUSE {
            let row = District {
                tax_per_10000: self.rng.random_range(0..=2_000),
                next_order_id: cardinalities.orders_per_district() + 1,
                name: self.text(6, 10),
                address: self.address(),
            };
            batch.put_row(schema::district_key(Table::District, warehouse, district), &row)?;
            let ytd_key = schema::district_key(Table::DistrictYtd, warehouse, district);
            batch.put(ytd_key, district_ytd.encode())?;
            let cursor_key = schema::district_key(Table::DeliveryCursor, warehouse, district);
            batch.put(cursor_key, cursor.encode())?;
        }
        Ok(())
    }

    fn stock(
        &mut self,
        warehouse: WarehouseId,
        first: ItemId,
        end: ItemId,
        batch: &mut Batch<'_>,
    ) -> Result<(), String> {
        for item in first..end {
            let mut row = Stock {
                quantity: self.rng.random_range(10..=100),
                data: random::data_with_original(self.rng),
                ..Stock::default()
            };
            for info in &mut row.district_infos {
                *info = self.text(24, 24);
            }
            batch.put_row(schema::stock_key(warehouse, item), &row)?;
        }
        Ok(())
    }

    /// The last name number of customer `customer`: the first customers take each name in
    /// turn, the others a NURand one (clause 4.3.3.1).
    fn last_name_number(&mut self, customer: CustomerId) -> u32 {
        let name_count = self.settings.cardinalities.last_name_count;
        if customer <= name_count {
            customer - 1
        } else {
            let constant = self.settings.constants.last_name;
            random::nurand(self.rng, A_LAST_NAME, 0, name_count - 1, constant)
        }
    }

    fn customer(&mut self, customer: CustomerId) -> Customer {
        let last_name = random::last_name(self.last_name_number(customer));
        Customer {
            balance_cents: -LOAD_PAYMENT_CENTS,
            ytd_payment_cents: LOAD_PAYMENT_CENTS,
            payment_count: 1,
            delivery_count: 0,
            credit_limit_cents: CREDIT_LIMIT_CENTS,
            discount_per_10000: self.rng.random_range(0..=5_000),
            credit: if self.rng.random_range(0..10) == 0 { Credit::Bad } else { Credit::Good },
            since_seconds: self.settings.now_seconds,
            first: self.text(8, 16),
            middle: schema::text(b"OE"),
            last: schema::text(&last_name),
            address: self.address(),
            phone: schema::text(&random::digits(self.rng, 16)),
            data: random::alphanumeric(self.rng, 300, 500),
        }
    }

    fn customers(
        &mut self,
        warehouse: WarehouseId,
        district: DistrictId,
        batch: &mut Batch<'_>,
    ) -> Result<(), String> {
        let mut names = Vec::new();
        for customer_id in 1..=self.settings.cardinalities.customers_per_district {
            let customer = self.customer(customer_id);
            let key = schema::customer_key(Table::Customer, warehouse, district, customer_id);
            batch.put_row(key, &customer)?;
            let history = History {
                customer_id,
                customer_district_id: district,
                customer_warehouse_id: warehouse,
                date_seconds: self.settings.now_seconds,
                amount_cents: LOAD_PAYMENT_CENTS,
                data: self.text(12, 24),
            };
            let number = u64::from(customer_id);
            batch.put_row(schema::history_key(warehouse, district, number), &history)?;
            names.push((customer.last, customer.first, customer_id));
        }
        // The index: per last name, the customer ids in C_FIRST order (ids break ties).
        names.sort_unstable();
        for same_name in names.chunk_by(|a, b| a.0 == b.0) {
            let index = NameIndex { customer_ids: same_name.iter().map(|name| name.2).collect() };
            batch.put_row(schema::name_key(warehouse, district, &same_name[0].0), &index)?;
        }
        Ok(())
    }

    fn orders(
        &mut self,
        warehouse: WarehouseId,
        district: DistrictId,
        batch: &mut Batch<'_>,
    ) -> Result<(), String> {
        let cardinalities = self.settings.cardinalities;
        let mut customers: Vec<CustomerId> = (1..=cardinalities.customers_per_district).collect();
        customers.shuffle(self.rng);
        let first_new_order = cardinalities.first_new_order_id();
        for (order_id, &customer_id) in (1..).zip(&customers) {
            let delivered = order_id < first_new_order;
            let order = Order {
                customer_id,
                entry_seconds: self.settings.now_seconds,
                carrier_id: delivered.then(|| self.rng.random_range(1..=CARRIER_ID_MAX)),
                line_count: self.rng.random_range(ORDER_LINES_MIN..=ORDER_LINES_MAX),
                all_local: true,
            };
            batch
                .put_row(schema::order_key(Table::Order, warehouse, district, order_id), &order)?;
            self.order_lines(warehouse, district, order_id, &order, batch)?;
            if !delivered {
                let key = schema::order_key(Table::NewOrder, warehouse, district, order_id);
                batch.put_row(key, &NewOrder::Undelivered)?;
            }
            let newest_key =
                schema::customer_key(Table::CustomerNewestOrder, warehouse, district, customer_id);
            batch.put(newest_key, OrderPointer { order_id }.encode())?;
        }
        Ok(())
    }

    fn order_lines(
        &mut self,
        warehouse: WarehouseId,
        district: DistrictId,
        order_id: OrderId,
        order: &Order,
        batch: &mut Batch<'_>,
    ) -> Result<(), String> {
        let delivered = order.carrier_id.is_some();
        for line in 1..=order.line_count {
            let row = OrderLine {
                item_id: self.rng.random_range(1..=self.settings.cardinalities.item_count),
                supply_warehouse_id: warehouse,
                delivery_seconds: delivered.then_some(order.entry_seconds),
                quantity: 5,
                amount_cents: if delivered { 0 } else { self.rng.random_range(1..=999_999) },
                district_info: self.text(24, 24),
            };
            batch.put_row(schema::order_line_key(warehouse, district, order_id, line), &row)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_cover_every_row_once() {
        let cardinalities = Cardinalities::new(2, 1).unwrap();
        let tasks = tasks(&cardinalities);
        let items: u32 = tasks
            .iter()
            .map(|task| match *task {
                Task::Items { first, end } => end - first,
                _ => 0,
            })
            .sum();
        assert_eq!(items, 100_000);
        let stock_of_2: u32 = tasks
            .iter()
            .map(|task| match *task {
                Task::Stock { warehouse: 2, first, end } => end - first,
                _ => 0,
            })
            .sum();
        assert_eq!(stock_of_2, 100_000);
        assert_eq!(tasks.iter().filter(|task| matches!(task, Task::Customers(..))).count(), 20);
        assert_eq!(unit_count(&cardinalities), 100_000 * 3 + 20 * 3_000 * 2);
        let odd = Cardinalities::new(1, 7).unwrap();
        assert_eq!(odd.item_count, 14_285);
        let mut stock =
            super::tasks(&odd).into_iter().filter(|task| matches!(task, Task::Stock { .. }));
        assert_eq!(
            stock.next_back(),
            Some(Task::Stock { warehouse: 1, first: 10_001, end: 14_286 })
        );
    }
}
