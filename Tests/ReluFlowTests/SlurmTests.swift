import Foundation
import XCTest
@testable import ReluFlow

/// `reluflow sweep --slurm` on a real Slurm (issue 19 item 7): a one-node cluster on this machine
/// (`.ci/slurm-up`: munged, slurmctld, slurmd; proctrack/linuxproc, task/none). The sweep is
/// submitted as a job array with a dependent collect job; its table must equal the local
/// executor's for the same grid, every figure bitwise (wall times aside). Skipped, saying so, only
/// where Slurm is not installed (`.ci/setup` installs slurm-wlm and munge) or cannot be started
/// (not root).
final class SlurmTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Runs `command` in bash; its output through a file, not a pipe: a daemon it starts (.ci/slurm-up)
    /// may keep its stdout open for ever, and reading a pipe to its end would then never return.
    /// Started with posix_spawn and reaped with a blocking waitpid on its pid, not with Foundation's
    /// Process: twice a suite hung in `Process.waitUntilExit` with this bash already a zombie (its
    /// exit never noticed while .ci/slurm-up's daemons started).
    func shell(_ command: String) -> (status: Int32, output: String) {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("reluflow-slurm-shell-\(UUID().uuidString)")
        let fd = open(log.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return (-1, "cannot create \(log.path)") }
        defer { try? FileManager.default.removeItem(at: log) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, fd, 1)
        posix_spawn_file_actions_adddup2(&actions, fd, 2)
        let words: [String] = ["/bin/bash", "-c", command]
        let argv: [UnsafeMutablePointer<CChar>?] = words.map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, "/bin/bash", &actions, nil, argv, environ)
        close(fd)
        guard spawned == 0 else { return (-1, "posix_spawn: \(String(cString: strerror(spawned)))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        // WIFEXITED / WEXITSTATUS, spelled out (the C macros are not imported).
        let exited = status & 0x7f == 0
        return (exited ? (status >> 8) & 0xff : 128 + (status & 0x7f), text)
    }

    /// Makes sure a cluster answers; throws XCTSkip where Slurm cannot be had.
    func requireSlurm() throws {
        guard shell("command -v sbatch && command -v slurmctld && command -v slurmd && command -v munged").status == 0 else {
            throw XCTSkip("Slurm is not installed here (sbatch, slurmctld, slurmd, munged): .ci/setup installs slurm-wlm and munge from Debian")
        }
        if shell("sinfo -h -N -o '%T' | grep -Eq '^(idle|mixed|allocated|completing)'").status == 0 { return }
        guard getuid() == 0 else {
            throw XCTSkip("Slurm is installed but no cluster answers, and starting one (.ci/slurm-up) needs root")
        }
        let up = shell("bash \(Self.root.path)/.ci/slurm-up")
        XCTAssertEqual(up.status, 0, ".ci/slurm-up failed: \(up.output)")
        if up.status != 0 { throw XCTSkip("the one-node cluster did not start (failure recorded above)") }
    }

    func testSweepOnSlurmEqualsLocalSweep() throws {
        try requireSlurm()
        // Under /tmp: the cluster's daemons (root) read and write it like the test.
        let dir = URL(fileURLWithPath: "/tmp").appendingPathComponent("reluflow-slurm-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let grid = dir.appendingPathComponent("grid.json")
        try Data("""
            {"command": "train", "base": {"example": "sine", "network": {"width": 4}, "train": {"iterations": 200}},
             "axes": {"network.init.seed": [0, 1, 2], "train.method": ["gd", "adam"]}}
            """.utf8).write(to: grid)

        let submitted = try runReluflow(["sweep", grid.path, "--out", "cluster", "--slurm", "--shards", "2", "--throttle", "2",
                                         "--time", "00:10:00", "--sbatch-line", "--comment=reluflow-test"], in: dir)
        XCTAssertEqual(submitted.status, 0, submitted.stdout + submitted.stderr)
        guard let range = submitted.stdout.range(of: #"array job (\d+) \(2 tasks\), collect job (\d+)"#, options: .regularExpression) else {
            return XCTFail("no job ids in: \(submitted.stdout)")
        }
        // "array job A (2 tasks), collect job C": the first and third numbers (a job id may be 2 itself).
        let numbers = submitted.stdout[range].split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
        guard numbers.count == 3 else { return XCTFail("job ids not read from: \(submitted.stdout)") }
        let ids = [numbers[0], numbers[2]]
        let script = try String(contentsOf: dir.appendingPathComponent("cluster/sweep.sbatch"), encoding: .utf8)
        for line in ["#SBATCH --array=0-1%2", "#SBATCH --time=00:10:00", "#SBATCH --comment=reluflow-test", "/logs/%A_%a.out"] {
            XCTAssertTrue(script.contains(line), "sweep.sbatch lacks \(line):\n\(script)")
        }
        // Wait for both jobs to leave the queue (the collect job runs after the array).
        let jobs = ids.map(String.init).joined(separator: ",")
        let deadline = Date().addingTimeInterval(180)
        while Date() < deadline {
            let q = shell("squeue -h -j \(jobs) -o '%i %T'")
            if q.status == 0 && q.output.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { break }
            usleep(500_000)
        }
        let logs = try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("cluster/logs").path).sorted()
        XCTAssertEqual(logs, ["\(ids[0])_0.out", "\(ids[0])_1.out", "collect_\(ids[1]).out"])
        let task0 = (try? String(contentsOf: dir.appendingPathComponent("cluster/logs/\(ids[0])_0.out"), encoding: .utf8)) ?? ""
        XCTAssertTrue(task0.contains("(shard 0/2): 3 runs: 3 ran"), task0)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("cluster/sweep.csv").path), "the collect job wrote no table")

        let local = try runReluflow(["sweep", grid.path, "--out", "local", "--jobs", "2", "--quiet"], in: dir)
        XCTAssertEqual(local.status, 0, local.stderr)
        XCTAssertEqual(try runReluflow(["collect", "local"], in: dir).status, 0)
        assertSameSweepTable(try sweepTable(dir.appendingPathComponent("local/sweep.csv")),
                             try sweepTable(dir.appendingPathComponent("cluster/sweep.csv")))
    }
}
