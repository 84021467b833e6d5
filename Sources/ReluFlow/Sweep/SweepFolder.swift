import Foundation

/// A sweep folder (INTERFACE.md "A sweep folder"): `grid.json` (as given), `manifest.json`, the
/// marker `reluflow-output.json` of kind `sweep` (its inventory: the files above and, later, the
/// tables of `collect`), `runs/<id>/` (each a complete output folder of its own, written by its
/// worker through `RunFolder`'s staging), `failures/<id>.txt` (a failed run's exit status and
/// output), and two hidden files: `.sweep.lock` (held while the folder is set up or extended) and
/// `.runs.lock` (one byte-range lock per run, held by the worker of that run).
///
/// The folder is never replaced: a sweep continues in it (the same grid, or with `extend` a grid
/// that adds runs). An existing folder that is not a ReluFlow sweep is refused.
public struct SweepFolder: Sendable {
    public let path: String
    public let manifest: SweepManifest
    /// Files of `derivedFiles` that `prepare` removed because `extend` added runs they do not describe.
    public var removedDerived: [String] = []

    /// What `collect` and `plot` derive from the runs (Sweep/SweepCollect.swift, SweepPlot.swift):
    /// after `extend` adds runs they describe the sweep before it, so `prepare` removes them (those
    /// ReluFlow wrote and nobody changed since) rather than leave a figure or table that looks current.
    public static let derivedFiles = ["sweep.csv", "groups.csv", "sweep_plateaus.csv", "sweep.svg", "sweep.png", "sweep.pdf",
                                      // `plot --escape` (Plot/EscapeFigures.swift).
                                      "escape.csv", "escape_fits.csv", "escape_curvature.svg", "escape_curvature.png",
                                      "escape_curvature.pdf", "escape_depth.svg", "escape_depth.png", "escape_depth.pdf"]

    public var runsPath: String { (path as NSString).appendingPathComponent("runs") }
    public func runPath(_ id: String) -> String { (runsPath as NSString).appendingPathComponent(id) }
    var failuresPath: String { (path as NSString).appendingPathComponent("failures") }
    func failurePath(_ id: String) -> String { (failuresPath as NSString).appendingPathComponent("\(id).txt") }
    var workPath: String { (path as NSString).appendingPathComponent(".work") }

    public static let kind = "sweep"

    /// Creates the sweep folder `path` for `manifest` (grid.json written as `gridBytes`), or opens
    /// the sweep already there: its manifest must be the same (`extend`: or extended by the new
    /// one, which then replaces it). Concurrent calls (the tasks of a job array) are serialised by
    /// `.sweep.lock`. Throws `InputError` naming `field` for a folder that is not a sweep or a
    /// changed grid.
    public static func prepare(_ path: String, gridBytes: Data, manifest: SweepManifest, extend: Bool = false,
                               field: String = "--out") throws -> SweepFolder {
        try RunFolder.checkOutputPath(path, field: field)
        let path = RunFolder.absoluteOutputPath(path)
        let fm = FileManager.default
        var isDir: ObjCBool = false
        if fm.fileExists(atPath: path, isDirectory: &isDir) {
            guard isDir.boolValue else { throw InputError(field, "\(path) exists and is a file; name a folder for the sweep") }
            try refuseForeign(path, field: field)
        } else {
            try RunFolder.makeDirectory(path)
        }
        let lockPath = (path as NSString).appendingPathComponent(lockName)
        let fd = Glibc.open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw FileError(path: lockPath, action: "create", reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else { throw FileError(path: lockPath, action: "lock", reason: String(cString: strerror(errno))) }
        }
        let entries: [String]
        do { entries = try fm.contentsOfDirectory(atPath: path) } catch { throw FileError(path: path, action: "read", error: error) }
        let manifestPath = (path as NSString).appendingPathComponent(SweepManifest.fileName)
        if entries.contains(OutputMarker.fileName) {
            let marker = try OutputMarker.read(folder: path, field: field)
            guard marker.kind == kind else {
                throw InputError(field, "\(path) holds a ReluFlow \(marker.kind) output, not a sweep; choose another folder")
            }
            let earlier = try SweepManifest.decode(try RunFolder.readFile(manifestPath), source: manifestPath)
            switch earlier.relation(to: manifest) {
            case .same:
                return SweepFolder(path: path, manifest: earlier)
            case .extends(let added):
                guard extend else {
                    throw InputError("GRID", "adds \(added) run(s) to the sweep in \(path); give --extend to add them, or choose another --out")
                }
                try RunFolder.add([("grid.json", gridBytes), (SweepManifest.fileName, manifest.encoded())], to: path, field: field)
                var folder = SweepFolder(path: path, manifest: manifest)
                folder.removedDerived = try removeDerived(in: path, field: field)
                return folder
            case .differs(let what):
                // What changed in the grid file itself, which the sweep keeps as it was given.
                let earlierGrid = try? JSONValue.parse(try RunFolder.readFile((path as NSString).appendingPathComponent("grid.json")), source: "grid.json")
                let given = try? JSONValue.parse(gridBytes, source: "GRID")
                var changed = ""
                if let earlierGrid, let given {
                    let paths = JSONValue.differences(earlierGrid, given)
                    changed = paths.isEmpty
                        ? " (the grid file is the same as the sweep's grid.json: the resolution of its configs changed, e.g. a newer reluflow's defaults)"
                        : " (the grid differs from the sweep's grid.json at \(paths.prefix(5).joined(separator: "; "))\(paths.count > 5 ? "; …" : ""))"
                }
                throw InputError("GRID", "is not the grid of the sweep in \(path): \(what)\(changed); a sweep only grows (--extend adds runs); "
                                 + "choose another --out for a different grid")
            }
        }
        let foreign = entries.filter { $0 != lockName }
        guard foreign.isEmpty else { throw notASweep(path, holding: foreign, field: field) }
        try RunFolder.install([("grid.json", gridBytes), (SweepManifest.fileName, manifest.encoded())], in: path,
                              marker: OutputMarker(kind: kind, files: [:]))
        return SweepFolder(path: path, manifest: manifest)
    }

    static let lockName = ".sweep.lock"

    /// Refuses the existing folder `path` before anything is written into it (the lock included)
    /// when it is not a sweep: it holds entries but no `.sweep.lock` and no marker, or the marker
    /// of another kind of output. A folder with `.sweep.lock` is a sweep being set up (another
    /// task of a job array holds the lock while it writes the first files), so it is checked
    /// again under the lock; an empty folder becomes the sweep.
    static func refuseForeign(_ path: String, field: String) throws {
        let entries: [String]
        do { entries = try FileManager.default.contentsOfDirectory(atPath: path) } catch { throw FileError(path: path, action: "read", error: error) }
        guard !entries.isEmpty, !entries.contains(lockName) else { return }
        guard entries.contains(OutputMarker.fileName) else { throw notASweep(path, holding: entries, field: field) }
        let marker = try OutputMarker.read(folder: path, field: field)
        guard marker.kind == kind else {
            throw InputError(field, "\(path) holds a ReluFlow \(marker.kind) output, not a sweep; choose another folder")
        }
    }

    static func notASweep(_ path: String, holding entries: [String], field: String) -> InputError {
        InputError(field, "\(path) exists and is not a ReluFlow sweep folder (no \(OutputMarker.fileName)); "
                   + "refusing to write into it (it holds \(RunFolder.listed(entries.sorted())))")
    }

    /// Removes the `derivedFiles` that the marker of the sweep in `path` holds unchanged, and takes
    /// them out of the marker. The files go first: a crash in between leaves an inventory naming
    /// files that are gone, which is harmless (`OutputMarker.differences`), where the other order
    /// would leave files outside the inventory that a later `collect` refuses to replace.
    /// Returns the names removed.
    static func removeDerived(in path: String, field: String) throws -> [String] {
        var marker = try OutputMarker.read(folder: path, field: field)
        let stale = derivedFiles.filter { marker.holdsUnchanged($0, in: path) }
        guard !stale.isEmpty else { return [] }
        for name in stale {
            marker.files[name] = nil
            unlink((path as NSString).appendingPathComponent(name))
        }
        try RunFolder.replaceFile((path as NSString).appendingPathComponent(OutputMarker.fileName), try marker.encoded())
        return stale
    }

    /// Opens an existing sweep folder (for `collect`, `plot`).
    public static func open(_ path: String, field: String = "DIR") throws -> SweepFolder {
        let path = RunFolder.absoluteOutputPath(path)
        // A folder without a marker is bad input (exit 2), as for analyze and plot, not an unreadable file.
        guard access((path as NSString).appendingPathComponent(OutputMarker.fileName), F_OK) == 0 else {
            throw InputError(field, "\(path) is not a ReluFlow sweep folder (no \(OutputMarker.fileName))")
        }
        let marker = try OutputMarker.read(folder: path, field: field)
        guard marker.kind == kind else { throw InputError(field, "\(path) is a ReluFlow \(marker.kind) output, not a sweep folder") }
        let manifestPath = (path as NSString).appendingPathComponent(SweepManifest.fileName)
        return SweepFolder(path: path, manifest: try SweepManifest.decode(try RunFolder.readFile(manifestPath), source: manifestPath))
    }

    // MARK: Run states

    /// Where a run stands, read from its folder alone (so any number of executors, on any machine
    /// sharing the folder, agree).
    public enum RunState: String, Sendable {
        /// Not started, or killed before its first checkpoint.
        case missing
        /// A complete folder with status `completed` and the manifest's config (and its analysis when asked).
        case completed
        /// A complete folder that needs only `reluflow analyze`.
        case unanalysed
        /// Status `failed`, or a failure record (the worker refused or could not write).
        case failed
        /// Status `interrupted`, or a staging folder a killed run left with a resume point.
        case interrupted
        /// A folder whose config is not the manifest's (the folder is replaced by the run).
        case stale
        /// Its lock is held by a worker.
        case running
    }

    /// The ids of the runs with a hidden staging folder (`.ID.partial-PID`) in `runs/`: one listing
    /// of the folder, so that the states of N runs cost O(N), not O(N²) (`state(of:staged:)`).
    public func stagedRuns() -> Set<String> {
        var ids = Set<String>()
        for entry in RunFolder.entries(of: runsPath, withPrefixes: ["."]) {
            if let range = entry.range(of: ".partial-", options: .backwards) {
                ids.insert(String(entry[entry.index(after: entry.startIndex)..<range.lowerBound]))
            }
        }
        return ids
    }

    /// `staged`: the runs with a staging folder (`stagedRuns()`), or nil to look in `runs/` for this run.
    public func state(of run: SweepManifest.Run, command: any SweepCommand, analyze: Bool = false, checkLock: Bool = true,
                      staged: Set<String>? = nil) -> RunState {
        if checkLock, RunLock.isHeld(sweep: path, id: run.id) { return .running }
        let folder = runPath(run.id)
        func file(_ name: String) -> String { (folder as NSString).appendingPathComponent(name) }
        if let summary = try? JSONValue.parse(try RunFolder.readFile(file(command.summaryFile)), source: command.summaryFile),
           FileManager.default.fileExists(atPath: file(OutputMarker.fileName)) {
            // A file without a status (curvature.json) is written only by a completed run.
            let status: JSONValue? = summary["status"] ?? (command.summaryFile == "summary.json" ? nil : .string("completed"))
            switch status {
            // A flow stopped by its work budget (`flow.maxRhsEvaluations`) is the run its config
            // asks for: a rerun stops at the same place.
            case .string("completed")?, .string("stopped")?:
                if let config = try? JSONValue.parse(try RunFolder.readFile(file("config.json")), source: "config.json"),
                   let text = command.recordedText(config), stableHash(text) != run.hash {
                    return .stale
                }
                if analyze, !FileManager.default.fileExists(atPath: file("analysis.json")) { return .unanalysed }
                return .completed
            case .string("failed")?: return .failed
            case .string("interrupted")?: return .interrupted
            default: return .stale
            }
        }
        if command.resumable, staged?.contains(run.id) ?? true, !ResumePoint.abandoned(for: folder).isEmpty { return .interrupted }
        if FileManager.default.fileExists(atPath: failurePath(run.id)) { return .failed }
        return .missing
    }
}

/// One lock per run, so that no two workers ever write the same run folder, whichever executor or
/// machine started them: an open-file-description lock (Linux `F_OFD_SETLK`) on one byte of the
/// sweep's `.runs.lock`, at an offset given by the run's id. The executor passes the lock's file
/// descriptor on to its worker, so the lock is held exactly while either of them lives (a
/// SIGKILLed executor's worker keeps it until it ends; a dead worker's lock is released by the kernel).
public enum RunLock {
    static let F_OFD_GETLK: Int32 = 36
    static let F_OFD_SETLK: Int32 = 37

    static func lockFile(_ sweep: String) -> String { (sweep as NSString).appendingPathComponent(".runs.lock") }

    static func offset(_ id: String) -> off_t { off_t((UInt64(id, radix: 16) ?? UInt64(truncatingIfNeeded: id.hashValue)) % (1 << 40)) }

    static func request(_ type: Int32, id: String) -> flock {
        var request = flock()
        request.l_type = Int16(type)
        request.l_whence = Int16(SEEK_SET)
        request.l_start = offset(id)
        request.l_len = 1
        return request
    }

    /// A new file descriptor holding the lock of run `id` (close-on-exec), or nil when another
    /// process holds it.
    public static func acquire(sweep: String, id: String) throws -> Int32? {
        let path = lockFile(sweep)
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw FileError(path: path, action: "open", reason: String(cString: strerror(errno))) }
        var r = request(F_WRLCK, id: id)
        if fcntl(fd, F_OFD_SETLK, &r) == 0 { return fd }
        let error = errno
        close(fd)
        if error == EAGAIN || error == EACCES { return nil }
        throw FileError(path: path, action: "lock", reason: String(cString: strerror(error)))
    }

    /// Whether some process holds the lock of run `id`.
    public static func isHeld(sweep: String, id: String) -> Bool {
        let fd = open(lockFile(sweep), O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var r = request(F_WRLCK, id: id)
        guard fcntl(fd, F_OFD_GETLK, &r) == 0 else { return false }
        return r.l_type != Int16(F_UNLCK)
    }
}
