//! `directdb probe [PATH] [--json]`: what the storage under PATH will do with directdb's I/O.

use std::path::PathBuf;

use disk::{
    AlignmentSource, BlockDevice, DeviceProbe, DirectIoSupport, ProbedFile, StatxDioAlign,
    UringSupport,
};

use super::table::Table;
use super::{CliError, Format, output};

/// Arguments of `directdb probe`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A file or directory on the file system to probe. A writable directory gets an empty
    /// hidden file for the duration of the probe.
    #[arg(default_value = ".")]
    path: PathBuf,
}

/// Probes `args.path` and writes the report.
pub(crate) fn run(args: Args, format: Format) -> Result<(), CliError> {
    let probe = DeviceProbe::of_path(&args.path).map_err(|error| {
        if error.is_not_found() { CliError::PathNotFound(args.path.clone()) } else { error.into() }
    })?;
    output::emit(format, &probe, |probe| render(probe).to_string())
}

/// The human-readable report: one row per fact, the block device's rows only when there is one.
fn render(probe: &DeviceProbe) -> Table {
    let mut table = Table::new();
    table.row("path", probe.path.display().to_string());
    let file_system = &probe.file_system;
    // An unknown file system's name already carries its magic number.
    let magic = if file_system.name.starts_with("unknown") {
        String::new()
    } else {
        format!(" (magic 0x{:x})", file_system.magic)
    };
    let direct_io = direct_io(file_system.direct_io);
    table.row("file system", format!("{}{magic}, direct I/O {direct_io}", file_system.name));
    table.row("O_DIRECT open", o_direct(probe.o_direct_accepted, &probe.probed_file));
    match (&probe.block_device, &probe.block_device_missing_reason) {
        (Some(device), _) => block_device_rows(&mut table, device),
        (None, reason) => {
            table.row("block device", format!("none: {}", reason.as_deref().unwrap_or("unknown")));
        }
    }
    table.row("DIO alignment", dio_alignment(probe));
    table.row("io_uring", io_uring(&probe.io_uring));
    table.row("WAL flush method", probe.flush_method.name());
    table.row("flush reason", probe.flush_reason.as_str());
    table
}

fn block_device_rows(table: &mut Table, device: &BlockDevice) {
    let queue = if device.queue_device == device.name {
        String::new()
    } else {
        format!(", a partition of {}", device.queue_device)
    };
    table.row("block device", format!("{} ({}){queue}", device.name, device.number));
    table.row("logical block", bytes(device.logical_block_bytes));
    table.row("physical block", bytes(device.physical_block_bytes));
    table.row("write cache", device.write_cache.name());
    table.row("FUA", yes_no(device.fua));
    table.row("rotational", yes_no(device.rotational));
    let atomic_write =
        match (device.atomic_write_unit_min_bytes, device.atomic_write_unit_max_bytes) {
            (None, None) => "none".to_string(),
            (min, max) => format!("{} to {}", bytes(min), bytes(max)),
        };
    table.row("atomic write unit", atomic_write);
}

fn direct_io(support: DirectIoSupport) -> &'static str {
    match support {
        DirectIoSupport::Native => "native",
        DirectIoSupport::Emulated => "emulated (data still passes through memory or another layer)",
        DirectIoSupport::Unknown => "unknown to directdb",
    }
}

fn o_direct(accepted: Option<bool>, probed_file: &ProbedFile) -> String {
    let on = match probed_file {
        ProbedFile::Given => "the given file".to_string(),
        ProbedFile::Temporary => "a temporary file".to_string(),
        ProbedFile::Existing { path } => path.display().to_string(),
        ProbedFile::NotRegular => return "not tried (no regular file to open)".to_string(),
    };
    match accepted {
        Some(true) => format!("accepted (on {on})"),
        Some(false) => format!("refused with EINVAL (on {on})"),
        None => format!("not known (could not open {on})"),
    }
}

fn dio_alignment(probe: &DeviceProbe) -> String {
    let chosen = &probe.dio_alignment;
    let alignment = &chosen.alignment;
    let head = format!(
        "memory {} B, offset {} B, from {}",
        alignment.memory_bytes,
        alignment.offset_bytes,
        chosen.source.describe()
    );
    if chosen.source == AlignmentSource::Statx {
        return head;
    }
    let statx = match &chosen.statx {
        StatxDioAlign::Reported { memory_bytes, offset_bytes } => {
            format!("statx reported an unusable memory {memory_bytes}, offset {offset_bytes}")
        }
        StatxDioAlign::NotReported => "statx did not report STATX_DIOALIGN".to_string(),
        StatxDioAlign::DirectIoUnsupported => {
            "statx says this file system cannot do direct I/O on the file".to_string()
        }
        StatxDioAlign::Failed { error } => format!("statx failed: {error}"),
    };
    format!("{head} ({statx})")
}

fn io_uring(support: &UringSupport) -> String {
    let supported: Vec<&str> =
        support.opcodes.iter().filter(|(_, supported)| *supported).map(|(name, _)| *name).collect();
    match support.unusable_reason() {
        None => format!("available ({})", supported.join(", ")),
        Some(reason) => format!("not usable: {reason}"),
    }
}

fn bytes(value: Option<u32>) -> String {
    value.map_or_else(|| "unknown".to_string(), |bytes| format!("{bytes} B"))
}

fn yes_no(value: Option<bool>) -> &'static str {
    match value {
        Some(true) => "yes",
        Some(false) => "no",
        None => "unknown",
    }
}
