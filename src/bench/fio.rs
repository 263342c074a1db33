//! Running fio on the same file as `bench io`, for a reference measured in the same run.

use std::path::Path;
use std::process::Command;

/// fio's figures for one job.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct FioResult {
    /// The exact command line, so a reader can rerun it.
    pub(crate) command: String,
    pub(crate) iops: f64,
    pub(crate) latency_us_p50: f64,
    pub(crate) latency_us_p99: f64,
}

/// Whether `fio` can be run.
pub(crate) fn available() -> bool {
    Command::new("fio").arg("--version").output().is_ok_and(|output| output.status.success())
}

/// 4 KiB random reads with `O_DIRECT` through io_uring at `queue_depth`, one job, for `seconds`.
pub(crate) fn random_read(
    path: &Path,
    size_bytes: u64,
    queue_depth: usize,
    seconds: f64,
) -> Result<FioResult, String> {
    let runtime_ms = (seconds * 1000.0).round().max(1.0);
    let arguments = [
        "--name=directdb-reference".to_string(),
        format!("--filename={}", path.display()),
        "--rw=randread".into(),
        "--bs=4k".into(),
        format!("--iodepth={queue_depth}"),
        "--ioengine=io_uring".into(),
        "--direct=1".into(),
        "--numjobs=1".into(),
        "--time_based".into(),
        format!("--runtime={runtime_ms}ms"),
        format!("--size={size_bytes}"),
        "--norandommap".into(),
        "--randrepeat=0".into(),
        "--output-format=json".into(),
    ];
    let command = format!("fio {}", arguments.join(" "));
    let output = Command::new("fio")
        .args(&arguments)
        .output()
        .map_err(|error| format!("{command}: {error}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(format!("{command}: exit {}: {stderr}", output.status));
    }
    parse(&output.stdout).map(|(iops, latency_us_p50, latency_us_p99)| FioResult {
        command,
        iops,
        latency_us_p50,
        latency_us_p99,
    })
}

/// `(iops, p50 µs, p99 µs)` of the read side of fio's first job.
fn parse(json: &[u8]) -> Result<(f64, f64, f64), String> {
    let value: serde_json::Value =
        serde_json::from_slice(json).map_err(|error| format!("fio output is not JSON: {error}"))?;
    let read = &value["jobs"][0]["read"];
    let iops = read["iops"].as_f64().ok_or("fio output has no jobs[0].read.iops")?;
    let percentile = |key: &str| {
        read["clat_ns"]["percentile"][key]
            .as_f64()
            .map(|ns| ns / 1000.0)
            .ok_or_else(|| format!("fio output has no clat_ns percentile {key}"))
    };
    Ok((iops, percentile("50.000000")?, percentile("99.000000")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_read_side_of_fio_json() {
        let json = br#"{"jobs":[{"read":{"iops":20123.5,"clat_ns":{"percentile":
            {"50.000000":34816,"99.000000":70144}}}}]}"#;
        let (iops, p50, p99) = parse(json).unwrap();
        assert_eq!(iops, 20123.5);
        assert_eq!(p50, 34.816);
        assert_eq!(p99, 70.144);
        assert!(parse(b"{}").unwrap_err().contains("iops"));
        assert!(parse(b"not json").is_err());
    }
}
