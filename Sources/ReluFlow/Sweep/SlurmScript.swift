import Foundation

/// The batch scripts of `reluflow sweep --slurm`: `sweep.sbatch`, a job array whose task `i` runs
/// shard i/N of the sweep with the local executor on its allocated cores (the shard from
/// `SLURM_ARRAY_TASK_ID`/`SLURM_ARRAY_TASK_COUNT`), and `collect.sbatch`, submitted to run after it.
/// A task stopped by its time limit or by preemption receives SIGTERM like a local sweep: its
/// workers write their runs as interrupted, and the next submission of the same sweep resumes them.
public struct SlurmScript: Sendable {
    /// The `reluflow` executable (absolute).
    public var executable: String
    /// GRID.json and the sweep folder (absolute).
    public var grid: String
    public var folder: String
    /// Number of array tasks (shards) and how many may run at once (`%K`).
    public var tasks: Int
    public var throttle: Int?
    public var partition: String?
    public var time: String?
    public var mem: String?
    public var cpusPerTask: Int?
    /// Further `#SBATCH` lines, as given (with or without the `#SBATCH ` prefix).
    public var extraLines: [String] = []
    /// Options of `reluflow sweep` every task passes on (`--analyze`, `--retry-failed`).
    public var sweepOptions: [String] = []
    /// `--by` of the collect job.
    public var collectOptions: [String] = []
    public var jobName = "reluflow-sweep"

    public init(executable: String, grid: String, folder: String, tasks: Int) {
        self.executable = executable
        self.grid = grid
        self.folder = folder
        self.tasks = tasks
    }

    static func quoted(_ s: String) -> String {
        guard s.contains(where: { !($0.isLetter || $0.isNumber || "/._-=:,+@%".contains($0)) }) else { return s }
        return "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    var logs: String { (folder as NSString).appendingPathComponent("logs") }

    private func resourceLines() -> [String] {
        var lines: [String] = []
        if let partition { lines.append("#SBATCH --partition=\(partition)") }
        if let time { lines.append("#SBATCH --time=\(time)") }
        if let mem { lines.append("#SBATCH --mem=\(mem)") }
        lines += extraLines.map { $0.hasPrefix("#SBATCH") ? $0 : "#SBATCH \($0)" }
        return lines
    }

    /// `sweep.sbatch`.
    public var sweepScript: String {
        var lines = ["#!/bin/bash",
                     "# Written by reluflow sweep --slurm: a job array over the \(tasks) shards of the sweep in",
                     "# \(folder); each task runs its shard (SLURM_ARRAY_TASK_ID of SLURM_ARRAY_TASK_COUNT) with",
                     "# the local executor on its cores. Submit again to resume what a time limit or preemption stopped.",
                     "#SBATCH --job-name=\(jobName)",
                     "#SBATCH --array=0-\(tasks - 1)" + (throttle.map { "%\($0)" } ?? ""),
                     "#SBATCH --output=\(logs)/%A_%a.out",
                     "#SBATCH --ntasks=1",
                     "#SBATCH --cpus-per-task=\(cpusPerTask ?? 1)"]
        lines += resourceLines()
        let command = [executable, "sweep", grid, "--out", folder, "--jobs", "${SLURM_CPUS_PER_TASK:-1}"] + sweepOptions
        lines.append("exec " + command.map { $0.hasPrefix("${") ? "\"\($0)\"" : Self.quoted($0) }.joined(separator: " "))
        return lines.joined(separator: "\n") + "\n"
    }

    /// `collect.sbatch`.
    public var collectScript: String {
        var lines = ["#!/bin/bash",
                     "# Written by reluflow sweep --slurm: collects the sweep once its array has ended (afterany).",
                     "#SBATCH --job-name=\(jobName)-collect",
                     "#SBATCH --output=\(logs)/collect_%j.out",
                     "#SBATCH --ntasks=1",
                     "#SBATCH --cpus-per-task=1"]
        lines += resourceLines()
        lines.append("exec " + ([executable, "collect", folder] + collectOptions).map(Self.quoted).joined(separator: " "))
        return lines.joined(separator: "\n") + "\n"
    }
}
