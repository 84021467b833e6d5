import Foundation

/// Writes a run folder (INTERFACE.md "Run folder") all at once: every file goes into a hidden
/// sibling folder first, which is renamed into place at the end, so a folder appears complete
/// or not at all.
///
/// A command never deletes or replaces anything it did not write itself. Every folder the toolkit
/// writes holds `OutputMarker.fileName`, a marker with a format version and the exact inventory
/// (name and size) of the files it wrote; an existing folder is replaced only when it is empty or
/// holds exactly such an inventory, unchanged. Anything else (a foreign file, a file changed since,
/// a folder without the marker) is refused, naming the entries. And then only the inventory's
/// files are removed, never a whole tree.
public enum RunFolder {
    /// Checks before a run that `path` can receive a run folder: a safe path (`checkOutputPath`)
    /// that does not exist, is empty, or holds a complete ReluFlow output of the same `kind` (`checkReplaceable`).
    /// Creates the parent folder if needed. Throws `InputError` naming `field`.
    public static func checkDestination(_ path: String, field: String = "--out", kind: String = "run") throws {
        try checkOutputPath(path, field: field)
        if let earlier = try checkReplaceable(path, field: field) {
            // An output of another kind (a compare's runs and figures, a curvature grid) is not
            // replaced by this one: a mistyped --out would take a whole experiment for one run.
            guard earlier.kind == kind else {
                throw InputError(field, "\(path) holds a ReluFlow \(earlier.kind) output; a \(kind) output does not replace it "
                                 + "(choose another folder, or remove that one first)")
            }
            // Its files could not be removed: refuse before the run rather than leave them behind.
            guard access(path, W_OK) == 0 else { throw FileError(path: path, action: "replace", reason: String(cString: strerror(errno))) }
        }
        let parent = (absolute(path) as NSString).deletingLastPathComponent
        if !exists(parent) {
            try makeDirectory(parent)
        }
        guard access(parent, W_OK) == 0 else { throw FileError(path: parent, action: "write into", reason: "Permission denied") }
    }

    /// Refuses output paths whose replacement could take a user's files: an empty path, `/`, the
    /// home folder, the current folder or any of its ancestors (symbolic links resolved), and
    /// `.`/`..` however spelled.
    public static func checkOutputPath(_ path: String, field: String = "--out") throws {
        // Blank: only White_Space scalars (CharacterSet.whitespacesAndNewlines' set: Z*, U+0009–U+000D,
        // U+0085), checked without Foundation's trimming (0.75 M instructions a run, issue 22).
        guard !path.unicodeScalars.allSatisfy(\.properties.isWhitespace) else {
            throw InputError(field, "is empty; name a new folder for the output")
        }
        var link = stat(), linked = stat()
        // Made absolute once (each is a standardizingPath: a readlink per component, issue 22).
        let full = absolute(path)
        if lstat(full, &link) == 0, (link.st_mode & S_IFMT) == S_IFLNK, stat(full, &linked) != 0 {
            throw InputError(field, "\(path) is a symbolic link to something that does not exist; name a folder")
        }
        let target = resolved(full)
        let cwd = resolved(currentDirectory())
        if target == "/" { throw InputError(field, "\(path) is the root folder; name a new folder for the output") }
        // The home folder is looked up only for a target that exists (a path that does not exist
        // holds nothing to protect): NSHomeDirectory's user-database lookup cost ~0.4 M
        // instructions of every run (issue 22).
        var existing = stat()
        if lstat(target, &existing) == 0, target == resolved((NSHomeDirectory() as NSString).standardizingPath) {
            throw InputError(field, "\(path) is the home folder; name a new folder for the output")
        }
        if target == cwd { throw InputError(field, "\(path) is the current folder; name a new folder for the output") }
        if cwd.hasPrefix(target + "/") {
            throw InputError(field, "\(path) contains the current folder; name a new folder for the output")
        }
    }

    /// The inventory of the ReluFlow output at `path` if it may be replaced; nil when there is
    /// nothing (no folder, or an empty one). Throws `InputError` naming `field` otherwise.
    @discardableResult
    public static func checkReplaceable(_ path: String, field: String = "--out") throws -> OutputMarker? {
        let (found, isDirectory) = status(path)
        guard found else { return nil }
        guard isDirectory else { throw InputError(field, "\(path) exists and is a file; refusing to replace it") }
        let entries: [String]
        do { entries = try FileManager.default.contentsOfDirectory(atPath: path) } catch {
            throw FileError(path: path, action: "read", error: error)
        }
        if entries.isEmpty { return nil }
        guard entries.contains(OutputMarker.fileName) else {
            throw InputError(field, "\(path) exists and is not a ReluFlow output folder (no \(OutputMarker.fileName)); "
                             + "refusing to replace it (it holds \(listed(entries.sorted())))")
        }
        let marker = try OutputMarker.read(folder: path, field: field)
        // A sweep folder is ReluFlow's throughout (runs/, failures/, its locks), but it is never
        // replaced by another output: it only grows (Sweep/SweepFolder.swift). Its own entries are
        // not foreign, so the refusal says what the folder is rather than listing them.
        if marker.kind == SweepFolder.kind {
            throw InputError(field, "\(path) is a ReluFlow sweep folder (its runs are in runs/); a sweep is never replaced by "
                             + "another output: choose another output folder (or continue the sweep with `reluflow sweep GRID --out \(path)`)")
        }
        let problems = marker.differences(folder: path, entries: entries)
        guard problems.isEmpty else {
            throw InputError(field, "\(path) holds what ReluFlow did not write: \(listed(problems)); refusing to replace it "
                             + "(move those away, or choose another output folder)")
        }
        return marker
    }

    static func listed(_ names: [String]) -> String {
        names.count <= 8 ? names.joined(separator: ", ") : names.prefix(8).joined(separator: ", ") + " and \(names.count - 8) more"
    }

    /// Writes `files` (name → bytes) as the folder `path`.
    public static func write(_ files: [(String, Data)], to path: String) throws {
        try writeOutput(files, to: path, kind: "run")
    }

    /// Writes `files` as the output folder `path` of `kind` (run, curvature, …): staged, marked, renamed.
    public static func writeOutput(_ files: [(String, Data)], to path: String, kind: String) throws {
        let staging = try stage(path)
        do {
            for (file, bytes) in files {
                try writeFile((staging as NSString).appendingPathComponent(file), bytes)
            }
        } catch {
            removeStaging(staging)
            throw error
        }
        try commit(staging, to: path, kind: kind)
    }

    /// Creates the hidden staging folder for the run folder `path` (a sibling of it) and returns its path.
    static func stage(_ path: String) throws -> String {
        let target = absolute(path)
        let parent = (target as NSString).deletingLastPathComponent
        let name = (target as NSString).lastPathComponent
        try makeDirectory(parent)
        removeAbandoned(name, in: parent)
        // `.NAME.partial-PID`, or `.NAME.partial-PID-K` when a folder of an earlier process of the
        // same pid (a container's pid 1 after a hard kill) holds that name: a resumable one kept by
        // `removeAbandoned` (the run resuming from it copies from it into the new folder), or one
        // killed while committing, whose sentinel was already gone and which therefore stays.
        var staging = (parent as NSString).appendingPathComponent(".\(name).partial-\(getpid())")
        var suffix = 0
        while mkdir(staging, 0o755) != 0 {
            let code = errno
            guard code == EEXIST, suffix < 100 else {
                throw FileError(path: staging, action: "create", reason: String(cString: strerror(code)))
            }
            suffix += 1
            staging = (parent as NSString).appendingPathComponent(".\(name).partial-\(getpid())-\(suffix)")
        }
        // The sentinel that makes the folder provably ours if its process dies (`removeAbandoned`),
        // with the process's start time: a pid can come back (a container's sweep is pid 1 at every
        // start), and the start time tells a new process of that pid from the one that wrote it.
        let started = ownStart.map { " \($0)" } ?? ""
        try writeFile((staging as NSString).appendingPathComponent(stagingSentinel), Data(Array("\(getpid())\(started)\n".utf8)))
        return staging
    }

    /// Removes the staging (and replaced) folders of `name` left by processes that no longer run:
    /// a run killed outright cannot remove its own. A staging folder with a resume point
    /// (`ResumePoint`) is kept unless `includingResumable` (once a run to the same path is complete,
    /// it is of no more use). Only the files ReluFlow writes are removed, then the folder if empty.
    static func removeAbandoned(_ name: String, in parent: String, includingResumable: Bool = false) {
        let candidates = [(".\(name).partial-", stagingSentinel), (".\(name).old-", OutputMarker.fileName)]
        for entry in entries(of: parent, withPrefixes: candidates.map(\.0)) {
            for (prefix, proof) in candidates where entry.hasPrefix(prefix) {
                guard let pid = stagingPid(entry.dropFirst(prefix.count)) else { continue }
                let folder = (parent as NSString).appendingPathComponent(entry)
                guard stagingOwnerGone(folder, pid: pid) else { continue }
                // Only a real folder (not a link) that proves to be ours: a staging folder has the
                // sentinel, a replaced run folder its marker.
                var info = stat()
                guard lstat(folder, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR,
                      OutputMarker.stamp((folder as NSString).appendingPathComponent(proof)) != nil else { continue }
                if !includingResumable && ResumePoint.read(folder: folder) != nil { continue }
                removeOwnFiles(of: folder)
            }
        }
    }

    /// The names in `folder` that start with one of `prefixes` (none if it cannot be read). The
    /// prefixes are compared on the raw directory entries, so a parent holding many runs (a sweep's
    /// `runs/`) costs one pass of `readdir` and no string per entry.
    static func entries(of folder: String, withPrefixes prefixes: [String]) -> [String] {
        guard let dir = opendir(folder) else { return [] }
        defer { closedir(dir) }
        let raw = prefixes.map { Array($0.utf8) }
        var found: [String] = []
        while let entry = readdir(dir) {
            let matched = withUnsafeBytes(of: &entry.pointee.d_name) { bytes -> Bool in
                raw.contains { p in
                    p.count < bytes.count && p.indices.allSatisfy { bytes[$0] == p[$0] }
                }
            }
            guard matched else { continue }
            let name = withUnsafeBytes(of: &entry.pointee.d_name) { bytes in
                String(decoding: bytes.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            found.append(name)
        }
        return found
    }

    /// Every name in `folder` but `.` and `..`, in directory order (`FileManager.contentsOfDirectory`
    /// without its path machinery); nil when it cannot be read (errno says why).
    static func entries(of folder: String) -> [String]? {
        guard let dir = opendir(folder) else { return nil }
        defer { closedir(dir) }
        var found: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: &entry.pointee.d_name) { bytes in
                String(decoding: bytes.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { found.append(name) }
        }
        return found
    }

    /// The file that marks a staging folder as ReluFlow's (removed when it is renamed into place).
    static let stagingSentinel = ".reluflow-staging"

    /// The names of the files ReluFlow writes into a run folder or its staging folder (built once:
    /// built at every call it cost ~40 000 instructions, 11 calls at every commit; issue 22).
    static let ownFileNames: Set<String> = {
        Set(RecordFiles.names + ["config.json", "summary.json", "checkpoint.json", "data.csv", OutputMarker.fileName,
                                 ResumePoint.fileName, stagingSentinel, "analysis.json", "plateaus.csv", "stationarity.json",
                                 "comparison.csv", "wall_times.csv", "plateau_exits.csv", "compare.json",
                                 // A sweep of compare runs (Plot/EscapeFigures.swift).
                                 "escape.csv", "escape_fits.csv", "escape_curvature.svg", "escape_curvature.png", "escape_curvature.pdf",
                                 "escape_depth.svg", "escape_depth.png", "escape_depth.pdf",
                                 // A sweep folder's own files (Sweep/SweepFolder.swift, SweepCollect.swift).
                                 "grid.json", SweepManifest.fileName, "sweep.csv", "groups.csv", "sweep_plateaus.csv",
                                 "sweep.sbatch", "collect.sbatch", "sweep.svg", "sweep.png", "sweep.pdf",
                                 // A curvature folder's (Curvature/CurvatureReport.swift, CurvatureGrid.swift).
                                 "curvature.json", "curvature.csv", "summary.csv", "curvature-grid.json"] + RunFigures.fileNames)
    }()

    /// A grid's spectra (`spectrum_L{depth}_n{width}.npy`, `reluflow curvature`) are ReluFlow's too.
    static func isOwnSpectrum(_ name: String) -> Bool { name.hasPrefix("spectrum_L") && name.hasSuffix(".npy") }

    /// Whether `name` is one the toolkit writes: `ownFileNames`, or a curvature grid's spectra
    /// (`spectrum_L{depth}_n{width}.npy`).
    static func isOwnFileName(_ name: String) -> Bool { ownFileNames.contains(name) || isOwnSpectrum(name) }

    /// Removes the files of `ownFileNames` (and own temporaries) from `folder`, then the folder if
    /// nothing else is left in it.
    static func removeOwnFiles(of folder: String) {
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        where isOwnFileName(entry) || OutputMarker.isOwnTemporary(entry) {
            unlink((folder as NSString).appendingPathComponent(entry))
        }
        rmdir(folder)
    }

    /// Creates `path` and the folders above it that are missing (`mkdir -p`); errors carry the
    /// system's reason.
    static func makeDirectory(_ path: String) throws {
        let (found, isDirectory) = status(path)
        if found {
            guard isDirectory else { throw FileError(path: path, action: "create", reason: "a file of that name exists") }
            return
        }
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty && parent != path { try makeDirectory(parent) }
        guard mkdir(path, 0o755) == 0 || errno == EEXIST else {
            throw FileError(path: path, action: "create", reason: String(cString: strerror(errno)))
        }
    }

    /// The absolute form of an output path (`~` expanded, standardised).
    public static func absoluteOutputPath(_ path: String) -> String { absolute(path) }

    /// Removes a part folder of a run in several parts (a `flow.segments` repetition): only the
    /// files ReluFlow writes, then the folder.
    public static func removePart(_ folder: String) { removeOwnFiles(of: folder) }

    /// The hidden staging folder of an output folder written in parts (`reluflow compare`: its
    /// runs go in as folders of their own), renamed into place by `commitFolder`.
    public static func stageFolder(_ path: String) throws -> String { try stage(path) }

    /// Removes a staging folder made by `stageFolder` (this process's own, all of it written here).
    public static func discardStaging(_ staging: String) { removeStaging(staging) }

    /// Renames a complete staging folder into place (see `commit`), with a marker of `kind`.
    public static func commitFolder(_ staging: String, to path: String, kind: String) throws {
        try commit(staging, to: path, kind: kind)
    }

    /// The bytes of the file at `path`; a file that cannot be read is a `FileError` (exit 3) with
    /// the system's reason ("No such file or directory", "Is a directory", "Permission denied").
    public static func readFile(_ path: String) throws -> Data {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileError(path: path, action: "read", reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw FileError(path: path, action: "read", reason: String(cString: strerror(errno))) }
        guard (info.st_mode & S_IFMT) != S_IFDIR else { throw FileError(path: path, action: "read", reason: String(cString: strerror(EISDIR))) }
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let got = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if got < 0 {
                if errno == EINTR { continue }
                throw FileError(path: path, action: "read", reason: String(cString: strerror(errno)))
            }
            if got == 0 { break }
            data.append(contentsOf: buffer[0..<got])
        }
        return data
    }

    /// Removes a staging folder of this process: the files ReluFlow writes, in it and in the run
    /// folders inside it (a compare), then the folders if empty. Anything else stays.
    static func removeStaging(_ staging: String) {
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: staging)) ?? [] {
            let path = (staging as NSString).appendingPathComponent(entry)
            var info = stat()
            if lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR { removeStaging(path) }
        }
        removeOwnFiles(of: staging)
    }

    /// The pid in a staging folder's name after `.NAME.partial-`: `PID`, or `PID-K` (`stage`).
    static func stagingPid(_ suffix: Substring) -> Int32? {
        let parts = suffix.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard let pid = Int32(parts[0]), pid > 0 else { return nil }
        if parts.count == 2 { guard let k = Int(parts[1]), k > 0, String(k) == parts[1] else { return nil } }
        return pid
    }

    /// Whether process `pid` exists.
    static func isRunning(_ pid: Int32) -> Bool {
        kill(pid, 0) == 0 || errno != ESRCH
    }

    /// Whether the process that wrote the staging folder `folder` (named for `pid`) is gone: `pid`
    /// runs no more, or runs a process started at another time than its sentinel records (the pid
    /// was reused, our own included). Without a sentinel's start time (older staging folders, a
    /// replaced run folder `.NAME.old-PID`, systems without /proc): gone when no other process of
    /// that pid runs.
    static func stagingOwnerGone(_ folder: String, pid: Int32) -> Bool {
        let sentinel = (folder as NSString).appendingPathComponent(stagingSentinel)
        if let text = try? String(contentsOfFile: sentinel, encoding: .utf8) {
            let fields = text.split(whereSeparator: { $0 == " " || $0 == "\n" })
            if fields.count >= 2, Int32(fields[0]) == pid, let recorded = UInt64(fields[1]) {
                return processStart(pid) != recorded
            }
        }
        return pid != getpid() && !isRunning(pid)
    }

    /// This process's start time (`processStart`), recorded in every staging sentinel it writes.
    static let ownStart = processStart(getpid())

    /// The start time of process `pid` (field 22 of /proc/PID/stat, clock ticks since boot), nil
    /// where it cannot be read (no such process, no /proc).
    static func processStart(_ pid: Int32) -> UInt64? {
        guard let text = readSmallFile("/proc/\(pid)/stat") else { return nil }
        // After the command name in parentheses: field 3 (state) onwards; the start time is field 22.
        // Read on the UTF-8 bytes (Character-wise search and split cost ~0.25 M instructions at
        // their first use in a process; issue 22); fields are separated by single spaces.
        let bytes = Array(text.utf8)
        guard let close = bytes.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        var fields: [ArraySlice<UInt8>] = []
        var start = close + 1
        for k in (close + 1)...bytes.count where k == bytes.count || bytes[k] == UInt8(ascii: " ") {
            if k > start { fields.append(bytes[start..<k]) }
            start = k + 1
        }
        guard fields.count > 19 else { return nil }
        return UInt64(String(decoding: fields[19], as: UTF8.self))
    }

    /// The text of a small file (at most 4 KB: /proc's stat lines, sentinels) read with one POSIX
    /// `read` (Foundation's `String(contentsOfFile:)` cost ~240 000 instructions at its first use;
    /// issue 22); nil when it cannot be read or is not UTF-8.
    static func readSmallFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        var got = 0
        while got < buffer.count {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + got, $0.count - got) }
            if n < 0 { if errno == EINTR { continue }; return nil }
            if n == 0 { break }
            got += n
        }
        return String(validating: buffer[..<got], as: UTF8.self)
    }

    /// Renames a complete staging folder into place as `path`, after writing its marker (the
    /// inventory of every file in it). An earlier ReluFlow output there is replaced: checked again
    /// (a user may have added files during the run), moved aside, and only its inventory's files
    /// removed. If the destination can no longer be replaced, the output is kept under a visible
    /// sibling name and the error says where. On other failures the staging folder is removed.
    /// `written`: files of the staging folder hashed as they were written (`OutputMarker.inventory`).
    static func commit(_ staging: String, to path: String, kind: String = "run",
                       written: [String: OutputMarker.Written] = [:]) throws {
        let target = absolute(path)
        let parent = (target as NSString).deletingLastPathComponent
        let name = (target as NSString).lastPathComponent
        let earlier: OutputMarker?
        do {
            unlink((staging as NSString).appendingPathComponent(stagingSentinel))
            try OutputMarker.inventory(of: staging, kind: kind, written: written).write(into: staging)
            earlier = try checkReplaceable(target)
            if let earlier, earlier.kind != kind {
                throw InputError("--out", "\(target) holds a ReluFlow \(earlier.kind) output; a \(kind) output does not replace it")
            }
        } catch let refusal as InputError {
            // The finished output is never thrown away here: under the first free visible name
            // `NAME.new-PID` (`-K` after it when taken: a pid repeats in a container or an
            // in-process sweep), else left where it is, and the error says where.
            for k in 0..<100 {
                let kept = (parent as NSString).appendingPathComponent("\(name).new-\(getpid())" + (k == 0 ? "" : "-\(k)"))
                if (try? FileManager.default.moveItem(atPath: staging, toPath: kept)) != nil {
                    throw FileError(path: target, action: "replace",
                                    reason: "\(refusal.problem); the output was written to \(kept) instead")
                }
            }
            throw FileError(path: target, action: "replace", reason: "\(refusal.problem); the output is kept in \(staging)")
        } catch {
            removeStaging(staging)
            throw error
        }
        do {
            if exists(target) {
                let old = (parent as NSString).appendingPathComponent(".\(name).old-\(getpid())")
                removeOwnFiles(of: old)
                try move(target, to: old)
                try move(staging, to: target)
                if let earlier { removeInventory(earlier, of: old) } else { rmdir(old) }
            } else {
                try move(staging, to: target)
            }
        } catch {
            removeStaging(staging)
            throw FileError(path: target, action: "write", error: error)
        }
        removeAbandoned(name, in: parent, includingResumable: true)
    }

    /// Renames `source` to `destination` in the same folder with `rename(2)`: what
    /// `FileManager.moveItem` does there (its path conversion cost ~0.36 M instructions at its first
    /// use in a process; issue 22). A destination that exists is refused, as `moveItem` refuses
    /// it, unless it is an empty folder, which `rename` replaces (an empty folder is a destination
    /// `checkDestination` accepts anyway).
    static func move(_ source: String, to destination: String) throws {
        guard rename(source, destination) == 0 else {
            throw FileError(path: destination, action: "write", reason: String(cString: strerror(errno)))
        }
    }

    /// Removes the files of `marker`'s inventory (and the marker) from `folder`, then the folder
    /// if it is empty. Anything else stays.
    static func removeInventory(_ marker: OutputMarker, of folder: String) {
        for file in marker.files.keys { unlink((folder as NSString).appendingPathComponent(file)) }
        for sub in marker.folders ?? [] {
            let path = (folder as NSString).appendingPathComponent(sub)
            if let inner = try? OutputMarker.read(folder: path, field: "--out") { removeInventory(inner, of: path) }
        }
        unlink((folder as NSString).appendingPathComponent(OutputMarker.fileName))
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] where OutputMarker.isOwnTemporary(entry) {
            unlink((folder as NSString).appendingPathComponent(entry))
        }
        rmdir(folder)
    }

    /// Adds or replaces files in an existing ReluFlow output folder, each written to a temporary
    /// name and renamed into place (a reader sees the old file or the new one, never a part), and
    /// adds them to its marker. A file of the same name that ReluFlow did not write is refused
    /// (`InputError` naming `field`). A folder of an older version (no marker) takes new files only.
    /// `elsewhere` is the way round the refusal that the command offers (collect writes into its
    /// sweep folder only and has none).
    public static func add(_ files: [(String, Data)], to folder: String, field: String = "DIR",
                           elsewhere: String = "use --out to write elsewhere") throws {
        let fm = FileManager.default
        var marker: OutputMarker? = nil
        if fm.fileExists(atPath: (folder as NSString).appendingPathComponent(OutputMarker.fileName)) {
            marker = try OutputMarker.read(folder: folder, field: field)
        }
        for (file, _) in files where fm.fileExists(atPath: (folder as NSString).appendingPathComponent(file)) {
            let ours = marker.map { $0.holdsUnchanged(file, in: folder) } ?? false
            guard ours else {
                throw InputError(field, "\((folder as NSString).appendingPathComponent(file)) was not written by ReluFlow "
                                 + "(or was changed since); refusing to replace it (\(elsewhere))")
            }
        }
        try install(files, in: folder, marker: marker)
    }

    /// Writes `files` into `folder` all or nothing: each to a temporary name first, and the marker
    /// (when the folder has one) updated with their stamps (a rename keeps size and time), then
    /// everything renamed into place. A full disk fails before anything is replaced.
    static func install(_ files: [(String, Data)], in folder: String, marker: OutputMarker?) throws {
        var temps: [(temp: String, target: String)] = []
        func discard() { for t in temps { unlink(t.temp) } }
        var marker = marker
        do {
            for (file, bytes) in files {
                let target = (folder as NSString).appendingPathComponent(file)
                let temp = temporaryName(for: target)
                temps.append((temp, target))
                try writeFile(temp, bytes)
                if marker != nil, let stamp = OutputMarker.stamp(temp) { marker!.files[file] = stamp }
            }
            if let marker {
                let target = (folder as NSString).appendingPathComponent(OutputMarker.fileName)
                let temp = temporaryName(for: target)
                temps.append((temp, target))
                try writeFile(temp, try marker.encoded())
            }
        } catch {
            discard()
            throw FileError(path: temps.last?.target ?? folder, action: "write", reason: FileError.reason(of: error))
        }
        for (k, t) in temps.enumerated() where rename(t.temp, t.target) != 0 {
            let reason = String(cString: strerror(errno))
            for rest in temps[k...] { unlink(rest.temp) }
            throw FileError(path: t.target, action: "write", reason: reason)
        }
    }

    static func temporaryName(for target: String) -> String {
        ((target as NSString).deletingLastPathComponent as NSString)
            .appendingPathComponent(".\((target as NSString).lastPathComponent).partial-\(getpid())")
    }

    /// Writes the files of `reluflow analyze/plot --out DIR` as a new output folder `folder` (or
    /// into an earlier one of the same kind: a folder holding only a ReluFlow output).
    public static func writeDerived(_ files: [(String, Data)], to folder: String, kind: String, field: String = "--out") throws {
        try checkOutputPath(folder, field: field)
        let fm = FileManager.default
        if fm.fileExists(atPath: folder), let earlier = try checkReplaceable(folder, field: field) {
            guard earlier.kind == kind else {
                throw InputError(field, "\(folder) holds a ReluFlow \(earlier.kind) output, not \(kind); choose another folder")
            }
            return try add(files, to: folder, field: field)
        }
        try makeDirectory(folder)
        try install(files, in: folder, marker: OutputMarker(kind: kind, files: [:]))
    }

    /// One file written under a temporary name and renamed over `target`.
    static func replaceFile(_ target: String, _ bytes: Data) throws {
        let temporary = temporaryName(for: target)
        do {
            try writeFile(temporary, bytes)
            guard rename(temporary, target) == 0 else { throw FileError(path: target, action: "write", reason: String(cString: strerror(errno))) }
        } catch {
            unlink(temporary)
            throw FileError(path: target, action: "write", reason: FileError.reason(of: error))
        }
    }

    /// One file with plain POSIX calls (Foundation's `Data.write` costs about 0.5 ms per file on
    /// Linux, which is most of the export time of a short run).
    public static func writeFile(_ path: String, _ bytes: Data) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw FileError(path: path, action: "write", reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        try bytes.withUnsafeBytes { try writeAll($0, to: fd, path: path) }
    }

    /// Writes all of `raw` to the open file `fd` (retrying short writes and EINTR); `path` names
    /// it in the error.
    static func writeAll(_ raw: UnsafeRawBufferPointer, to fd: Int32, path: @autoclosure () -> String) throws {
        var offset = 0
        while offset < raw.count {
            let written = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                throw FileError(path: path(), action: "write", reason: String(cString: strerror(errno)))
            }
            offset += written
        }
    }

    /// `path` made absolute (relative to the current folder), `~` expanded and standardised as
    /// Foundation's `standardizingPath` does it (`absoluteByFoundation`): `.` and `..` removed,
    /// slashes compressed, symbolic links resolved. Paths without links take `absoluteWithoutLinks`,
    /// the same result from `getcwd` and `readlink`; the rest go through Foundation.
    static func absolute(_ path: String) -> String {
        absoluteWithoutLinks(path) ?? absoluteByFoundation(path)
    }

    /// The absolute path as Foundation makes it: `expandingTildeInPath`, appended to the current
    /// folder when relative, then `standardizingPath` (the tilde expanded again, then
    /// `resolvingSymlinksInPath`: each component appended in turn and replaced by its link's
    /// destination when it is one; `..` removes the last component; then `/private` and
    /// `/var/automount` dropped from the front when what remains exists).
    static func absoluteByFoundation(_ path: String) -> String {
        let expanded = (path as NSString).expandingTildeInPath
        if expanded.hasPrefix("/") { return (expanded as NSString).standardizingPath }
        return ((FileManager.default.currentDirectoryPath as NSString).appendingPathComponent(expanded) as NSString).standardizingPath
    }

    /// `absoluteByFoundation(path)` for a path (and current folder) of ASCII characters without `~`
    /// in front, none of whose prefixes is a symbolic link, and whose result does not start with
    /// `/private` or `/var/automount`; nil for anything else (the caller takes Foundation's).
    /// Foundation's `resolvingSymlinksInPath` asks `readlink` about every component it appends and
    /// keeps the component when that fails, so where every `readlink` here fails its steps are
    /// the lexical ones below (`..` removes the last component: the path is absolute here).
    /// Foundation builds an error (a URL, its parse, a dictionary) for each `readlink` that
    /// fails, one per component of every path made absolute: with FileManager's default instance
    /// (`exists`) ~0.22 M instructions and ~40 page faults of every `simulate` (issue 22). ASCII
    /// only: Foundation splits the path into Characters, which for ASCII are its bytes.
    static func absoluteWithoutLinks(_ path: String) -> String? {
        let slash = UInt8(ascii: "/")
        var bytes = Array(path.utf8)
        guard let first = bytes.first, first != UInt8(ascii: "~"), bytes.allSatisfy({ $0 != 0 && $0 < 0x80 }) else { return nil }
        if first != slash {
            // `appendingPathComponent` on the current folder (FileManager's `getcwd`).
            guard let cwd = currentDirectoryBytes(), cwd.first == slash, cwd.allSatisfy({ $0 < 0x80 }) else { return nil }
            bytes = cwd + (cwd.last == slash ? [] : [slash]) + bytes
        }
        var resolved: [UInt8] = [slash]
        resolved.reserveCapacity(bytes.count + 1)
        var start = 0
        while start < bytes.count {
            guard bytes[start] != slash else { start += 1; continue }
            var end = start
            while end < bytes.count && bytes[end] != slash { end += 1 }
            let component = bytes[start..<end]
            start = end
            if component.elementsEqual([UInt8(ascii: ".")]) { continue }
            if component.elementsEqual([UInt8(ascii: "."), UInt8(ascii: ".")]) {
                // `deletingLastPathComponent`: "/" stays "/", "/a" becomes "/".
                let last = resolved.lastIndex(of: slash)!
                resolved.removeSubrange(max(last, 1)...)
                continue
            }
            if resolved.count > 1 { resolved.append(slash) }
            resolved.append(contentsOf: component)
            // A link (readlink succeeds): Foundation resolves it; take its whole answer.
            var target: CChar = 0
            resolved.append(0)
            let isLink = resolved.withUnsafeBytes { readlink($0.baseAddress!.assumingMemoryBound(to: CChar.self), &target, 1) >= 0 }
            resolved.removeLast()
            if isLink { return nil }
        }
        for prefix in ["/private", "/var/automount"] where resolved.starts(with: prefix.utf8) { return nil }
        return String(decoding: resolved, as: UTF8.self)
    }

    /// Whether `path` exists, links followed: FileManager's `fileExists(atPath:)`, which on Linux
    /// is this `stat` of the path's C string. Its first use made FileManager's default instance
    /// (~10 first-touched pages of every `simulate`, issue 22), which nothing else of a run needs.
    static func exists(_ path: String) -> Bool {
        // (A NUL inside cuts the C string short there, as Foundation's fileExists does: RunFolderPathTests.)
        var info = stat()
        return stat(path, &info) == 0
    }

    /// Whether `path` exists and is a folder, links followed: FileManager's
    /// `fileExists(atPath:isDirectory:)` (the same `stat`).
    static func status(_ path: String) -> (exists: Bool, isDirectory: Bool) {
        var info = stat()
        guard stat(path, &info) == 0 else { return (false, false) }
        return (true, (info.st_mode & S_IFMT) == S_IFDIR)
    }

    /// FileManager's `currentDirectoryPath` (`getcwd`), read directly when it is ASCII.
    static func currentDirectory() -> String {
        guard let cwd = currentDirectoryBytes(), cwd.allSatisfy({ $0 < 0x80 }) else { return FileManager.default.currentDirectoryPath }
        return String(decoding: cwd, as: UTF8.self)
    }

    /// The current folder's path from `getcwd` (as FileManager's `currentDirectoryPath` reads
    /// it); nil when it cannot be read.
    static func currentDirectoryBytes() -> [UInt8]? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buffer, buffer.count) != nil else { return nil }
        return buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }
    }

    /// `path` (absolute) with symbolic links resolved in its longest existing prefix.
    static func resolved(_ path: String) -> String {
        var head = path, tail: [String] = []
        while head != "/" && !exists(head) {
            tail.insert((head as NSString).lastPathComponent, at: 0)
            head = (head as NSString).deletingLastPathComponent
        }
        let real: String
        if let resolved = realpath(head, nil) {
            real = String(cString: resolved)
            free(resolved)
        } else {
            real = head
        }
        return tail.reduce(real) { ($0 as NSString).appendingPathComponent($1) }
    }
}

/// A file or folder could not be read or written: the command line's exit status 3, with the
/// path and the system's reason (INTERFACE.md).
public struct FileError: Error, CustomStringConvertible {
    public let path: String
    /// What was being done: "read", "write", "create", "replace".
    public let action: String
    public let reason: String

    public init(path: String, action: String, reason: String) {
        self.path = path
        self.action = action
        self.reason = reason
    }

    /// From a Foundation or POSIX error: the system's reason without Foundation's decoration.
    public init(path: String, action: String, error: Error) {
        self.init(path: path, action: action, reason: FileError.reason(of: error))
    }

    public var description: String { "cannot \(action) \(path): \(reason)" }

    static func reason(of error: Error) -> String {
        if let error = error as? FileError { return error.reason }
        let ns = error as NSError
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(underlying.code)))
        }
        if ns.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(ns.code))) }
        switch ns.code {
        case NSFileNoSuchFileError, NSFileReadNoSuchFileError: return "No such file or directory"
        case NSFileWriteNoPermissionError, NSFileReadNoPermissionError: return "Permission denied"
        case NSFileWriteOutOfSpaceError: return "No space left on device"
        case NSFileWriteVolumeReadOnlyError: return "Read-only file system"
        case NSFileWriteFileExistsError: return "File exists"
        default: return ns.localizedFailureReason ?? ns.localizedDescription
        }
    }
}
